"""The baseline to beat: plain MobileNetV2 fine-tuning with cross-entropy."""

from __future__ import annotations

from fgvc_mobile.methods.base import Recipe, register


@register
class Baseline(Recipe):
    name = "baseline"
    arch = "mobilenetv2"
    description = "plain MobileNetV2 fine-tune (avg pool + linear), one cross-entropy step per batch"
    model_defaults = {"width_mult": 1.0, "dropout": 0.2}

    def training_steps(self, model, images, labels, ctx):
        with ctx.autocast():
            loss = ctx.criterion(model(images)["classifier"], labels)
        yield "loss", loss
