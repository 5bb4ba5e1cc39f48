"""ELoPE training (Hanselmann & Ney 2020): L = L_CE + lambda (L_w + L_b), then the localiser.

Two steps per batch:

1. ``embedding``: the classifier on the full image with L_CE + lambda (L_w + L_b) on the
   l2-normalised embedding; the class means are updated online by the alpha rule (eqs. 6-7)
   after the step (alpha = 0.5, lambda = 2, gamma = 16, m = 0.75, Table 2);
2. ``localiser``: smooth-L1 between the localisation module's heat map and the channel mean of
   the last feature map from step 1's forward (detached: no gradient reaches the classifier,
   "the weights of the trained classification model are fixed").

Deviation, and why: the paper trains the localiser in a separate stage after the classifier.
Through this trainer a final stage would run at the tail of the single cosine schedule, where
the learning rate is ~0, and would need the trainer to know about stages. Training it alongside,
always against the classifier's current maps, leaves it fitted to the final classifier at the
end of the run at no extra backbone pass. The localiser is initialised from the backbone's
first layers at the first step (after the ImageNet weights are loaded); a checkpoint records
that it was.
"""

from __future__ import annotations

import torch.nn.functional as F

from fgvc_mobile.methods.base import Recipe, register, unwrap
from fgvc_mobile.methods.losses import class_mean_loss


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
    }
    option_defaults = {"lambda": 2.0, "alpha": 0.5, "gamma": 16.0, "margin": 0.75}

    def step_names(self, options):
        return ["embedding", "localiser"]

    def training_steps(self, model, images, labels, ctx):
        net, o = unwrap(model), ctx.options
        if int(net.localiser_initialised) == 0:
            net.localiser.init_from(net.backbone)
            net.localiser_initialised.fill_(1)

        with ctx.autocast():
            out, emb, heat = model(images, localiser=False)  # forward_train (through DDP)
            ce = ctx.criterion(out["classifier"], labels)
        f = F.normalize(emb.float(), dim=1)
        l_w, l_b, means = class_mean_loss(f, labels, net.class_means.clone(), o["alpha"], o["gamma"], o["margin"])
        yield "embedding", ce + o["lambda"] * (l_w + l_b)
        net.class_means.copy_(means.detach())  # runs after the trainer's backward and step

        with ctx.autocast():
            pred = model(images, localiser=True)
        yield "localiser", F.smooth_l1_loss(pred.float(), heat.detach().float())
