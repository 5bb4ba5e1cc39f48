"""ONNX Runtime adapter: CPU execution provider, and the CUDA one where installed."""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.inputs import dequantize
from fgvc_mobile.benchmarks.runners.base import Runner, Session, as_logits, output_quant

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


class OrtSession(Session):
    def __init__(self, sess, manifest: dict | None):
        self.sess = sess
        m = manifest or {}
        inputs = {i.name: i for i in sess.get_inputs()}
        want = (m.get("input") or {}).get("name")
        inp = inputs.get(want) or sess.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = _ORT_TYPES.get(inp.type)
        batch_dim = inp.shape[0] if inp.shape else None
        self.static_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None
        outputs = [o.name for o in sess.get_outputs()]
        want_out = (m.get("output") or {}).get("name")
        self.output_name = want_out if want_out in outputs else outputs[0]
        self.out_quant = output_quant(m)

    def set_batch(self, n: int) -> int:
        return self.static_batch or n

    def run(self, x: np.ndarray) -> np.ndarray:
        (out,) = self.sess.run([self.output_name], {self.input_name: x})
        return dequantize(as_logits(out, x.shape[0]), self.out_quant)


class OnnxRuntimeRunner(Runner):
    runtime = "onnxruntime"
    formats = ("onnx",)

    def __init__(self, provider: str = "CPUExecutionProvider"):
        self.provider = provider
        self.target = "cuda" if provider.startswith("CUDA") else "host"
        self.delegate = provider.replace("ExecutionProvider", "").lower()

    def unavailable_reason(self) -> str | None:
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed (pip install 'fgvc-mobile[export]')"
        if self.provider not in ort.get_available_providers():
            return f"onnxruntime here has no {self.provider}"
        return None

    def load(self, path, threads: int, manifest: dict | None) -> OrtSession:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        sess = ort.InferenceSession(str(path), sess_options=so, providers=[self.provider])
        return OrtSession(sess, manifest)
