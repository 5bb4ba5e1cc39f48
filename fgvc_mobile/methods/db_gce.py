"""DB + GCE (Sun et al. 2020): diversification block in training, gradient-boosting cross-entropy.

One step per batch. The diversification block lives in the model and is active in training
mode only (``models/diversification.py``); the loss is ``ctx.criterion``, which for this recipe
defaults to GCE over the top k = 15 negatives (``{"loss": "ce"}`` gives the DB-only ablation).
GCE is available to every recipe through the common ``loss`` / ``gce_k`` options.
"""

from __future__ import annotations

from fgvc_mobile.methods.base import Recipe, register


@register
class DBGCE(Recipe):
    name = "db-gce"
    arch = "mobilenetv2-db"
    description = "DB + GCE (Sun et al. 2020): peak/patch suppression of class activation maps in training, top-k negatives loss"
    model_defaults = {"width_mult": 1.0, "p_peak": 0.5, "p_patch": 0.5, "grid": 2, "alpha": 0.1}
    option_defaults = {"loss": "gce", "gce_k": 15}

    def training_steps(self, model, images, labels, ctx):
        with ctx.autocast():
            loss = ctx.criterion(model(images)["classifier"], labels)
        yield "loss", loss
