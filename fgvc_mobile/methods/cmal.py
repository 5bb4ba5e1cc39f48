"""CMAL-Net's multi-step mutual learning (Liu et al. 2023, Algorithm 1): N + 2 = 5 steps per batch.

1. the deepest expert e_3 on the raw input; the same forward gives every expert's attention
   region A_1..A_3 and the overall region A_oval (computed before this step's update, detached);
2. e_2, then 3. e_1, each on one input drawn uniformly (one draw per batch) from the raw input
   and the regions of the *other* experts (mutual data augmentation);
4. all experts and the concatenation on A_oval: sum of the four cross-entropies;
5. the concatenation on the raw input.
Every step is its own forward, backward and optimizer step. Loss weights are all 1, as in the
paper (the authors' release doubles the concat terms; we do not). Boxes are padded by 10% of the
image on each side, as in the release (``box_padding``).
"""

from __future__ import annotations

import torch

from fgvc_mobile.methods.base import Recipe, fraction_option, register, unwrap
from fgvc_mobile.models.cmal import RAW_HEADS, CMALModel
from fgvc_mobile.models.regions import crop_resize


@register
class CMAL(Recipe):
    name = "cmal"
    arch = "mobilenetv2-cmal"
    description = (
        "CMAL-Net (Liu et al. 2023): experts on S1/S2/S3, CAM attention regions as mutual data augmentation, "
        "5 steps per batch, raw + attention-region fusion at test time (two passes)"
    )
    # classifier "release": BN1d-FC-BN1d-ELU-FC as in the authors' code (the paper's bare FC diverges on
    # MobileNetV2, models/cmal.py); box_padding 0.1 as the release. Checkpoints that predate an option
    # record no value for it and load with the model's own default (bare FC, no padding)
    model_defaults = {"width_mult": 1.0, "descriptor": 640, "threshold": 0.5, "classifier": "release", "hidden": 512,
                      "box_padding": 0.1}
    #: ``phone``: a narrower descriptor and hidden layer, depthwise-separable 3x3 in every expert, the
    #: 3x3 strided on S1 and S2 (docs/methods.md has the MACs: fusion 2.16x, raw 1.08x MobileNetV2 at 224 px)
    model_presets = {"phone": {"descriptor": 256, "hidden": 256, "smooth": "dwsep", "tap_stride": [2, 2, 1]}}

    #: head_lr_scale: the heads' learning rate is the run's lr * head_lr_mult times this (docs/methods.md)
    option_defaults = {"head_lr_scale": 0.5}

    def resolve_options(self, options):
        opts = super().resolve_options(options)
        fraction_option(opts, "head_lr_scale", low_open=True)
        return opts

    def head_lr_scale(self, options):
        """Every head takes two optimizer steps per batch (expert n: its own and the attention step;
        concat: the attention and the concat step), a PMSI head one: at the same per-step rate the
        heads would move twice as far per batch. 0.5 restores the per-batch rate that ``head_lr_mult``
        was set for; at 1 the deepest expert's loss rises again in the second epoch (docs/methods.md)."""
        return float(options["head_lr_scale"])

    def step_names(self, options):
        return ["expert3", "expert2", "expert1", "attention", "concat"]

    @staticmethod
    @torch.no_grad()
    def attention_regions(net: CMALModel, images, out, maps):
        """(A_1..A_N, A_oval): each expert's region and the overall region, cropped and resized."""
        logits = {k: v.detach().float() for k, v in out.items()}
        cams = net.class_activation_maps([m.detach().float() for m in maps], logits)
        norm, overall = net.attention_maps(cams, tuple(images.shape[-2:]))
        regions = [crop_resize(images, net.region_box(m)) for m in norm]
        return regions, crop_resize(images, net.region_box(overall))

    def training_steps(self, model, images, labels, ctx):
        net = unwrap(model)
        n_exp = len(net.experts)
        with ctx.autocast():
            out, maps = model(images, heads=RAW_HEADS, maps=True)  # forward_train
            loss = ctx.criterion(out[f"expert{n_exp}"], labels)
        regions, region_oval = self.attention_regions(net, images, out, maps)
        del maps
        yield f"expert{n_exp}", loss

        for n in range(n_exp - 1, 0, -1):
            pool = [images] + [r for j, r in enumerate(regions) if j != n - 1]
            x = pool[int(torch.randint(len(pool), (), generator=ctx.generator))]
            head = f"expert{n}"
            with ctx.autocast():
                loss = ctx.criterion(model(x, heads=(head,))[head], labels)
            yield head, loss

        with ctx.autocast():
            out = model(region_oval, heads=RAW_HEADS)
            loss = sum(ctx.criterion(out[h], labels) for h in RAW_HEADS)
        yield "attention", loss

        with ctx.autocast():
            loss = ctx.criterion(model(images, heads=("concat",))["concat"], labels)
        yield "concat", loss
