"""CoreML (mlprogram): fp16 (default) or fp32, int8 weights, and W8A8.

* fp16/fp32: ``coremltools.convert`` of the traced deploy graph; class labels through
  ``ClassifierConfig`` (outputs ``classLabel`` and ``classLabel_probs``; a softmax is appended so
  the scores are probabilities). A ``uint8-nhwc`` export takes an RGB image (``ImageType``, the
  camera's pixel buffer) and normalises in the graph; ``float-nchw`` takes a float32 tensor.
* int8 weights: ``linear_quantize_weights`` (symmetric, per output channel, or per block of
  ``coreml.block_size`` input channels with ``coreml.weights=per_block``, iOS 18) of the float model.
* W8A8: ``coremltools.optimize.torch`` ``LinearQuantizer`` inserted before conversion, observers
  calibrated on real images (``coreml.observer``: min/max ranges by default, not the moving
  average), symmetric or affine (``coreml.scheme``; ReLU6 outputs are never negative, so affine
  keeps the bit a symmetric range spends on them), then converted for iOS 17 (activation
  quantization needs it). When W8A8 misses its gate the int8-weights model is what ships: the
  refusal says so (``Format.fallback``).

CoreML models cannot run on Linux, so they are validated structurally here
(:mod:`.coreml_checks`); on macOS the real model also runs for parity. Metadata lives in the
spec's ``user_defined_metadata``.
"""

from __future__ import annotations

import copy
import os
import platform
import time

import numpy as np
import torch
from torch import nn

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.export.deploy import with_input
from fgvc_mobile.export.formats import coreml_checks as cc
from fgvc_mobile.export.formats.base import Artifact, BuildContext, Format, Option, Probabilities, Session
from fgvc_mobile.export.quiet import quiet
from fgvc_mobile.export.validate import Evaluation

INPUT_NAME, LABEL_OUTPUT, PROBS_OUTPUT = cc.INPUT_NAME, cc.LABEL_OUTPUT, cc.PROBS_OUTPUT
TARGETS = ("iOS16", "iOS17", "iOS18")
WEIGHTS = ("per_channel", "per_block")
SCHEMES = ("symmetric", "affine")
OBSERVERS = ("min_max", "moving_average_min_max", "ema_min_max")
CAN_RUN = platform.system() == "Darwin"
NOT_MACOS = "CoreML runs only on macOS"


def _ct():
    with quiet():
        import coremltools as ct
    return ct


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


def int8_weights(ml, granularity: str = "per_channel", block_size: int = 32):
    """(mlmodel, seconds): symmetric int8 weights of every conv/linear weight, per channel or per block."""
    _ct()  # coremltools imported quietly
    from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

    t0 = time.perf_counter()
    block = {"block_size": block_size} if granularity == "per_block" else {}
    cfg = OpLinearQuantizerConfig(mode="linear_symmetric", granularity=granularity, weight_threshold=0, **block)
    with quiet():
        q = linear_quantize_weights(ml, OptimizationConfig(global_config=cfg))
    return q, time.perf_counter() - t0


def w8a8(graph: nn.Module, calib: torch.Tensor, image_input: bool, size: int, classes: list[str],
         target: str = "iOS17", scheme: str = "symmetric", observer: str = "min_max"):
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
        quantization_scheme=scheme, weight_per_channel=True,
        activation_observer=observer, weight_observer="min_max", milestones=[0, 0, 1_000_000, 0],
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


def fake_quantize_weights(module: nn.Module, block_size: int = 0) -> nn.Module:
    """A copy whose conv/linear weights are symmetric int8, dequantized (CoreML int8w in torch): per output
    channel, or per ``block_size`` input channels (a layer whose input channels the block does not
    divide stays float, as ``linear_quantize_weights`` skips it)."""
    sim = copy.deepcopy(module)
    with torch.no_grad():
        for m in sim.modules():
            if not isinstance(m, (nn.Conv2d, nn.Linear)):
                continue
            w = m.weight
            cin = w.shape[1]
            if block_size and cin % block_size:
                continue
            blocks = w.reshape(w.shape[0], cin // block_size if block_size else 1, -1)
            scale = blocks.abs().amax(dim=2, keepdim=True).clamp_min(1e-12) / 127.0
            m.weight.copy_((torch.round(blocks / scale).clamp(-127, 127) * scale).reshape(w.shape))
    return sim


class CoreMLSession(Session):
    """macOS only: one image at a time; the class probabilities come back in label order."""

    def __init__(self, ml, contract: Contract):
        self.ml = ml
        self.image_input = ml.get_spec().description.input[0].type.WhichOneof("Type") == "imageType"
        self.labels = cc.describe(ml)["labels"]
        self.contract = contract

    def set_batch(self, n: int) -> int:
        return 1

    def run(self, x: np.ndarray) -> np.ndarray:
        from PIL import Image

        rows = []
        for i in range(x.shape[0]):
            # an image input takes a PIL RGB image (the NHWC uint8 crop); a tensor input the array
            feed = Image.fromarray(x[i]) if self.image_input else x[i : i + 1].astype(np.float32)
            probs = self.ml.predict({INPUT_NAME: feed})[PROBS_OUTPUT]
            rows.append([probs[c] for c in self.labels])
        return self.contract.decode(np.asarray(rows, dtype=np.float32))


class CoreML(Format):
    name, suffix, runtime_module, package = "coreml", ".mlpackage", "coremltools", "coremltools"
    suffixes = (".mlpackage", ".mlmodel")
    requires = ("coremltools",)
    float_artifacts = "model_fp16.mlpackage (or model_fp32 with coreml.precision=fp32)"
    int8_artifacts = "model_int8w.mlpackage (int8 weights), model_w8a8.mlpackage (int8 weights and activations)"
    options = (
        Option("precision", "fp16", ("fp16", "fp32"), "float compute precision"),
        Option("target", "iOS16", TARGETS, "minimum deployment target (W8A8 uses >= iOS17)"),
        Option("w8a8", True, None, "with --int8, also write the W8A8 model"),
        Option("weights", "per_channel", WEIGHTS, "int8 weights' scales: per output channel, or per block (iOS18)"),
        Option("block_size", 32, None, "input channels per block with coreml.weights=per_block"),
        Option("scheme", "symmetric", SCHEMES, "W8A8 quantization scheme (affine: a zero point per tensor)"),
        Option("observer", "min_max", OBSERVERS, "W8A8 activation calibration (coremltools observer)"),
    )
    int8_recipes = ({}, {"scheme": "affine"}, {"scheme": "affine", "observer": "moving_average_min_max"})
    fallback = {"w8a8": "int8-weights"}
    # fp16 on macOS is compared as probabilities; quantized ones are judged by their simulated accuracy
    tolerances = {"fp32": 2e-3, "fp16": 2e-2, "int8-weights": None, "w8a8": None}

    def unavailable_reason(self, **_) -> str | None:
        return NOT_MACOS if not CAN_RUN else super().unavailable_reason()

    def open(self, path, contract: Contract, threads: int = 1, compute_units: str = "ALL") -> CoreMLSession:
        if not CAN_RUN:
            raise FGVCError(f"CoreML models run only on macOS (this is {platform.system()})")
        ct = _ct()
        return CoreMLSession(ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units)),
                             contract)

    def io_info(self, path) -> tuple[dict, dict]:
        info = cc.describe(_ct().utils.load_spec(os.fspath(path)))
        inp = info["inputs"][0]
        out = next((o for o in info["outputs"] if o["name"] == PROBS_OUTPUT), info["outputs"][0])
        return ({"name": inp["name"], "dtype": inp.get("dtype", "uint8"), "shape": inp.get("shape")},
                {"name": out["name"], "shape": [1, len(info["labels"])]})

    def read_metadata(self, path) -> dict[str, str]:
        return dict(_ct().utils.load_spec(os.fspath(path)).description.metadata.userDefined)

    def _setup(self, ctx: BuildContext) -> dict:
        """What every CoreML build of ``ctx`` shares: the NCHW graph, its input contract, the I/O fields."""
        image_input = ctx.kind.normalization_in_graph  # uint8 camera input -> CoreML image input
        input_fields = ctx.input_fields(INPUT_NAME)
        if image_input:
            input_fields["coreml_input"] = "image (RGB pixel buffer)"
        output_fields = {"name": PROBS_OUTPUT, "dtype": "float32", "shape": [1, len(ctx.classes)],
                         "kind": "probabilities", "quantization": None, "label_output": LABEL_OUTPUT}
        return {"image_input": image_input, "graph": with_input(ctx.deploy, ctx.kind, ctx.pre, layout="NCHW"),
                "graph_in": Contract("NCHW", "float32", image_input, ctx.pre),  # what ``graph`` takes (0..255 images)
                "expect": {**cc.layer_calls(ctx.deploy, ctx.size), "classify": 1},
                "input": input_fields, "output": output_fields,
                "contract": ctx.artifact_contract(input_fields, output_fields)}

    def _make(self, ctx: BuildContext, s: dict, ml, name: str, precision: str, seconds: float,
              evals: list[Evaluation], gate: str, notes) -> Artifact:
        path = ctx.workdir / name
        structure = cc.check_structure(ml, ctx.classes, s["image_input"], ctx.size, s["expect"])
        evals = [Evaluation("structural", "structural", note="CoreML cannot run on Linux: inputs, outputs, "
                            "labels and op counts checked")] + evals
        if CAN_RUN:
            evals.append(ctx.evaluate("coreml", "run", CoreMLSession(ml, s["contract"]).predict(ctx.val.images),
                                      probabilities=True))
            gate = "coreml"

        def embed(entries):
            for k, v in entries.items():
                ml.user_defined_metadata[k] = v
            ml.short_description = f"fgvc-mobile {precision} classifier"
            ml.save(str(path))

        return Artifact(name, "coreml", precision, s["input"], s["output"], seconds, evals, gate, embed=embed,
                        structure=structure, notes=list(notes))

    def build_float(self, ctx: BuildContext, opts: dict) -> tuple[list[Artifact], dict]:
        s = self._setup(ctx)
        with ctx.stage(f"coreml {opts['precision']}: convert"):
            fl, secs = convert(s["graph"], s["image_input"], ctx.size, ctx.classes, opts["precision"], opts["target"])
        s["float"] = fl
        with ctx.stage(f"coreml {opts['precision']}: checks" + (" and run" if CAN_RUN else " (structural)")):
            art = self._make(ctx, s, fl, f"model_{opts['precision']}.mlpackage", opts["precision"], secs, [],
                             "structural", [f"mlprogram {opts['precision']}, {opts['target']}"])
        return [art], s

    def build_int8(self, ctx: BuildContext, opts: dict, s: dict) -> list[Artifact]:
        graph, fl = s["graph"], s["float"]

        def sim_scores(module: nn.Module) -> np.ndarray:
            x = torch.from_numpy(ctx.prepared("val", s["graph_in"]))
            with torch.no_grad():
                return torch.cat([module(x[i : i + 64]) for i in range(0, len(x), 64)]).numpy()

        per_block = opts["weights"] == "per_block"
        if per_block and TARGETS.index(opts["target"]) < TARGETS.index("iOS18"):
            raise FGVCError("coreml.weights=per_block: needs -O coreml.target=iOS18")
        with ctx.stage("coreml int8-weights: quantize"):
            q, secs = int8_weights(fl, opts["weights"], opts["block_size"])
            werr = cc.weight_error(fl, q)
        with ctx.stage("coreml int8-weights: validate (PyTorch simulation)"):
            sim = ctx.evaluate("torch-sim", "simulated",
                               sim_scores(fake_quantize_weights(graph, opts["block_size"] if per_block else 0)),
                               note=f"PyTorch with {opts['weights'].replace('_', '-')} int8 weights")
        how = f"blocks of {opts['block_size']} input channels" if per_block else "per-channel"
        a = self._make(ctx, s, q, "model_int8w.mlpackage", "int8-weights", secs, [sim], "torch-sim",
                       [f"linear_quantize_weights {how} symmetric; dequantised weights vs float: max per-channel "
                        f"error {werr['max_rel_error_per_channel']:.4f} of the channel max"])
        a.structure["weight_error"] = werr
        cc.check_weight_error(werr)
        arts = [a]
        if not opts["w8a8"]:
            return arts
        target = opts["target"] if opts["target"] != "iOS16" else "iOS17"
        try:
            with ctx.stage(f"coreml w8a8: quantize and convert ({len(ctx.calib)} images)"):
                w, fake, secs = w8a8(graph, torch.from_numpy(ctx.prepared("calib", s["graph_in"])), s["image_input"],
                                     ctx.size, ctx.classes, target, opts["scheme"], opts["observer"])
        except torch.fx.proxy.TraceError:
            # coremltools' LinearQuantizer needs torch.fx symbolic tracing, which cannot follow
            # shape-dependent code such as CMAL-Net's in-graph attention crop
            a.notes.append("model_w8a8.mlpackage not written: coremltools' W8A8 quantizer cannot FX-trace "
                           "this deploy graph (shape-dependent attention crop); int8 weights only")
            return arts
        werr = cc.weight_error(fl, w)
        with ctx.stage("coreml w8a8: validate (PyTorch simulation)"):
            sim = ctx.evaluate("torch-sim", "simulated", sim_scores(fake),
                               note="PyTorch fake-quantized model (coremltools.optimize.torch LinearQuantizer)")
        a = self._make(ctx, s, w, "model_w8a8.mlpackage", "w8a8", secs, [sim], "torch-sim",
                       [f"LinearQuantizer W8A8 {opts['scheme']} ({opts['observer']} observers, {len(ctx.calib)} "
                        f"images), {target}"])
        a.structure["weight_error"] = werr
        cc.check_weight_error(werr)
        arts.append(a)
        return arts
