"""RMG-PMSI: Recursive Mosaic Generator + Progressive Multi-Stage Interaction training.

Every batch runs four phases, each its own forward/backward/step (docs/rmg-pmsi.md):
RMG r=3 -> aux_stage1, r=2 -> aux_stage2, r=1 -> aux_stage3, original -> concat (weight 2).
Lighter heads for phones are presets of this same recipe (``--model '{"preset": "light"}'``,
models/presets.py).
"""

from __future__ import annotations

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.base import Recipe, register
from fgvc_mobile.models.fgvc import PMSIModel
from fgvc_mobile.models.presets import PMSI_HEAD_PRESETS
from fgvc_mobile.rmg import recursive_mosaic

PHASE_HEADS = ("aux_stage1", "aux_stage2", "aux_stage3", "concat")


@register
class RMGPMSI(Recipe):
    name = "rmg-pmsi"
    description = "RMG-PMSI (Wu et al. 2022): recursive mosaics r=3,2,1,0, MSI-gated stage heads, 4 steps per batch"
    model_defaults = {
        "width_mult": 1.0,
        "feature_size": 320,
        "descriptor": 640,
        "smooth": "full",
        "tap_stride": 1,
        "msi": True,
    }
    option_defaults = {"levels": [3, 2, 1, 0], "loss_weights": [1.0, 1.0, 1.0, 2.0], "per_image": False}
    model_presets = PMSI_HEAD_PRESETS

    def build_model(self, num_classes, **kw):
        return PMSIModel(num_classes, **self.resolve_model_kwargs(kw))

    def step_names(self, options):
        return [f"phase{i + 1}" for i in range(len(options["levels"]))]

    def check_input_size(self, input_size, options):
        r = max(options["levels"])
        if input_size % (2**r):
            raise FGVCError(
                f"--img-size {input_size}: {self.name} needs a size divisible by 2^{r} = {2**r} (RMG r={r})"
            )

    def augment(self, images, level, ctx):
        return recursive_mosaic(images, level, per_image=ctx.options["per_image"], generator=ctx.generator)

    def training_steps(self, model, images, labels, ctx):
        levels, weights = ctx.options["levels"], ctx.options["loss_weights"]
        for i, (level, head, w) in enumerate(zip(levels, PHASE_HEADS, weights)):
            x = self.augment(images, level, ctx)
            with ctx.autocast():
                loss = w * ctx.criterion(model(x)[head], labels)
            yield f"phase{i + 1}", loss
