"""A method is a recipe: its model heads, its training steps per batch, its inference rule.

The trainer knows nothing method-specific: for every batch it asks the recipe for a sequence
of (step name, loss) pairs and runs backward + optimizer step for each (PMSI's four phases are
four steps). Recipes register themselves under the names users type (``--method rmg-pmsi``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.losses import make_criterion
from fgvc_mobile.models.fgvc import FGVCModel
from fgvc_mobile.models.registry import create_model


@dataclass
class StepContext:
    """What a recipe may use while producing its training steps."""

    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator: torch.Generator  # seeded per epoch: RMG/jigsaw draws are reproducible on resume
    epoch: int
    options: dict = field(default_factory=dict)
    autocast: Callable = None  # context manager factory for AMP (nullcontext on CPU)
    state: dict = field(default_factory=dict)  # what ``Recipe.setup`` made for this run (e.g. a teacher)
    epochs: int = 1  # of the whole run: recipes with schedules (ELoPE's crop_from) read fractions of it


#: options every recipe accepts: the loss behind ``ctx.criterion`` (``gce``: gradient-boosting
#: cross-entropy over the top ``gce_k`` negatives, methods/losses.py) and, for gce, the fraction of
#: the run trained with plain cross-entropy first (``gce_from``; the paper's ImageNet run: 0.5)
COMMON_OPTIONS = {"loss": "ce", "gce_k": 15, "gce_from": 0.0}


class Recipe:
    """Base recipe. Subclasses set ``name`` and implement ``build_model`` and ``training_steps``."""

    name: str = ""
    description: str = ""
    #: the model it trains, by its name in ``models/registry.py``
    arch: str = ""
    #: default model keyword arguments (overridable per run via ``model`` options)
    model_defaults: dict = {}
    #: default method options (e.g. RMG levels); overridable via ``method_options``
    option_defaults: dict = {}
    #: named model configurations, selected by ``model: {preset: NAME}``; explicit keys override
    model_presets: dict[str, dict] = {}
    #: whether the steps accept soft (mixup/cutmix) targets: False where labels index something
    soft_targets: bool = True

    def build_model(self, num_classes: int, **model_kwargs) -> FGVCModel:
        """``arch`` with the recipe's model defaults under ``model_kwargs``."""
        return create_model(self.arch, num_classes, self.resolve_model_kwargs(model_kwargs), f"--method {self.name}")

    def training_steps(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, ctx: StepContext
    ) -> Iterator[tuple[str, torch.Tensor]]:
        raise NotImplementedError

    def setup(self, model: nn.Module, cfg, device: torch.device, classes: list[str]) -> dict:
        """Per-run resources made once before training (handed to the steps as ``ctx.state``).

        Called by the trainer after the model is built and on ``device``, before a resume loads
        its weights; ``cfg`` is the run's TrainConfig. Default: nothing. Raise FGVCError on bad input.
        """
        return {}

    def check_input_size(self, input_size: int, options: dict) -> None:
        """Raise FGVCError when the input size cannot work with this recipe's augmentations."""

    def step_names(self, options: dict) -> list[str]:
        """Names of the steps per batch, for logging; default: one step called 'loss'."""
        return ["loss"]

    def resolve_options(self, options: dict | None) -> dict:
        opts = {**COMMON_OPTIONS, **self.option_defaults}
        unknown = set(options or {}) - set(opts)
        if unknown:
            raise FGVCError(
                f"--method {self.name}: unknown method option(s) {sorted(unknown)}; known: {sorted(opts)}"
            )
        opts.update(options or {})
        self.criterion(opts)  # validates loss / gce_k now, not at the first batch
        return opts

    def head_lr_scale(self, options: dict) -> float:
        """Factor on the run's head learning rate (``lr * head_lr_mult``) for this recipe; default 1."""
        return 1.0

    def criterion(self, options: dict, label_smoothing: float = 0.0, epoch: int = 0, epochs: int = 1):
        """The classification loss of ``epoch`` handed to the steps as ``ctx.criterion`` (option
        ``loss``: ce | gce; gce is cross-entropy before ``gce_from`` of the run's ``epochs``)."""
        loss = make_criterion(options["loss"], options["gce_k"], label_smoothing)
        g = fraction_option(options, "gce_from")
        if options["loss"] == "gce" and epoch < g * epochs:
            return make_criterion("ce")
        return loss

    def resolve_model_kwargs(self, model_kwargs: dict | None) -> dict:
        """defaults < preset (if ``preset`` is given) < explicit keys; the result names no preset."""
        given = dict(model_kwargs or {})
        kw = dict(self.model_defaults)
        preset = given.pop("preset", None)
        if preset is not None:
            if preset not in self.model_presets:
                known = sorted(self.model_presets) or "none"
                raise FGVCError(f"--model preset {preset!r}: --method {self.name} has presets {known}")
            kw.update(self.model_presets[preset])
        kw.update(given)
        return kw


def fraction_option(options: dict, key: str, low_open: bool = False) -> float:
    """``options[key]`` checked to be a number in [0, 1] ((0, 1] with ``low_open``): fractions of the
    run (``gce_from``, ELoPE's ``crop_from``) and factors (CMAL's ``head_lr_scale``)."""
    v = options[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 < v <= 1.0 if low_open else 0.0 <= v <= 1.0):
        raise FGVCError(f"--method-options {key}: a number in {'(0' if low_open else '[0'}, 1], got {v!r}")
    return float(v)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


METHODS: dict[str, Recipe] = {}


def register(recipe_cls: type[Recipe]) -> type[Recipe]:
    METHODS[recipe_cls.name] = recipe_cls()
    return recipe_cls


def get_method(name: str) -> Recipe:
    if name not in METHODS:
        raise FGVCError(f"--method {name!r}: unknown method; choose one of {sorted(METHODS)}")
    return METHODS[name]
