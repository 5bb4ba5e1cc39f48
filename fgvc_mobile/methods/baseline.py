"""The baseline to beat: plain MobileNetV2 fine-tuning with cross-entropy."""

from __future__ import annotations

from fgvc_mobile.methods.base import Recipe, register
from fgvc_mobile.models.fgvc import BaselineMobileNetV2


@register
class Baseline(Recipe):
    name = "baseline"
    description = "plain MobileNetV2 fine-tune (avg pool + linear), one cross-entropy step per batch"
    model_defaults = {"width_mult": 1.0, "dropout": 0.2}

    def build_model(self, num_classes, **kw):
        return BaselineMobileNetV2(num_classes, **self.resolve_model_kwargs(kw))

    def training_steps(self, model, images, labels, ctx):
        with ctx.autocast():
            loss = ctx.criterion(model(images)["classifier"], labels)
        yield "loss", loss
