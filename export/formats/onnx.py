"""ONNX: fp32 with ``torch.onnx.export`` (one file, no external data) and int8 QDQ with
``onnxruntime.quantization.quantize_static`` (per-channel weights, calibrated on real images).

Recovery knobs are ORT's own: the calibration method (min-max, percentile, entropy), per-channel
weights, 16-bit activations with 8-bit weights (``QInt16`` activations, contrib Q/DQ ops at opset
< 21) and nodes kept in float (``nodes_to_exclude``, by a regex over node names). The per-tensor
error of the int8 model against fp32 comes from ``onnxruntime.quantization.qdq_loss_debug``.

Two int8 accuracies are measured because they differ on CPUs without VNNI: ORT's fused int8
kernels (the default session) and the QDQ graph evaluated op by op in float (graph optimisations
off: every QuantizeLinear/DequantizeLinear runs, convolutions run in fp32). The second is the
accuracy the quantized model itself has; the first is what this host's ORT kernels deliver.
Metadata lives in ``metadata_props`` key/value strings.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import numpy as np
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.export.deploy import with_input
from fgvc_mobile.export.formats.base import Artifact, BuildContext, Format, Option, Session
from fgvc_mobile.export.quiet import quiet

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
QUANT_TYPES = {"S8S8": ("QInt8", "QInt8"), "U8S8": ("QUInt8", "QInt8"), "U8U8": ("QUInt8", "QUInt8")}
CALIBRATE_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
ACTIVATIONS = ("int8", "int16")
_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 10: "float16"}
_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


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


def excluded_nodes(path: Path, pattern: str) -> list[str]:
    """Names of the nodes of ``path`` that ``pattern`` (a regex, searched) matches; none for ''."""
    import onnx

    if not pattern:
        return []
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise FGVCError(f"onnx.exclude {pattern!r}: not a regular expression ({e})") from None
    names = [n.name for n in onnx.load(str(path), load_external_data=False).graph.node if rx.search(n.name)]
    if not names:
        raise FGVCError(f"onnx.exclude {pattern!r}: matches no node of the model (the diagnostics JSON names them)")
    return names


def quantize_int8(fp32_path: Path, int8_path: Path, calib_inputs: np.ndarray, quant_types: str = "S8S8",
                  calibrate: str = "minmax", reduce_range: bool = True, per_channel: bool = True,
                  activations: str = "int8", exclude: str = "") -> float:
    """Static QDQ int8 weights (``activations="int16"``: 16-bit activations); ``calib_inputs`` as the fp32
    model takes them; ``exclude``: a regex of node names kept in float."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if quant_types not in QUANT_TYPES:
        raise FGVCError(f"onnx.quant_types {quant_types!r}: choose one of {sorted(QUANT_TYPES)}")
    if calibrate not in CALIBRATE_METHODS:
        raise FGVCError(f"onnx.calibrate {calibrate!r}: choose one of {sorted(CALIBRATE_METHODS)}")
    act, wt = (getattr(QuantType, n) for n in QUANT_TYPES[quant_types])
    if activations == "int16":
        act = QuantType.QInt16
    t0 = time.perf_counter()
    pre_path = int8_path.with_name(int8_path.stem + ".pre.onnx")
    reader = type("Reader", (_Reader, CalibrationDataReader), {})(calib_inputs)
    try:
        with quiet():
            quant_pre_process(str(fp32_path), str(pre_path), skip_symbolic_shape=True)
            quantize_static(
                str(pre_path), str(int8_path), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                reduce_range=reduce_range, activation_type=act, weight_type=wt,
                calibrate_method=getattr(CalibrationMethod, CALIBRATE_METHODS[calibrate]),
                nodes_to_exclude=excluded_nodes(pre_path, exclude),
                extra_options={"CalibMovingAverage": False, "UseQDQContribOps": activations == "int16"},
            )
    finally:
        with contextlib.suppress(OSError):
            os.unlink(pre_path)
        for p in int8_path.parent.glob("*augmented_model*.onnx"):
            with contextlib.suppress(OSError):
                os.unlink(p)
    return time.perf_counter() - t0


def layer_errors(fp32_path: Path, int8_path: Path, inputs: np.ndarray) -> list[dict]:
    """Per activation tensor, in graph order: SQNR (dB) of the QDQ model's value against the fp32
    model's (``xmodel``) and across its own Q/DQ pair (``qdq``), by ``qdq_loss_debug``."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations, compute_activation_error, create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    feeds = [{INPUT_NAME: x[None]} for x in inputs]
    acts = []
    for path in (fp32_path, int8_path):
        aug = path.with_name(path.stem + ".debug.onnx")
        try:
            with quiet():
                modify_model_output_intermediate_tensors(str(path), str(aug))
                acts.append(collect_activations(str(aug), feeds))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(aug)
    match = {k: v for k, v in create_activation_matching(acts[1], acts[0]).items() if "float" in v}
    errors = compute_activation_error(match)
    nodes = onnx.load(str(int8_path), load_external_data=False).graph.node
    order = {o: (i, n.name) for i, n in enumerate(nodes) for o in n.output}  # tensor -> (position, producer)
    return [{"name": k, "node": order.get(k, (0, ""))[1], "sqnr_db": float(e["xmodel_err"]),
             "qdq_sqnr_db": float(e["qdq_err"])}
            for k, e in sorted(errors.items(), key=lambda kv: order.get(kv[0], (len(order), ""))[0])]


class OrtSession(Session):
    """An onnxruntime session; a static batch dimension (our exports have batch 1) caps ``set_batch``."""

    def __init__(self, sess, contract: Contract, where: str = ""):
        self.sess = sess
        inp = sess.get_inputs()[0]
        self.input_name = inp.name
        batch_dim = inp.shape[0] if inp.shape else None
        self.static_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None
        self.output_name = sess.get_outputs()[0].name
        self.contract = contract.with_model(_ORT_TYPES.get(inp.type), where=where)

    def set_batch(self, n: int) -> int:
        return self.static_batch or n

    def run(self, x: np.ndarray) -> np.ndarray:
        (out,) = self.sess.run([self.output_name], {self.input_name: x})
        return self.contract.decode(out)


def op_counts(path: Path | str) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for n in onnx.load(str(path), load_external_data=False).graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def embed_metadata(path: Path, entries: dict[str, str]) -> None:
    """Rewrite ``path`` with ``entries`` in ``metadata_props`` (other keys kept, graph untouched)."""
    import onnx

    m = onnx.load(str(path))
    keep = [(p.key, p.value) for p in m.metadata_props if p.key not in entries]
    del m.metadata_props[:]
    for k, v in keep + list(entries.items()):
        prop = m.metadata_props.add()
        prop.key, prop.value = k, v
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(m, str(tmp))
    os.replace(tmp, path)


class Onnx(Format):
    name, suffix, runtime_module, package = "onnx", ".onnx", "onnxruntime", "onnxruntime"
    requires = ("onnx", "onnxruntime")
    float_artifacts = "model_fp32.onnx"
    int8_artifacts = "model_int8.onnx (QDQ, per-channel weights)"
    options = (
        Option("exporter", "dynamo", ("dynamo", "torchscript"), "torch.onnx.export route"),
        Option("opset", 18, None, "ONNX opset"),
        Option("quant_types", "S8S8", ("S8S8", "U8S8", "U8U8"), "activation/weight int8 types"),
        Option("calibrate", "minmax", ("minmax", "entropy", "percentile"), "ORT calibration method"),
        Option("reduce_range", True, None, "7-bit weights: onnxruntime's int8 kernels on x86 CPUs without VNNI "
               "(AVX2) saturate with full-range weights; false only for VNNI or ARM targets"),
        Option("per_channel", True, None, "int8 weights per output channel (false: one scale per tensor)"),
        Option("activations", "int8", ACTIVATIONS, "int16: 16-bit activations, 8-bit weights (slower, closer)"),
        Option("exclude", "", None, "regex of node names kept in float (nodes_to_exclude)"),
    )
    int8_recipes = ({}, {"calibrate": "percentile"}, {"calibrate": "entropy"}, {"activations": "int16"})
    tolerances = {"fp32": 1e-3, "int8": None}

    def unavailable_reason(self, provider: str = "CPUExecutionProvider", **_) -> str | None:
        reason = super().unavailable_reason()
        if reason is None:
            import onnxruntime as ort

            if provider not in ort.get_available_providers():
                return f"onnxruntime here has no {provider}"
        return reason

    def open(self, path, contract: Contract, threads: int = 1, provider: str = "CPUExecutionProvider",
             optimized: bool = True) -> OrtSession:
        """``optimized=False`` disables graph optimisations (QDQ evaluated in float)."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        if not optimized:
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return OrtSession(ort.InferenceSession(str(path), so, providers=[provider]), contract, Path(path).name)

    def io_info(self, path) -> tuple[dict, dict]:
        import onnx

        m = onnx.load(str(path), load_external_data=False)
        (inp,), (out,) = m.graph.input, m.graph.output

        def desc(v):
            t = v.type.tensor_type
            return {"name": v.name, "dtype": _ONNX_DTYPES.get(t.elem_type, str(t.elem_type)),
                    "shape": [d.dim_value for d in t.shape.dim]}

        return desc(inp), desc(out)

    def read_metadata(self, path) -> dict[str, str]:
        import onnx

        return {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}

    def _make(self, ctx: BuildContext, path: Path, precision: str, seconds: float, evals, gate: str,
              notes=()) -> Artifact:
        inp, out = self.io_info(path)
        return Artifact(
            path.name, "onnx", precision, ctx.input_fields(inp["name"]),
            {**out, "kind": "logits", "quantization": None}, seconds, evals, gate,
            embed=lambda entries, p=path: embed_metadata(p, entries),
            open_session=lambda p=path: self.open(p, ctx.contract),
            structure={"op_counts": op_counts(path)}, notes=list(notes),
        )

    def build_float(self, ctx: BuildContext, opts: dict) -> tuple[list[Artifact], Path]:
        graph = with_input(ctx.deploy, ctx.kind, ctx.pre)
        fp32 = ctx.workdir / "model_fp32.onnx"
        with ctx.stage(f"onnx fp32: convert ({opts['exporter']})"):
            secs = export_fp32(graph, ctx.example(), fp32, opts["opset"], opts["exporter"])
        with ctx.stage("onnx fp32: validate (onnxruntime)"):
            ev = ctx.evaluate("onnxruntime", "run", self.open(fp32, ctx.contract).predict(ctx.val.images))
            art = self._make(ctx, fp32, "fp32", secs, [ev], "onnxruntime",
                             [f"exporter {opts['exporter']}, opset {opts['opset']}"])
        return [art], fp32

    def build_int8(self, ctx: BuildContext, opts: dict, fp32: Path) -> list[Artifact]:
        int8 = ctx.workdir / "model_int8.onnx"
        with ctx.stage(f"onnx int8: quantize ({opts['calibrate']}, {len(ctx.calib)} images)"):
            secs = quantize_int8(fp32, int8, ctx.calib_inputs(), opts["quant_types"], opts["calibrate"],
                                 opts["reduce_range"], opts["per_channel"], opts["activations"], opts["exclude"])
        with ctx.stage("onnx int8: validate (int8 kernels)"):
            kernels = ctx.evaluate("ort-int8-kernels", "run", self.open(int8, ctx.contract).predict(ctx.val.images),
                                   note="onnxruntime CPU, graph optimisations on (fused int8 kernels)")
        with ctx.stage("onnx int8: validate (Q/DQ in float)"):
            qdq = ctx.evaluate("qdq-float", "run",
                               self.open(int8, ctx.contract, optimized=False).predict(ctx.val.images),
                               note="same file, graph optimisations off: Q/DQ evaluated in float")
        bits = "int16 activations, int8 weights" if opts["activations"] == "int16" else opts["quant_types"]
        notes = [f"QDQ {bits}, {'per-channel' if opts['per_channel'] else 'per-tensor'} weights, "
                 f"{opts['calibrate']} calibration on {len(ctx.calib)} images"
                 + (", 7-bit weights (reduce_range)" if opts["reduce_range"] else ", full-range 8-bit weights")
                 + (f", nodes matching {opts['exclude']!r} kept float" if opts["exclude"] else "")]
        # gated on the fused kernels: what onnxruntime (predict, bench, a user's session) computes here
        art = self._make(ctx, int8, "int8", secs, [qdq, kernels], "ort-int8-kernels", notes)
        with ctx.stage("onnx int8: per-layer error (qdq_loss_debug)"):
            art.layers = layer_errors(fp32, int8, ctx.diagnostic_inputs())
        return [art]
