"""Core ML adapter (``coremltools``); prediction needs macOS, elsewhere the row is skipped."""

from __future__ import annotations

import sys

import numpy as np

from fgvc_mobile.benchmarks.inputs import dequantize
from fgvc_mobile.benchmarks.runners.base import Runner, Session, as_logits, output_quant

NOT_MACOS = "CoreML runs only on macOS"


class CoreMLSession(Session):
    def __init__(self, model, manifest: dict | None):
        self.model = model
        m = manifest or {}
        desc = model.get_spec().description
        first = desc.input[0]
        self.input_name = first.name
        self.image_input = first.type.WhichOneof("Type") == "imageType"
        outs = [o.name for o in desc.output]
        want = (m.get("output") or {}).get("name")
        self.output_name = want if want in outs else outs[0]
        self.out_quant = output_quant(m)

    def set_batch(self, n: int) -> int:
        return 1

    def run(self, x: np.ndarray) -> np.ndarray:
        from PIL import Image

        rows = []
        for i in range(x.shape[0]):
            # image inputs take a PIL RGB image (the NHWC uint8 crop); tensors take the array
            feed = Image.fromarray(x[i]) if self.image_input else x[i : i + 1]
            rows.append(np.asarray(self.model.predict({self.input_name: feed})[self.output_name]).reshape(1, -1))
        return dequantize(as_logits(np.concatenate(rows), x.shape[0]), self.out_quant)


class CoreMLRunner(Runner):
    runtime = "coreml"
    formats = ("coreml",)

    def __init__(self, compute_units: str = "ALL"):
        self.compute_units = compute_units
        self.delegate = compute_units.lower()

    def unavailable_reason(self) -> str | None:
        if sys.platform != "darwin":
            return NOT_MACOS
        try:
            import coremltools  # noqa: F401
        except ImportError:
            return "coremltools is not installed (pip install 'fgvc-mobile[export]')"
        return None

    def load(self, path, threads: int, manifest: dict | None) -> CoreMLSession:
        import coremltools as ct

        model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, self.compute_units))
        return CoreMLSession(model, manifest)
