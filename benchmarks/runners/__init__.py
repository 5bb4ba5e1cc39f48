"""Runtime adapters and which of them run a format on a target.

Exported formats run through their format module's ``open`` (one session implementation per
format, shared with the exporter's validator and ``predict``); ``pytorch`` checkpoints and
``torchscript`` files have adapters here. ``host`` runs every CPU runtime plus the CUDA ones when
a GPU is present; ``cpu`` and ``cuda`` restrict to one side.
"""

from __future__ import annotations

from fgvc_mobile.benchmarks.runners.base import Runner, Session
from fgvc_mobile.benchmarks.runners.torch_eager import TorchEagerRunner
from fgvc_mobile.benchmarks.runners.torchscript import TorchScriptRunner
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.export.formats import FORMATS

HOST_TARGETS = ("host", "cpu", "cuda")


class FormatRunner(Runner):
    """An exported format on one runtime setting (ORT provider, LiteRT delegate, CoreML compute units)."""

    def __init__(self, fmt: str, runtime: str, shown: str, target: str = "host", **open_kw):
        """``shown``: the report's ``delegate`` column; ``open_kw``: the format's runtime settings."""
        self.format, self.runtime, self.delegate, self.target, self.open_kw = fmt, runtime, shown, target, open_kw
        self.formats = (fmt,)

    def unavailable_reason(self) -> str | None:
        return FORMATS[self.format].unavailable_reason(**self.open_kw)

    def load(self, path, threads: int, manifest: dict | None) -> Session:
        return FORMATS[self.format].open(path, Contract.from_manifest(manifest), threads=threads, **self.open_kw)


def runners_for(fmt: str, target: str, rule: str | None = None) -> list[Runner]:
    """The runners that measure format ``fmt`` for ``target``; CUDA ones only if usable here."""
    cpu: dict[str, list[Runner]] = {
        "onnx": [FormatRunner("onnx", "onnxruntime", "cpu", provider="CPUExecutionProvider")],
        "tflite": [FormatRunner("tflite", "litert", "xnnpack", delegate="xnnpack")],
        "coreml": [FormatRunner("coreml", "coreml", "all", compute_units="ALL")],
        "torchscript": [TorchScriptRunner("cpu")],
        "pytorch": [TorchEagerRunner("cpu", rule)],
    }
    gpu: dict[str, list[Runner]] = {
        "onnx": [FormatRunner("onnx", "onnxruntime", "cuda", "cuda", provider="CUDAExecutionProvider")],
        "torchscript": [TorchScriptRunner("cuda")],
        "pytorch": [TorchEagerRunner("cuda", rule)],
    }
    out = list(cpu.get(fmt, [])) if target in ("host", "cpu") else []
    if target in ("host", "cuda"):
        out += [r for r in gpu.get(fmt, []) if target == "cuda" or r.unavailable_reason() is None]
    return out


__all__ = ["Runner", "Session", "FormatRunner", "runners_for", "HOST_TARGETS", "TorchEagerRunner", "TorchScriptRunner"]
