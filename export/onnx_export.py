"""ONNX: fp32 with ``torch.onnx.export`` (one file, no external data) and int8 QDQ with
``onnxruntime.quantization.quantize_static`` (per-channel weights, calibrated on real images).

Two int8 accuracies are measured because they differ on CPUs without VNNI: ORT's fused int8
kernels (the default session) and the QDQ graph evaluated op by op in float (graph optimisations
off: every QuantizeLinear/DequantizeLinear runs, convolutions run in fp32). The second is the
accuracy the quantized model itself has; the first is what this host's ORT kernels deliver.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.quiet import quiet

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
QUANT_TYPES = {"S8S8": ("QInt8", "QInt8"), "U8S8": ("QUInt8", "QInt8"), "U8U8": ("QUInt8", "QUInt8")}
CALIBRATE_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 10: "float16"}


def export_fp32(graph: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 18,
                exporter: str = "dynamo") -> float:
    """Write a single-file fp32 ONNX model (static batch 1); returns the seconds taken."""
    t0 = time.perf_counter()
    names = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset)
    with quiet():
        if exporter == "dynamo":
            prog = torch.onnx.export(graph, (example,), dynamo=True, external_data=False, verbose=False,
                                     optimize=True, **names)
            prog.save(str(path), external_data=False)
        elif exporter == "torchscript":
            torch.onnx.export(graph, (example,), str(path), dynamo=False, do_constant_folding=True, **names)
        else:
            raise FGVCError(f"onnx.exporter {exporter!r}: use dynamo or torchscript")
    data_files = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".data")]
    if data_files:
        raise FGVCError(f"{path.name}: the exporter wrote external data ({data_files[0].name}); expected one file")
    import onnx

    onnx.checker.check_model(str(path))
    return time.perf_counter() - t0


class _Reader:
    """onnxruntime CalibrationDataReader over pre-built input arrays (one image per call)."""

    def __init__(self, inputs: np.ndarray):
        self._it = iter(inputs)

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {INPUT_NAME: x[None]}

    def rewind(self):  # older ORT versions ask for it
        pass


def quantize_int8(fp32_path: Path, int8_path: Path, calib_inputs: np.ndarray, quant_types: str = "S8S8",
                  calibrate: str = "minmax", reduce_range: bool = False) -> float:
    """Static QDQ int8 with per-channel weights; ``calib_inputs`` as the fp32 model takes them."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if quant_types not in QUANT_TYPES:
        raise FGVCError(f"onnx.quant_types {quant_types!r}: choose one of {sorted(QUANT_TYPES)}")
    if calibrate not in CALIBRATE_METHODS:
        raise FGVCError(f"onnx.calibrate {calibrate!r}: choose one of {sorted(CALIBRATE_METHODS)}")
    act, wt = (getattr(QuantType, n) for n in QUANT_TYPES[quant_types])
    t0 = time.perf_counter()
    pre_path = int8_path.with_name(int8_path.stem + ".pre.onnx")
    reader = type("Reader", (_Reader, CalibrationDataReader), {})(calib_inputs)
    try:
        with quiet():
            quant_pre_process(str(fp32_path), str(pre_path), skip_symbolic_shape=True)
            quantize_static(
                str(pre_path), str(int8_path), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                reduce_range=reduce_range, activation_type=act, weight_type=wt,
                calibrate_method=getattr(CalibrationMethod, CALIBRATE_METHODS[calibrate]),
                extra_options={"CalibMovingAverage": False},
            )
    finally:
        with contextlib.suppress(OSError):
            os.unlink(pre_path)
        for p in int8_path.parent.glob("*augmented_model*.onnx"):
            with contextlib.suppress(OSError):
                os.unlink(p)
    return time.perf_counter() - t0


def session(path: Path | str, optimized: bool = True, model_bytes: bytes | None = None):
    """An ORT CPU session; ``optimized=False`` disables graph optimisations (QDQ evaluated in float)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    if not optimized:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model_bytes if model_bytes is not None else str(path), so,
                                providers=["CPUExecutionProvider"])


def runner(path: Path | str, optimized: bool = True):
    """fn(batch of inputs) -> float32 logits [N, C], one image per run (the model has batch 1)."""
    sess = session(path, optimized)
    name = sess.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([sess.run(None, {name: x[None]})[0] for x in batch]).astype(np.float32)

    return run


def io_info(path: Path | str) -> tuple[dict, dict]:
    """(input, output) manifest fields read from the model file itself."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    (inp,), (out,) = m.graph.input, m.graph.output

    def desc(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": _ONNX_DTYPES.get(t.elem_type, str(t.elem_type)),
                "shape": [d.dim_value for d in t.shape.dim]}

    return desc(inp), desc(out)


def op_counts(path: Path | str) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for n in onnx.load(str(path), load_external_data=False).graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def embed_metadata(path: Path, entries: dict[str, str]) -> None:
    """Rewrite ``path`` with ``entries`` in ``metadata_props`` (graph untouched)."""
    import onnx

    from fgvc_mobile.export.metadata import set_onnx_metadata

    m = onnx.load(str(path))
    set_onnx_metadata(m, entries)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(m, str(tmp))
    os.replace(tmp, path)
