"""Progressive multi-granularity training, shared by RMG-PMSI and PMG.

Every batch runs four steps, each its own forward/backward/step: three views of decreasing
granularity (recursive mosaics or jigsaws) train the stage-1, -2, -3 classifiers, the original
image trains the concat classifier with weight 2. Subclasses only say how a view is made.
"""

from __future__ import annotations

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods.base import Recipe
from fgvc_mobile.methods.losses import kd_loss
from fgvc_mobile.models.fgvc import TWIN
from fgvc_mobile.models.presets import PMSI_HEAD_PRESETS

PHASE_HEADS = ("aux_stage1", "aux_stage2", "aux_stage3", "concat")

#: options of a model with a twin head set (``--model '{"twin": "light"}'``): in the last phase its
#: concat classifier also learns the released concat classifier's (detached) soft predictions,
#: ``twin_kd`` * T^2 * KL at T = ``twin_temperature`` (0 turns it off); every phase also trains the
#: twin's classifier of that phase on the labels, with the phase's loss weight
TWIN_OPTIONS = {"twin_kd": 1.0, "twin_temperature": 2.0}


class ProgressiveRecipe(Recipe):
    #: the option holding one granularity per phase (e.g. RMG levels, jigsaw sizes)
    arch = "mobilenetv2-pmsi"
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

    def resolve_model_kwargs(self, model_kwargs):
        """Also expands ``twin`` (a preset name, or head keys with an optional ``preset``)."""
        kw = super().resolve_model_kwargs(model_kwargs)
        twin = kw.get("twin")
        if twin:
            given = {"preset": twin} if isinstance(twin, str) else dict(twin)
            preset = given.pop("preset", None)
            if preset is not None and preset not in self.model_presets:
                raise FGVCError(f"--model twin preset {preset!r}: --method {self.name} has presets "
                                f"{sorted(self.model_presets)}")
            kw["twin"] = {**(self.model_presets[preset] if preset else {}), **given}
        return kw

    def resolve_options(self, options):
        opts = super().resolve_options(options)
        if not float(opts["twin_temperature"]) > 0 or float(opts["twin_kd"]) < 0:
            raise FGVCError(f"--method {self.name}: twin_temperature must be > 0 and twin_kd >= 0, got "
                            f"{opts['twin_temperature']} and {opts['twin_kd']}")
        return opts

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
                out = model(x)
                loss = w * ctx.criterion(out[head], labels)
                if TWIN + head in out:  # the twin head set learns the same phase
                    loss = loss + w * ctx.criterion(out[TWIN + head], labels)
                    if head == "concat" and ctx.options["twin_kd"]:
                        loss = loss + ctx.options["twin_kd"] * kd_loss(
                            out[TWIN + head], out[head].detach(), ctx.options["twin_temperature"])
            yield f"phase{i + 1}", loss
