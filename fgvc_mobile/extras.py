"""Optional dependencies: which ``pip install`` brings back a module a command could not import.

The core install (``pip install fgvc-mobile``) trains and evaluates; exporting, running
artifacts and benchmarking them need the ``[export]`` extra; checking artifacts with MediaPipe
Tasks needs ``[mediapipe]``. A command that hits a missing optional module ends in one line
naming the module and the install that fixes it (exit code 2), not a traceback.
"""

from __future__ import annotations

#: top-level module -> the extra that installs it
EXTRA_OF_MODULE = {
    "flatbuffers": "export",
    "onnx": "export",
    "onnxruntime": "export",
    "onnxscript": "export",
    "litert_torch": "export",
    "ai_edge_litert": "export",
    "ai_edge_quantizer": "export",
    "coremltools": "export",
    "jsonschema": "export",
    "mediapipe": "mediapipe",
}


def missing_extra(e: BaseException) -> str | None:
    """The extra that provides the module ``e`` (an ImportError) failed on; None if not an optional one."""
    if not isinstance(e, ImportError):
        return None
    name = (getattr(e, "name", None) or "").split(".")[0]
    return EXTRA_OF_MODULE.get(name)


def install_hint(extra: str) -> str:
    return f"pip install 'fgvc-mobile[{extra}]'"


def missing_message(command: str, e: ImportError) -> str | None:
    """``fgvc-mobile export: needs the optional module 'flatbuffers' (pip install 'fgvc-mobile[export]')``."""
    extra = missing_extra(e)
    if extra is None:
        return None
    top = e.name.split(".")[0]
    return f"fgvc-mobile {command}: needs the optional module {top!r}, not installed ({install_hint(extra)})"
