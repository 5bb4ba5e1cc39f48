"""Runtime adapters and which of them run a format on a target.

``host`` runs every CPU runtime plus the CUDA ones when a GPU is present; ``cpu`` and
``cuda`` restrict to one side.
"""

from __future__ import annotations

from fgvc_mobile.benchmarks.runners.base import Runner, Session
from fgvc_mobile.benchmarks.runners.coreml import CoreMLRunner
from fgvc_mobile.benchmarks.runners.litert import LiteRTRunner
from fgvc_mobile.benchmarks.runners.onnxrt import OnnxRuntimeRunner
from fgvc_mobile.benchmarks.runners.torch_eager import TorchEagerRunner
from fgvc_mobile.benchmarks.runners.torchscript import TorchScriptRunner

HOST_TARGETS = ("host", "cpu", "cuda")


def runners_for(fmt: str, target: str, rule: str | None = None) -> list[Runner]:
    """The runners that measure format ``fmt`` for ``target``; CUDA ones only if usable here."""
    cpu: dict[str, list[Runner]] = {
        "onnx": [OnnxRuntimeRunner("CPUExecutionProvider")],
        "tflite": [LiteRTRunner("xnnpack")],
        "coreml": [CoreMLRunner()],
        "torchscript": [TorchScriptRunner("cpu")],
        "pytorch": [TorchEagerRunner("cpu", rule)],
    }
    gpu: dict[str, list[Runner]] = {
        "onnx": [OnnxRuntimeRunner("CUDAExecutionProvider")],
        "torchscript": [TorchScriptRunner("cuda")],
        "pytorch": [TorchEagerRunner("cuda", rule)],
    }
    out = list(cpu.get(fmt, [])) if target in ("host", "cpu") else []
    if target in ("host", "cuda"):
        out += [r for r in gpu.get(fmt, []) if target == "cuda" or r.unavailable_reason() is None]
    return out


__all__ = ["Runner", "Session", "runners_for", "HOST_TARGETS", "OnnxRuntimeRunner", "LiteRTRunner",
           "CoreMLRunner", "TorchEagerRunner", "TorchScriptRunner"]
