"""CoreML (mlprogram): fp16 (default) or fp32, int8 weights, and W8A8.

* fp16/fp32: ``coremltools.convert`` of the traced deploy graph; class labels through
  ``ClassifierConfig`` (outputs ``classLabel`` and ``classLabel_probs``; a softmax is appended so
  the scores are probabilities). A ``uint8-nhwc`` export takes an RGB image (``ImageType``, the
  camera's pixel buffer) and normalises in the graph; ``float-nchw`` takes a float32 tensor.
* int8 weights: ``linear_quantize_weights`` (symmetric, per output channel) of the float model.
* W8A8: ``coremltools.optimize.torch`` ``LinearQuantizer`` inserted before conversion, observers
  calibrated on real images with min/max ranges (not the moving average default), then
  converted for iOS 17 (activation quantization needs it).

CoreML models cannot run on Linux, so they are validated structurally here: input/output names,
types and shapes, class labels, op counts, and dequantised weights against the float model;
on macOS the real model also runs for parity.
"""

from __future__ import annotations

import copy
import platform
import time

import numpy as np
import torch
from torch import nn

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.quiet import quiet

INPUT_NAME = "image"
LABEL_OUTPUT = "classLabel"
PROBS_OUTPUT = "classLabel_probs"
TARGETS = ("iOS16", "iOS17", "iOS18")
COMPUTE_OPS = ("conv", "linear", "matmul")
CAN_RUN = platform.system() == "Darwin"


def _ct():
    with quiet():
        import coremltools as ct
    return ct


class Probabilities(nn.Module):
    """Softmax over the deploy graph's logits: CoreML classifiers report probabilities."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def _inputs(ct, image_input: bool, size: int):
    if image_input:
        return [ct.ImageType(name=INPUT_NAME, shape=(1, 3, size, size), color_layout=ct.colorlayout.RGB)]
    return [ct.TensorType(name=INPUT_NAME, shape=(1, 3, size, size), dtype=np.float32)]


def _target(ct, name: str):
    if name not in TARGETS:
        raise FGVCError(f"coreml.target {name!r}: choose one of {', '.join(TARGETS)}")
    return getattr(ct.target, name)


def convert(graph: nn.Module, image_input: bool, size: int, classes: list[str], precision: str = "fp16",
            target: str = "iOS16"):
    """(mlmodel, seconds): ``graph`` takes NCHW (0..255 floats when ``image_input``)."""
    ct = _ct()
    if precision not in ("fp16", "fp32"):
        raise FGVCError(f"coreml.precision {precision!r}: choose fp16 or fp32")
    t0 = time.perf_counter()
    example = torch.rand(1, 3, size, size) * (255.0 if image_input else 1.0)
    with quiet(), torch.no_grad():
        traced = torch.jit.trace(Probabilities(graph).eval(), example)
        ml = ct.convert(
            traced, inputs=_inputs(ct, image_input, size), convert_to="mlprogram",
            classifier_config=ct.ClassifierConfig(list(classes)),
            compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
            minimum_deployment_target=_target(ct, target),
        )
    return ml, time.perf_counter() - t0


def int8_weights(ml):
    """(mlmodel, seconds): symmetric per-channel int8 weights of every conv/linear weight."""
    ct = _ct()
    from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

    t0 = time.perf_counter()
    cfg = OpLinearQuantizerConfig(mode="linear_symmetric", granularity="per_channel", weight_threshold=0)
    with quiet():
        q = linear_quantize_weights(ml, OptimizationConfig(global_config=cfg))
    del ct
    return q, time.perf_counter() - t0


def w8a8(graph: nn.Module, calib: torch.Tensor, image_input: bool, size: int, classes: list[str],
         target: str = "iOS17"):
    """(mlmodel, fake-quantized torch graph, seconds): weights and activations int8.

    ``calib`` is a float NCHW batch as ``graph`` takes it. The returned torch graph simulates
    the quantized model (used for the accuracy figure, since CoreML cannot run here).
    """
    ct = _ct()
    with quiet():
        from coremltools.optimize.torch.quantization import (
            LinearQuantizer,
            LinearQuantizerConfig,
            ModuleLinearQuantizerConfig,
        )
    if TARGETS.index(target) < TARGETS.index("iOS17"):
        raise FGVCError(f"coreml.target {target}: W8A8 needs iOS17 or later")
    t0 = time.perf_counter()
    cfg = LinearQuantizerConfig(global_config=ModuleLinearQuantizerConfig(
        quantization_scheme="symmetric", weight_per_channel=True,
        activation_observer="min_max", weight_observer="min_max", milestones=[0, 0, 1_000_000, 0],
    ))
    with quiet():
        quantizer = LinearQuantizer(copy.deepcopy(graph).eval(), cfg)
        prepared = quantizer.prepare(example_inputs=(calib[:1],), inplace=False)
        prepared.eval()
        quantizer.step()
        with torch.no_grad():
            for i in range(0, len(calib), 16):
                prepared(calib[i : i + 16])
        final = quantizer.finalize(prepared, inplace=False).eval()
        with torch.no_grad():
            traced = torch.jit.trace(Probabilities(final).eval(), calib[:1])
            ml = ct.convert(
                traced, inputs=_inputs(ct, image_input, size), convert_to="mlprogram",
                classifier_config=ct.ClassifierConfig(list(classes)),
                compute_precision=ct.precision.FLOAT16, minimum_deployment_target=_target(ct, target),
            )
    return ml, final, time.perf_counter() - t0


# ---- structural validation (runs anywhere) -----------------------------------------------------


def op_counts(ml) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in ml.get_spec().mlProgram.functions.values():
        for block in f.block_specializations.values():
            for op in block.operations:
                counts[op.type] = counts.get(op.type, 0) + 1
    return counts


def _weights(ml) -> list[np.ndarray]:
    """Weights of every conv/linear op, in program order, dequantised if they are constexpr."""
    prog = ml._mil_program
    if prog is None:
        raise FGVCError("CoreML model has no MIL program in memory; validate right after conversion")
    out = []
    for op in prog.functions["main"].operations:
        if op.op_type not in COMPUTE_OPS or "weight" not in op.inputs and "y" not in op.inputs:
            continue
        w = op.inputs.get("weight", op.inputs.get("y"))
        val = w.val
        if val is None and w.op is not None and hasattr(w.op, "materialized_val_inference"):
            val = w.op.materialized_val_inference()
        if val is None:  # activation-quantized weights: dequantize(const) feeding the op
            src = w.op
            while src is not None and val is None and src.inputs:
                first = next(iter(src.inputs.values()))
                val = first.val if first.val is not None else (
                    first.op.materialized_val_inference() if hasattr(first.op, "materialized_val_inference") else None)
                src = first.op
        if val is not None:
            out.append(np.asarray(val, dtype=np.float32))
    return out


def weight_error(float_ml, quant_ml) -> dict:
    """Dequantised weights vs the float model's: per-channel error relative to the channel's max."""
    a, b = _weights(float_ml), _weights(quant_ml)
    if len(a) != len(b) or not a:
        raise FGVCError(f"CoreML quantized model has {len(b)} conv/linear weights, the float model {len(a)}")
    worst = 0.0
    for wa, wb in zip(a, b):
        if wa.shape != wb.shape:
            raise FGVCError(f"CoreML quantized weight shape {wb.shape} differs from the float model's {wa.shape}")
        fa, fb = wa.reshape(wa.shape[0], -1), wb.reshape(wb.shape[0], -1)
        peak = np.maximum(np.abs(fa).max(axis=1), 1e-12)
        worst = max(worst, float((np.abs(fa - fb).max(axis=1) / peak).max()))
    return {"weights_compared": len(a), "max_rel_error_per_channel": worst}


def _classify_labels(spec) -> list[str]:
    """Class labels of an mlprogram classifier: the ``classes`` input of its ``classify`` op."""
    for f in spec.mlProgram.functions.values():
        for block in f.block_specializations.values():
            for op in block.operations:
                if op.type == "classify":
                    values = op.inputs["classes"].arguments[0].value.immediateValue.list.values
                    return [v.immediateValue.tensor.strings.values[0] for v in values]
    return []


def describe(ml) -> dict:
    """Inputs, outputs, class labels and metadata keys as the saved spec declares them."""
    spec = ml.get_spec() if hasattr(ml, "get_spec") else ml
    d = spec.description

    def feat(f):
        kind = f.type.WhichOneof("Type")
        info = {"name": f.name, "type": kind}
        if kind == "multiArrayType":
            info["shape"] = list(f.type.multiArrayType.shape)
            info["dtype"] = {65568: "float32", 65552: "float16", 131104: "int32"}.get(
                f.type.multiArrayType.dataType, str(f.type.multiArrayType.dataType))
        elif kind == "imageType":
            info["shape"] = [1, f.type.imageType.height, f.type.imageType.width, 3]
            info["color"] = "RGB" if f.type.imageType.colorSpace == 20 else str(f.type.imageType.colorSpace)
        return info

    return {
        "inputs": [feat(f) for f in d.input],
        "outputs": [feat(f) for f in d.output],
        "predicted_feature": d.predictedFeatureName,
        "probabilities_output": d.predictedProbabilitiesName,
        "labels": _classify_labels(spec),
        "metadata_keys": sorted(d.metadata.userDefined),
        "spec_version": spec.specificationVersion,
    }


def check_structure(ml, classes: list[str], image_input: bool, size: int, expect_ops: dict[str, int]) -> dict:
    """Raise FGVCError on the first mismatch; return the facts checked (for the report)."""
    info = describe(ml)
    ins = info["inputs"]
    if len(ins) != 1 or ins[0]["name"] != INPUT_NAME:
        raise FGVCError(f"CoreML model inputs {[i['name'] for i in ins]}, expected ['{INPUT_NAME}']")
    want_type = "imageType" if image_input else "multiArrayType"
    if ins[0]["type"] != want_type:
        raise FGVCError(f"CoreML input is {ins[0]['type']}, expected {want_type}")
    want_shape = [1, size, size, 3] if image_input else [1, 3, size, size]
    if ins[0]["shape"] != want_shape or (not image_input and ins[0]["dtype"] != "float32"):
        raise FGVCError(f"CoreML input {ins[0]}, expected shape {want_shape}")
    outs = {o["name"] for o in info["outputs"]}
    if outs != {LABEL_OUTPUT, PROBS_OUTPUT} or info["predicted_feature"] != LABEL_OUTPUT:
        raise FGVCError(f"CoreML outputs {sorted(outs)}, expected {LABEL_OUTPUT} and {PROBS_OUTPUT}")
    if info["labels"] != list(classes):
        raise FGVCError("CoreML class labels differ from the checkpoint's classes")
    counts = op_counts(ml)
    for op, n in expect_ops.items():
        if counts.get(op, 0) != n:
            raise FGVCError(f"CoreML model has {counts.get(op, 0)} {op} ops, the deploy graph needs {n}")
    info["op_counts"] = counts
    return info


def runner(ml, image_input: bool):
    """macOS only: fn(uint8 NHWC or float NCHW batch) -> probabilities [N, C] in label order."""
    if not CAN_RUN:
        raise FGVCError("CoreML models run only on macOS; on Linux they are validated structurally")
    from PIL import Image

    labels = describe(ml)["labels"]

    def run(batch: np.ndarray) -> np.ndarray:
        rows = []
        for x in batch:
            feed = Image.fromarray(x) if image_input else x[None].astype(np.float32)
            probs = ml.predict({INPUT_NAME: feed})[PROBS_OUTPUT]
            rows.append([probs[c] for c in labels])
        return np.asarray(rows, dtype=np.float32)

    return run
