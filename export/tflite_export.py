"""TFLite: fp32 with ``litert_torch.convert`` and full int8 with ``ai_edge_quantizer``.

* NHWC input comes from ``litert_torch.to_channel_last_io`` around the NCHW deploy graph.
* int8 is ai_edge_quantizer's static recipe (int8 weights per channel, int8 activations)
  calibrated on real images. Its default calibration keeps a moving average of each tensor's
  min/max across samples (weight 0.95 on the past), which lets the first images dominate and
  clips the logit range; by default we calibrate with the running min/max over all samples
  (``qsv_utils.min_max_update``) so the ranges cover every calibration image. The option
  ``tflite.calibration=moving-average`` restores the library default for comparison.
* The graph ends in a softmax: the output is class probabilities, the scores MediaPipe Tasks and
  the LiteRT Support Library show (with the standard metadata, :mod:`tflite_metadata`).
* int8 I/O (``tflite.io``): ``float`` (default) keeps the model's input and output types as in
  the fp32 model (uint8 camera bytes or float32 in, float32 probabilities out) with int8 inside,
  and the final softmax in float (no 1/256 steps in the scores) -- the types MediaPipe and the
  Support Library accept. ``int8`` quantizes everything including the softmax: int8 output
  (scale 1/256, zero point -128), and an int8 input where the fp32 model takes float.
* DIV stays float (dequantize -> DIV -> quantize): the attention boxes of CMAL-Net and ELoPE
  min-max normalise heat maps, and an int8 divisor whose range reaches 0 aborts the LiteRT
  kernel ("data[i] != zero_point"). The divisions act on a few small maps, not on conv features.
* litert-torch's own PT2E int8 route is not used: in 0.10 it produced wrong logits on
  MobileNetV2 (bias scale mismatch at the final FULLY_CONNECTED). Re-checked with
  ``python -m fgvc_mobile.benchmarks.tflite_pt2e_check`` on the cub100 baseline (128 px, 200 test
  images): fp32 81.5 %, PT2E fake-quant PyTorch 81.5 %, PT2E .tflite 78.0 % (88.5 % top-1
  agreement with fp32) -- still broken; this module's route gave 82.2 % on 500 test images.

Artifacts run with ``ai_edge_litert.interpreter.Interpreter``; a quantized output is
dequantized with its scale and zero point before comparison.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.quiet import quiet

log = logging.getLogger(__name__)

CALIBRATIONS = ("minmax", "moving-average")
IO_TYPES = ("float", "int8")


class Probabilities(torch.nn.Module):
    """``net``'s logits -> softmax probabilities (the TFLite artifacts' output)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def channel_last_io(module: torch.nn.Module) -> torch.nn.Module:
    """NHWC input for an NCHW-input module, the litert-torch way (transposes folded by the converter)."""
    with quiet():
        import litert_torch

    return litert_torch.to_channel_last_io(module, args=[0])


def export_fp32(graph: torch.nn.Module, example: torch.Tensor) -> tuple[bytes, float]:
    """Convert ``graph`` (built with :func:`channel_last_io` for NHWC input); returns (flatbuffer, seconds)."""
    t0 = time.perf_counter()
    with quiet():
        import litert_torch

        litert_torch.config.show_progress = False
        edge = litert_torch.convert(graph.eval(), (example,))
        model = bytes(edge.model_content())  # serialisation logs from C++: keep it inside quiet()
    return model, time.perf_counter() - t0


def quantize_int8(fp32: bytes, calib_inputs: np.ndarray, calibration: str = "minmax",
                  io: str = "float") -> tuple[bytes, float]:
    """Static int8 weights + activations; ``calib_inputs`` as the fp32 model takes them (batch 1 each)."""
    from ai_edge_quantizer import calibrator, quantizer
    from ai_edge_quantizer.utils import qsv_utils

    if calibration not in CALIBRATIONS:
        raise FGVCError(f"tflite.calibration {calibration!r}: choose one of {', '.join(CALIBRATIONS)}")
    if io not in IO_TYPES:
        raise FGVCError(f"tflite.io {io!r}: choose one of {', '.join(IO_TYPES)}")
    t0 = time.perf_counter()
    name = _signature_input(fp32)
    data = {"serving_default": [{name: x[None]} for x in calib_inputs]}
    with quiet():
        qt = quantizer.Quantizer(bytearray(fp32))
        qt.load_quantization_recipe(int8_recipe(float_io=io == "float"))
        if calibration == "minmax":
            update = qsv_utils.min_max_update
        else:
            update = qsv_utils.moving_average_update
        cal = calibrator.Calibrator(bytes(fp32), num_threads=1, qsv_update_func=update)
        cal.calibrate(data, qt._recipe_manager)  # the recipe decides which tensors get ranges
        result = qt.quantize(cal.get_model_qsvs(), enable_progress_report=False)
    return bytes(result.quantized_model), time.perf_counter() - t0


def int8_recipe(float_io: bool = True):
    """ai_edge_quantizer's static int8 recipe (weights per channel, activations) with DIV kept float;
    ``float_io``: the graph's input and output (and the final softmax) stay unquantized too."""
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    rp = recipe_manager.RecipeManager()
    rp.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                         activation_num_bits=8, weight_num_bits=8)
    name = qtyping.TFLOperationName
    for op in [name.DIV] + ([name.SOFTMAX, name.INPUT, name.OUTPUT] if float_io else []):
        rp.add_quantization_config(regex=".*", operation_name=op,
                                   algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    return rp.get_quantization_recipe()


def _signature_input(model: bytes) -> str:
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        sig = Interpreter(model_content=model).get_signature_list()
    if "serving_default" not in sig or len(sig["serving_default"]["inputs"]) != 1:
        raise FGVCError(f"converted TFLite model has unexpected signatures {sig}")
    return sig["serving_default"]["inputs"][0]


def _quant(detail: dict) -> dict | None:
    scale, zp = detail["quantization"]
    return None if scale == 0.0 else {"scale": float(scale), "zero_point": int(zp)}


def io_info(model: bytes) -> tuple[dict, dict]:
    """(input, output) manifest fields read from the interpreter, quantization included."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        it = Interpreter(model_content=model)
    (inp,), (out,) = it.get_input_details(), it.get_output_details()

    def desc(d):
        return {"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]],
                "quantization": _quant(d)}

    return desc(inp), desc(out)


def runner(model: bytes, threads: int = 1):
    """fn(batch of inputs) -> float32 logits [N, C] (quantized inputs/outputs converted)."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        it = Interpreter(model_content=model, num_threads=threads)
        it.allocate_tensors()
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    qin, qout = _quant(inp), _quant(out)

    def run(batch: np.ndarray) -> np.ndarray:
        res = []
        for x in batch:
            x = x[None]
            if qin is not None and np.dtype(inp["dtype"]).kind in "iu" and x.dtype.kind == "f":
                info = np.iinfo(inp["dtype"])
                x = np.clip(np.round(x / qin["scale"]) + qin["zero_point"], info.min, info.max)
            it.set_tensor(inp["index"], x.astype(inp["dtype"]))
            it.invoke()
            y = it.get_tensor(out["index"])
            if qout is not None:
                y = (y.astype(np.float32) - qout["zero_point"]) * qout["scale"]
            res.append(y.astype(np.float32))
        return np.concatenate(res)

    return run


def op_counts(model: bytes) -> dict[str, int]:
    from ai_edge_litert.interpreter import Interpreter

    counts: dict[str, int] = {}
    with quiet():
        it = Interpreter(model_content=model)
    for op in it._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts
