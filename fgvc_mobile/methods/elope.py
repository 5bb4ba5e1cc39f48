"""ELoPE training (Hanselmann & Ney 2020): L = L_CE + lambda (L_w + L_b), then the localiser.

Two steps per batch:

1. ``embedding``: the classifier with L_CE + lambda (L_w + L_b) on the l2-normalised embedding;
   the class means are updated online by the alpha rule (eqs. 6-7) after the step, from the
   batch of every process under DDP (alpha = 0.5, lambda = 2, gamma = 16, m = 0.75, Table 2);
2. ``localiser``: smooth-L1 between the localisation module's heat map and the channel mean of
   the classifier's last feature map on the *full* image (detached: no gradient reaches the
   classifier, "the weights of the trained classification model are fixed").

What the classifier sees (option ``crop_from``, a fraction of the run): before it, the full
image, while the localiser learns; from it on, the localiser's crop of the image, made exactly
as at test time (localiser in eval mode, box, crop-resize) - so the deployed ``classifier`` rule
classifies inputs like those it was trained on. ``crop_from`` 1.0 never crops (the classifier
then only ever sees full images, and the localised rule is a train/test mismatch). While it
crops, the localiser's target needs the full image's feature map: one extra no-grad backbone
pass per batch.

The GKMP weights (option ``weights_from``, a fraction of the run) stay at 1 (plain GKMP) until
then and are learned from then on: the paper learns them in a fine-tuning stage after the main
training (30 of 120 epochs: 0.75). 0 learns them from the first step.

Deviation, and why: the paper trains the localiser in a separate stage after the classifier.
Through this trainer a final stage would run at the tail of the single cosine schedule, where
the learning rate is ~0, and would need the trainer to know about stages. Training it alongside,
always against the classifier's current maps, leaves it fitted to the final classifier at the
end of the run at no extra backbone pass. The localiser is initialised from the backbone's
first layers at the first step (after the ImageNet weights are loaded); a checkpoint records
that it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fgvc_mobile.methods.base import Recipe, fraction_option, register, unwrap
from fgvc_mobile.methods.losses import class_mean_loss, global_class_means
from fgvc_mobile.models.elope import ELoPEModel


def from_epoch(fraction: float, ctx) -> bool:
    """Whether the run's current epoch is at or past ``fraction`` of its epochs (1.0: never)."""
    return ctx.epoch >= fraction * ctx.epochs


@torch.no_grad()
def localised(net: ELoPEModel, images: torch.Tensor) -> torch.Tensor:
    """The test-time crop: the localiser in eval mode (its running statistics, as deployed)."""
    was = net.localiser.training
    net.localiser.eval()
    try:
        return net.localise(images)
    finally:
        net.localiser.train(was)


@register
class ELoPE(Recipe):
    name = "elope"
    arch = "mobilenetv2-elope"
    soft_targets = False  # the class-mean loss indexes its means by label
    description = (
        "ELoPE (Hanselmann & Ney 2020): global k-max pooling, class-mean embedding loss, "
        "a light localiser that crops the input before the backbone at test time"
    )
    model_defaults = {
        "width_mult": 1.0,
        "k": 4,
        "gkmp_weights": True,
        "embedding": 512,
        "tau": 0.3,
        "loc_input": 64,
        "loc_depth": 4,
        "box": "upsampled",
    }
    #: the paper's tau per data set (Table 2): 0.3 on CUB-200-2011, 0.2 on Stanford Cars and FGVC-Aircraft
    model_presets = {"cub": {"tau": 0.3}, "cars": {"tau": 0.2}, "aircraft": {"tau": 0.2}}
    option_defaults = {"lambda": 2.0, "alpha": 0.5, "gamma": 16.0, "margin": 0.75, "crop_from": 0.5,
                       "weights_from": 0.75}

    def resolve_options(self, options):
        opts = super().resolve_options(options)
        for key in ("crop_from", "weights_from"):
            fraction_option(opts, key)
        return opts

    def step_names(self, options):
        return ["embedding", "localiser"]

    def training_steps(self, model, images, labels, ctx):
        net, o = unwrap(model), ctx.options
        if int(net.localiser_initialised) == 0:
            net.localiser.init_from(net.backbone)
            net.localiser_initialised.fill_(1)
        net.pool.learn_weights = from_epoch(o["weights_from"], ctx)
        crop = from_epoch(o["crop_from"], ctx)

        with ctx.autocast():
            out, emb, heat = model(localised(net, images) if crop else images, localiser=False)  # forward_train
            ce = ctx.criterion(out["classifier"], labels)
        f = F.normalize(emb.float(), dim=1)
        l_w, l_b, _ = class_mean_loss(f, labels, net.class_means.clone(), o["alpha"], o["gamma"], o["margin"])
        yield "embedding", ce + o["lambda"] * (l_w + l_b)
        # runs after the trainer's backward and step; the same update on every rank
        net.class_means.copy_(global_class_means(f, labels, net.class_means, o["alpha"]))

        if crop:  # the localiser learns the full image's map, as it is applied to the full image
            with torch.no_grad(), ctx.autocast():
                heat = net.forward_train(images)[2]
        with ctx.autocast():
            pred = model(images, localiser=True)
        yield "localiser", F.smooth_l1_loss(pred.float(), heat.detach().float())
