"""TFLite: fp32 with ``litert_torch.convert`` and full int8 with ``ai_edge_quantizer``.

* NHWC input comes from ``litert_torch.to_channel_last_io`` around the NCHW deploy graph.
* int8 is ai_edge_quantizer's static recipe (int8 weights per channel, int8 activations)
  calibrated on real images; its recovery knobs are the library's own: ``a16w8`` (16-bit
  activations, 8-bit weights), per-tensor or per-channel weights, and ops kept float by a regex
  over their output tensor names (``NO_QUANTIZE``). The per-tensor error against fp32 comes
  from ai_edge_quantizer's ``model_validator.compare_model`` (SNR and cosine per tensor). Its default calibration keeps a moving average of each tensor's
  min/max across samples (weight 0.95 on the past), which lets the first images dominate and
  clips the logit range; by default we calibrate with the running min/max over all samples
  (``qsv_utils.min_max_update``) so the ranges cover every calibration image. The option
  ``tflite.calibration=moving-average`` restores the library default for comparison.
* The graph ends in a softmax: the output is class probabilities, the scores MediaPipe Tasks and
  the LiteRT Support Library show (with the standard metadata, :mod:`.tflite_metadata`).
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
  ``python -m fgvc_mobile.studies.tflite_pt2e_check`` on the cub100 baseline (128 px, 200 test
  images): fp32 81.5 %, PT2E fake-quant PyTorch 81.5 %, PT2E .tflite 78.0 % (88.5 % top-1
  agreement with fp32) -- still broken; this module's route gave 82.2 % on 500 test images.

:func:`interpreter` is the only place in Python that builds a LiteRT ``Interpreter``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.export.deploy import with_input
from fgvc_mobile.export.formats import tflite_metadata as tm
from fgvc_mobile.export.formats.base import (
    VALIDATION_BATCH, Artifact, BuildContext, Format, Option, Probabilities, Session,
)
from fgvc_mobile.export.quiet import quiet

CALIBRATIONS = ("minmax", "moving-average")
IO_TYPES = ("float", "int8")
ACTIVATIONS = ("int8", "int16")
DELEGATES = ("xnnpack", "none")


def interpreter(source: bytes | str | os.PathLike, threads: int = 1, delegate: str = "xnnpack"):
    """A LiteRT interpreter of a flatbuffer (bytes) or .tflite path; ``delegate="none"`` skips XNNPACK."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if delegate not in DELEGATES:
        raise ValueError(f"LiteRT host delegate must be 'xnnpack' or 'none', got {delegate!r}")
    resolver = OpResolverType.AUTO if delegate == "xnnpack" else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    where = {"model_content": bytes(source)} if isinstance(source, (bytes, bytearray)) else {"model_path": str(source)}
    with quiet():
        return Interpreter(**where, num_threads=int(threads), experimental_op_resolver_type=resolver)


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


def quantize_int8(fp32: bytes, calib_inputs: np.ndarray, calibration: str = "minmax", io: str = "float",
                  activations: str = "int8", per_channel: bool = True, exclude: str = "") -> tuple[bytes, float]:
    """Static int8 weights + int8 (or int16) activations; ``calib_inputs`` as the fp32 model takes them."""
    from ai_edge_quantizer import calibrator, quantizer
    from ai_edge_quantizer.utils import qsv_utils

    if calibration not in CALIBRATIONS:
        raise FGVCError(f"tflite.calibration {calibration!r}: choose one of {', '.join(CALIBRATIONS)}")
    if io not in IO_TYPES:
        raise FGVCError(f"tflite.io {io!r}: choose one of {', '.join(IO_TYPES)}")
    t0 = time.perf_counter()
    name = _input_name(fp32)
    data = {"serving_default": [{name: x[None]} for x in calib_inputs]}
    with quiet():
        qt = quantizer.Quantizer(bytearray(fp32))
        qt.load_quantization_recipe(int8_recipe(io == "float", 16 if activations == "int16" else 8, per_channel, exclude))
        update = qsv_utils.min_max_update if calibration == "minmax" else qsv_utils.moving_average_update
        cal = calibrator.Calibrator(bytes(fp32), num_threads=1, qsv_update_func=update)
        cal.calibrate(data, qt._recipe_manager)  # the recipe decides which tensors get ranges
        result = qt.quantize(cal.get_model_qsvs(), enable_progress_report=False)
    return bytes(result.quantized_model), time.perf_counter() - t0


def _input_name(model: bytes) -> str:
    sig = interpreter(model).get_signature_list()
    if "serving_default" not in sig or len(sig["serving_default"]["inputs"]) != 1:
        raise FGVCError(f"converted TFLite model has unexpected signatures {sig}")
    return sig["serving_default"]["inputs"][0]


def int8_recipe(float_io: bool = True, activation_bits: int = 8, per_channel: bool = True, exclude: str = ""):
    """ai_edge_quantizer's static recipe (int8 weights, ``activation_bits`` activations) with DIV kept float;
    ``float_io``: the graph's input and output (and the final softmax) stay unquantized too; ``exclude``:
    a regex of tensor names whose ops stay float."""
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    rp = recipe_manager.RecipeManager()
    granularity = qtyping.QuantGranularity.CHANNELWISE if per_channel else qtyping.QuantGranularity.TENSORWISE
    rp.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                         activation_num_bits=activation_bits, weight_num_bits=8, weight_granularity=granularity)
    name = qtyping.TFLOperationName
    keep = [(".*", op) for op in [name.DIV] + ([name.SOFTMAX, name.INPUT, name.OUTPUT] if float_io else [])]
    for regex, op in keep + ([(exclude, name.ALL_SUPPORTED)] if exclude else []):
        rp.add_quantization_config(regex=regex, operation_name=op,
                                   algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    return rp.get_quantization_recipe()


def layer_errors(fp32: bytes, int8: bytes, inputs: np.ndarray) -> list[dict]:
    """Per tensor, in the interpreter's order: SNR (as dB) and cosine of the int8 model's value against
    the fp32 model's, by ai_edge_quantizer's ``model_validator.compare_model``."""
    from ai_edge_quantizer import model_validator
    from ai_edge_quantizer.utils.validation_utils import ValidationErrorMetric as M

    name = _input_name(fp32)
    with quiet():
        res = model_validator.compare_model(fp32, int8, {"serving_default": [{name: x[None]} for x in inputs]},
                                            [M.SNR, M.COSINE_SIMILARITY], use_xnnpack=False, num_threads=1)
    r = res.get_signature_comparison_result("serving_default")
    return [{"name": k, "sqnr_db": 10.0 * float(np.log10(max(v["snr"], 1e-12))), "cosine": v["cosine_similarity"]}
            for k, v in {**r.intermediate_tensors, **r.output_tensors}.items()]


def _quant(detail: dict) -> dict | None:
    scale, zp = detail["quantization"]
    return None if scale == 0.0 else {"scale": float(scale), "zero_point": int(zp)}


def tensors(it) -> tuple[dict, dict]:
    """The interpreter's one input and one output tensor details (more of either is refused)."""
    ins, outs = it.get_input_details(), it.get_output_details()
    if len(ins) != 1 or len(outs) != 1:
        raise FGVCError(f"expected one input and one output tensor, the model has {len(ins)} and {len(outs)}")
    return ins[0], outs[0]


class LiteRTSession(Session):
    """A LiteRT interpreter; the batch is resized on demand (a graph with a fixed batch runs 1 at a time)."""

    def __init__(self, it, contract: Contract, where: str = ""):
        self.interp = it
        it.allocate_tensors()
        inp, out = tensors(it)
        self.in_index, self.out_index = inp["index"], out["index"]
        self.shape = tuple(int(v) for v in inp["shape"])
        # the model's own quantization parameters are what it applies; the manifest's are the fallback
        self.contract = contract.with_model(np.dtype(inp["dtype"]).name, _quant(inp), _quant(out), where)

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
        return self.contract.decode(np.array(self.interp.get_tensor(self.out_index)))  # copy: the buffer is reused


def op_counts(model: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in interpreter(model)._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts


class TFLite(Format):
    name, suffix, runtime_module, package = "tflite", ".tflite", "ai_edge_litert.interpreter", "ai-edge-litert"
    requires = ("litert_torch", "ai_edge_quantizer", "ai_edge_litert", "flatbuffers")
    float_artifacts = "model_fp32.tflite (softmax output, standard TFLite metadata)"
    int8_artifacts = "model_int8.tflite (int8 weights and activations; float32 output unless tflite.io=int8)"
    options = (
        Option("calibration", "minmax", CALIBRATIONS,
               "activation ranges: min/max over all images, or ai_edge_quantizer's moving average"),
        Option("io", "float", IO_TYPES,
               "int8 model's I/O: as the fp32 model (float32 out; what MediaPipe accepts), or int8 in/out"),
        Option("activations", "int8", ACTIVATIONS, "int16: a16w8 (16-bit activations, 8-bit weights)"),
        Option("per_channel", True, None, "int8 weights per output channel (false: one scale per tensor)"),
        Option("exclude", "", None, "regex of tensor names whose ops stay float (NO_QUANTIZE)"),
    )
    int8_recipes = ({}, {"activations": "int16"})
    tolerances = {"fp32": 1e-3, "int8": None}

    def open(self, path, contract: Contract, threads: int = 1, delegate: str = "xnnpack") -> LiteRTSession:
        """``path`` may also be the flatbuffer's bytes."""
        where = "" if isinstance(path, (bytes, bytearray)) else Path(path).name
        return LiteRTSession(interpreter(path, threads, delegate), contract, where)

    def io_info(self, path) -> tuple[dict, dict]:
        """(input, output) manifest fields read from the interpreter, quantization included."""
        inp, out = tensors(interpreter(path))

        def desc(d):
            return {"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]],
                    "quantization": _quant(d)}

        return desc(inp), desc(out)

    def read_metadata(self, path) -> dict[str, str]:
        return tm.read_entries(path)

    def _make(self, ctx: BuildContext, path: Path, model: bytes, precision: str, seconds: float, notes) -> Artifact:
        path.write_bytes(model)
        inp, out = self.io_info(path)
        fields_in = ctx.input_fields(inp["name"], inp["dtype"], inp["quantization"])
        fields_out = {**out, "kind": "probabilities"}
        contract = ctx.artifact_contract(fields_in, fields_out)
        with ctx.stage(f"tflite {precision}: validate (LiteRT)"):
            ev = ctx.evaluate("litert", "run", self.open(path, contract).predict(ctx.val.images, VALIDATION_BATCH),
                              probabilities=True)

        def embed(entries, p=path):
            p.write_bytes(tm.add_standard_metadata(p.read_bytes(), entries))

        return Artifact(
            path.name, "tflite", precision, fields_in, fields_out, seconds, [ev], "litert", embed=embed,
            open_session=lambda p=path: self.open(p, contract),
            structure={"op_counts": op_counts(model)}, notes=list(notes),
        )

    def build_float(self, ctx: BuildContext, opts: dict) -> tuple[list[Artifact], bytes]:
        graph = with_input(Probabilities(ctx.deploy), ctx.kind, ctx.pre, channel_last_io=channel_last_io)
        with ctx.stage("tflite fp32: convert (litert_torch)"):
            fp32, secs = export_fp32(graph, ctx.example())
        return [self._make(ctx, ctx.workdir / "model_fp32.tflite", fp32, "fp32", secs,
                           ["litert_torch.convert; softmax in the graph; standard TFLite metadata"])], fp32

    def build_int8(self, ctx: BuildContext, opts: dict, fp32: bytes) -> list[Artifact]:
        with ctx.stage(f"tflite int8: quantize ({opts['calibration']}, {len(ctx.calib)} images)"):
            int8, secs = quantize_int8(fp32, ctx.calib_inputs(), opts["calibration"], opts["io"], opts["activations"],
                                       opts["per_channel"], opts["exclude"])
        io_note = ("I/O as the fp32 model (float32 probabilities out), int8 inside, softmax in float"
                   if opts["io"] == "float" else "int8 I/O (tflite.io=int8): everything quantized, softmax included")
        recipe = "a16w8 (16-bit activations, int8 weights)" if opts["activations"] == "int16" else "static int8"
        notes = [f"ai_edge_quantizer {recipe} (weights per {'channel' if opts['per_channel'] else 'tensor'}), "
                 f"{opts['calibration']} calibration on {len(ctx.calib)} images"
                 + (f", ops of tensors matching {opts['exclude']!r} kept float" if opts["exclude"] else ""), io_note]
        art = self._make(ctx, ctx.workdir / "model_int8.tflite", int8, "int8", secs, notes)
        with ctx.stage("tflite int8: per-layer error (compare_model)"):
            art.layers = layer_errors(fp32, int8, ctx.diagnostic_inputs())
        return [art]
