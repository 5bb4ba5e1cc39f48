"""Progressive multi-granularity training, shared by RMG-PMSI and PMG.

Every batch runs four steps, each its own forward/backward/step: three views of decreasing
granularity (recursive mosaics or jigsaws) train the stage-1, -2, -3 classifiers, the original
image trains the concat classifier with weight 2. Subclasses only say how a view is made.
"""

from __future__ import annotations

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.base import Recipe
from fgvc_mobile.models.fgvc import PMSIModel
from fgvc_mobile.models.presets import PMSI_HEAD_PRESETS

PHASE_HEADS = ("aux_stage1", "aux_stage2", "aux_stage3", "concat")


class ProgressiveRecipe(Recipe):
    #: the option holding one granularity per phase (e.g. RMG levels, jigsaw sizes)
    schedule_key = "levels"
    model_defaults = {
        "width_mult": 1.0,
        "feature_size": 320,
        "descriptor": 640,
        "smooth": "full",
        "tap_stride": 1,
        "msi": True,
    }
    model_presets = PMSI_HEAD_PRESETS

    def build_model(self, num_classes, **kw):
        return PMSIModel(num_classes, **self.resolve_model_kwargs(kw))

    def step_names(self, options):
        return [f"phase{i + 1}" for i in range(len(options[self.schedule_key]))]

    def check_schedule(self, options) -> None:
        if not len(options[self.schedule_key]) == len(options["loss_weights"]) == len(PHASE_HEADS):
            raise FGVCError(
                f"--method {self.name}: {self.schedule_key} and loss_weights need {len(PHASE_HEADS)} entries each"
            )

    def augment(self, images, granularity, ctx):
        raise NotImplementedError

    def training_steps(self, model, images, labels, ctx):
        schedule, weights = ctx.options[self.schedule_key], ctx.options["loss_weights"]
        for i, (g, head, w) in enumerate(zip(schedule, PHASE_HEADS, weights)):
            x = self.augment(images, g, ctx)
            with ctx.autocast():
                loss = w * ctx.criterion(model(x)[head], labels)
            yield f"phase{i + 1}", loss
