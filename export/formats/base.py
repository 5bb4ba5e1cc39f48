"""What every format module implements, and what its build and its sessions share.

A :class:`Format` declares its options (``-O FORMAT.NAME=VALUE``, checked before anything is
converted, so a typo fails in a second, not after a five-minute conversion), its validation
tolerance per precision (optimum's lesson: every export states how it is judged), and:

* ``build_float(ctx, opts) -> ([Artifact], state)``: convert and evaluate inside ``ctx.workdir``;
* ``build_int8(ctx, opts, state) -> [Artifact]``: quantize the float conversion ``state`` with
  one int8 recipe (the options) and evaluate; ``int8_recipes`` lists the recipes ``--int8 auto``
  tries, cheapest first (each a dict of option overrides), which are also the fixes a refusal
  suggests;
* ``open(path, contract, threads=1, **runtime) -> Session``: the one way to run a file of the format;
* ``io_info(path)``, ``read_metadata(path)``: what the file declares about itself.

A :class:`Session` runs inputs already prepared by its :class:`Contract` (``session.contract``,
reconciled with what the loaded model reports) and returns decoded float scores.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.calibration import ImageSet
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.export.deploy import DeployModel, InputKind
from fgvc_mobile.export.stages import StageTimes
from fgvc_mobile.export.validate import Evaluation, evaluate, top1_accuracy

#: validation images the per-layer int8 error is measured on (every tensor of both models is kept per image)
DIAGNOSTIC_IMAGES = 8
#: images per call when a session validates (a runtime that cannot batch says so in ``set_batch``)
VALIDATION_BATCH = 32


@dataclass(frozen=True)
class Option:
    name: str
    default: object
    choices: tuple | None = None  # None: any value of the default's type
    help: str = ""

    def parse(self, fmt: str, raw: str):
        key = f"{fmt}.{self.name}"
        if isinstance(self.default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise FGVCError(f"-O {key}={raw}: expected true or false")
            value = raw.lower() in ("true", "1", "yes")
        elif isinstance(self.default, int):
            try:
                value = int(raw)
            except ValueError:
                raise FGVCError(f"-O {key}={raw}: expected an integer") from None
        else:
            value = raw
        if self.choices is not None and value not in self.choices:
            raise FGVCError(f"-O {key}={raw}: choose one of {', '.join(map(str, self.choices))}")
        return value


class Probabilities(torch.nn.Module):
    """``net``'s logits -> softmax probabilities (what TFLite and CoreML artifacts output)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


class Session:
    """A loaded model: ``run(prepared inputs) -> decoded float scores (N, C)``."""

    contract: Contract

    def set_batch(self, n: int) -> int:
        """Prepare for batches of up to ``n``; return the batch size this session can take."""
        return n

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def predict(self, images: np.ndarray, batch: int = 1) -> np.ndarray:
        """Decoded scores for uint8 NHWC ``images``, ``batch`` at a time (1: as a phone runs it)."""
        bs = max(1, self.set_batch(batch))
        outs = [self.run(self.contract.prepare(images[i : i + bs])) for i in range(0, len(images), bs)]
        return np.concatenate(outs) if outs else np.zeros((0, 0))


class Format:
    """One export format; subclasses fill in the class attributes and the methods."""

    name = ""
    suffix = ""  # the artifact's file (or folder) suffix
    float_artifacts = ""  # what the float export writes (for --list-formats)
    int8_artifacts = ""  # what --int8 adds
    options: tuple[Option, ...] = ()
    #: precision -> max relative logit error of a float artifact (None: judged by the int8 accuracy gate)
    tolerances: dict[str, float | None] = {}
    runtime_module, package = "", ""  # imported to run the format here; the distribution that provides it
    requires: tuple[str, ...] = ()  # top-level modules its build imports (checked before any work)
    int8_recipes: tuple[dict, ...] = ({},)  # option overrides, cheapest first: the ``--int8 auto`` ladder
    #: an int8 precision whose refusal leaves another of the same format in its place (CoreML W8A8 -> int8 weights)
    fallback: dict[str, str] = {}

    @property
    def suffixes(self) -> tuple[str, ...]:
        return (self.suffix,)

    def option(self, name: str) -> Option:
        for o in self.options:
            if o.name == name:
                return o
        raise FGVCError(f"-O {self.name}.{name}: unknown option; {self.name} accepts "
                        f"{', '.join(o.name for o in self.options)}")

    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}

    def check_installed(self) -> None:
        """Raise ModuleNotFoundError (named, for the CLI's install hint) before a build that would fail late."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    def unavailable_reason(self, **runtime) -> str | None:
        """None when files of this format can run here, else a one-line reason."""
        try:
            __import__(self.runtime_module)
        except ImportError:
            return f"{self.package} is not installed (pip install 'fgvc-mobile[export]')"
        return None

    def build_float(self, ctx: BuildContext, opts: dict) -> tuple[list[Artifact], object]:
        raise NotImplementedError

    def build_int8(self, ctx: BuildContext, opts: dict, state) -> list[Artifact]:
        raise NotImplementedError

    def recipe_options(self, recipe: dict) -> str:
        """``{"calibrate": "percentile"}`` -> ``-O onnx.calibrate=percentile``."""
        return " ".join(f"-O {self.name}.{k}={v}" for k, v in recipe.items())

    def int8_fixes(self, opts: dict) -> list[str]:
        """The recipes of the ladder that ``opts`` does not already apply, as options to pass."""
        return [self.recipe_options(r) for r in self.int8_recipes
                if r and any(opts.get(k) != v for k, v in r.items())]

    def open(self, path, contract: Contract, threads: int = 1, **runtime) -> Session:
        raise NotImplementedError

    def io_info(self, path) -> tuple[dict, dict]:
        """(input, output) as the file declares them: name, dtype, shape (and quantization)."""
        raise NotImplementedError

    def read_metadata(self, path) -> dict[str, str]:
        raise NotImplementedError


@dataclass
class BuildContext:
    deploy: DeployModel
    pre: PreprocessConfig
    kind: InputKind
    classes: list[str]
    workdir: Path
    val: ImageSet
    ref_logits: np.ndarray
    calib: ImageSet | None  # None: no int8 artifacts
    stage: StageTimes = field(default_factory=StageTimes)  # ``with ctx.stage("onnx fp32: convert"):``
    _prepared: dict = field(default_factory=dict, repr=False)  # (images, contract) -> prepared inputs

    @property
    def size(self) -> int:
        return self.pre.input_size

    @property
    def contract(self) -> Contract:
        """What the converted graph takes (the chosen ``--input`` kind), logits out."""
        return Contract(self.kind.layout, self.kind.dtype, self.kind.normalization_in_graph, self.pre)

    @property
    def ref_top1(self) -> float:
        return top1_accuracy(self.ref_logits, self.val.labels)

    def prepared(self, which: str, contract: Contract | None = None) -> np.ndarray:
        """``"val"``, ``"calib"`` or ``"diagnostic"`` images as ``contract`` (default: the graph's) takes
        them, prepared once per export and shared by every format, precision and recipe (never modify them)."""
        c = contract or self.contract
        key = (which, repr(c))
        if key not in self._prepared:
            images = {"val": self.val.images, "calib": self.calib.images if self.calib else None,
                      "diagnostic": self.val.images[:DIAGNOSTIC_IMAGES]}[which]
            self._prepared[key] = c.prepare(images)
        return self._prepared[key]

    def val_inputs(self) -> np.ndarray:
        return self.prepared("val")

    def calib_inputs(self) -> np.ndarray:
        return self.prepared("calib")

    def diagnostic_inputs(self) -> np.ndarray:
        """The few validation images the per-layer int8 diagnostics run on (as the graph takes them)."""
        return self.prepared("diagnostic")

    def example(self) -> torch.Tensor:
        return torch.from_numpy(self.contract.prepare(self.val.images[:1]))

    def evaluate(self, name: str, how: str, scores: np.ndarray, probabilities: bool = False, note: str = "") -> Evaluation:
        return evaluate(name, how, scores, self.ref_logits, self.val.labels, probabilities, note)

    def input_fields(self, name: str, dtype: str | None = None, quant: dict | None = None) -> dict:
        """The manifest's ``input`` for this build's input kind (dtype and quantization as the file has them)."""
        k = self.kind
        return {"name": name, "layout": k.layout, "dtype": dtype or k.dtype, "shape": k.shape(self.size),
                "normalization_in_graph": k.normalization_in_graph, "quantization": quant}

    def artifact_contract(self, inp: dict, out: dict) -> Contract:
        """How to feed and read an artifact whose manifest will carry ``inp`` and ``out``."""
        return Contract.from_manifest({"input": inp, "output": out, "preprocess": self.pre.to_dict()})


@dataclass
class Artifact:
    file: str
    fmt: str
    precision: str
    input: dict
    output: dict
    seconds: float
    evaluations: list[Evaluation]
    gate: str  # name of the evaluation the gate uses
    embed: Callable[[dict[str, str]], None]  # write metadata entries into the file (graph untouched)
    open_session: Callable[[], Session] | None = None  # the file (re-read from disk) in a 1-thread session
    structure: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    layers: list[dict] = field(default_factory=list)  # int8: per-tensor error vs fp32, graph order (layer_errors.py)
    recipe: dict | None = None  # int8: the recipe (options) it was quantized with, and what choosing it cost

    @property
    def int8(self) -> bool:
        return self.precision not in ("fp32", "fp16")

    def gating(self) -> Evaluation:
        return next(e for e in self.evaluations if e.name == self.gate)
