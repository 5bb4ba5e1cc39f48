"""LiteRT interpreter adapter (``ai_edge_litert``); XNNPACK is its default CPU delegate."""

from __future__ import annotations

import numpy as np

from fgvc_mobile.benchmarks.inputs import QuantParams, dequantize
from fgvc_mobile.benchmarks.runners.base import Runner, Session, as_logits, output_quant


class LiteRTSession(Session):
    def __init__(self, interp, manifest: dict | None):
        self.interp = interp
        inp = interp.get_input_details()[0]
        out = interp.get_output_details()[0]
        self.in_index, self.out_index = inp["index"], out["index"]
        self.shape = tuple(int(v) for v in inp["shape"])
        self.input_dtype = np.dtype(inp["dtype"]).name
        self.input_quant = QuantParams.parse(inp.get("quantization"))
        # the model's own output params are what it applies; the manifest's are the fallback
        self.out_quant = QuantParams.parse(out.get("quantization")) or output_quant(manifest)

    def _resize(self, n: int, force: bool = False) -> None:
        if force or self.shape[0] != n:
            self.shape = (n, *self.shape[1:])
            self.interp.resize_tensor_input(self.in_index, list(self.shape), strict=False)
            self.interp.allocate_tensors()

    def set_batch(self, n: int) -> int:
        try:
            self._resize(n)
            return n
        except (RuntimeError, ValueError):  # e.g. a reshape to a fixed batch inside the graph
            self._resize(1, force=True)
            return 1

    def run(self, x: np.ndarray) -> np.ndarray:
        self._resize(x.shape[0])
        self.interp.set_tensor(self.in_index, x)
        self.interp.invoke()
        out = np.array(self.interp.get_tensor(self.out_index))  # copy: the buffer is reused
        return dequantize(as_logits(out, x.shape[0]), self.out_quant)


class LiteRTRunner(Runner):
    runtime = "litert"
    formats = ("tflite",)

    def __init__(self, delegate: str = "xnnpack"):
        if delegate not in ("xnnpack", "none"):
            raise ValueError(f"LiteRT host delegate must be 'xnnpack' or 'none', got {delegate!r}")
        self.delegate = delegate

    def unavailable_reason(self) -> str | None:
        try:
            import ai_edge_litert.interpreter  # noqa: F401
        except ImportError:
            return "ai-edge-litert is not installed (pip install 'fgvc-mobile[export]')"
        return None

    def load(self, path, threads: int, manifest: dict | None) -> LiteRTSession:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if self.delegate == "xnnpack" else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        interp = Interpreter(model_path=str(path), num_threads=int(threads), experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
        return LiteRTSession(interp, manifest)
