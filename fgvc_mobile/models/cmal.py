"""CMAL-Net (Liu et al. 2023) on the tapped MobileNetV2: three experts, CAM attention regions.

Expert n covers the backbone up to tap S_n. Its descriptor follows eqs. (1)-(3):
x' = ELU(BN(Conv1x1(C_n -> C_v/2)(x_n))), x'' = ELU(BN(Conv3x3(C_v/2 -> C_v)(x'))),
v_n = GMP(x''); p_n = f_n^clf(v_n) with f^clf one fully connected layer, so that the class
activation map of eq. (4), Omega_n = sum_c W_n[k_n, c] x''_c, is exactly the map whose spatial
maximum drives the logit. p_oval = f_oval^clf([v_1; v_2; v_3]).

Attention regions (section 3.2): Omega_n is upsampled bilinearly to the input size and
min-max normalised; the overall map averages the normalised maps of the three experts (the
text of eq. 7 and the authors' release; the equation's symbol omits "norm") and is
normalised again; the box is the smallest rectangle holding every pixel strictly above the
threshold t (eq. 6), widened by ``box_padding`` of the image size on each side (the paper has
none, the release 0.1: ``region_box``); the region is that box cropped from the input and
resized to the input size.

Inference (end of section 3.3) feeds the raw input and the overall attention region through
the network and fuses the 2 x (N+1) = 8 prediction scores; ``forward_heads`` does both passes,
so ``evaluate`` measures the real pipeline; training steps run single passes through
``forward_train(x, heads, maps)``. The fused score is the *sum* of the eight
logit vectors (the paper averages; the argmax is the same).

Deployment: ``forward_rule(x, "fusion")`` is ONE graph that runs the network twice - pass 1
on the input gives the raw logits and the overall attention box, the input is cropped to the
box and resized back to H x W *inside the graph* (``models/regions.crop_resize``: gathers and
a bilinear blend with half-pixel centres, as ``F.interpolate(align_corners=False)``), pass 2
classifies the crop, and the eight logit vectors are summed. So an exported CMAL model takes
one image and returns one logits vector like every other artifact: the harness and the Android
app run it unchanged, and its measured latency is honestly that of both passes plus the crop.
``backbone_passes("fusion") == 2`` is written into each manifest's ``pipeline``. The rules
``raw`` (pass 1 only) and ``concat`` are single-pass graphs of the same model.

Classifiers: ``classifier="linear"`` is eq. (4)'s single fully connected layer on the raw
max-pooled descriptor. On MobileNetV2 its losses blow up within the first epoch (the max-pooled
ELU maps are unnormalised; benchmarks/results/recipe_stability.md). ``classifier="release"`` is the authors' release: BN1d -> FC(hidden) -> BN1d -> ELU
-> FC, which normalises the descriptor (the recipe's default). Its CAM weight for class k is the
classifier's linear part, W2[k] diag(s2) W1 diag(s1) with s the BatchNorm scales (the release
multiplies W2[k] W1 and ignores the BatchNorms); with the scales in, the map is the same before
and after the exporter folds the BatchNorms into the FC layers.
"""

from __future__ import annotations

import torch
from torch import nn

from fgvc_mobile.models.fgvc import FGVCModel
from fgvc_mobile.models.regions import crop_resize, mask_box, minmax_normalize, pad_boxes, upsample_maps

RAW_HEADS = ("expert1", "expert2", "expert3", "concat")
CROP_HEADS = tuple(f"crop_{h}" for h in RAW_HEADS)


CLASSIFIERS = ("linear", "release")


def make_classifier(kind: str, cin: int, num_classes: int, hidden: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(cin, num_classes)
    if kind == "release":
        return nn.Sequential(nn.BatchNorm1d(cin), nn.Linear(cin, hidden), nn.BatchNorm1d(hidden), nn.ELU(inplace=True),
                             nn.Linear(hidden, num_classes))
    raise ValueError(f"cmal classifier must be one of {CLASSIFIERS}, got {kind!r}")


def cam_weights(clf: nn.Module, k: torch.Tensor) -> torch.Tensor:
    """[B, C_v]: the rows of the classifier's linear part for classes ``k`` (ELU and shifts ignored).

    Walks the layers from the output back: a Linear multiplies, a BatchNorm scales by its running
    gamma / sqrt(var + eps); anything else (ELU, Identity left by BN folding) passes through.
    """
    layers = list(clf) if isinstance(clf, nn.Sequential) else [clf]
    *rest, last = layers
    w = last.weight[k]
    for m in reversed(rest):
        if isinstance(m, nn.Linear):
            w = w @ m.weight
        elif isinstance(m, nn.BatchNorm1d):
            w = w * (m.weight / torch.sqrt(m.running_var + m.eps))
    return w


def conv_bn_elu(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ELU(inplace=True))


SMOOTHS = ("full", "dwsep")


class ExpertDescriptor(nn.Module):
    """F_n of eqs. (1)-(3) without the pooling: returns the map x'' [B, C_v, h, w].

    ``smooth="dwsep"`` makes the 3x3 C_v/2 -> C_v conv depthwise 3x3 + pointwise 1x1 (each with
    BN and ELU) and ``stride`` > 1 strides the 3x3: the phone preset's cost knobs (the dense 3x3
    on S1, stride 8, is most of CMAL's MACs). The map stays the input of the max pooling and of
    the CAM, so attention and deployment are unchanged.
    """

    def __init__(self, cin: int, descriptor: int, smooth: str = "full", stride: int = 1):
        super().__init__()
        if smooth not in SMOOTHS:
            raise ValueError(f"cmal smooth must be one of {SMOOTHS}, got {smooth!r}")
        half = descriptor // 2
        self.reduce = conv_bn_elu(cin, half, 1)
        if smooth == "full":
            self.expand = conv_bn_elu(half, descriptor, 3, stride)
        else:
            self.expand = nn.Sequential(conv_bn_elu(half, half, 3, stride, groups=half), conv_bn_elu(half, descriptor, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.reduce(x))


class CMALModel(FGVCModel):
    """Three experts on S1/S2/S3 plus the concatenation classifier; ``forward_heads`` = two-pass fusion."""

    arch = "mobilenetv2-cmal"
    inference_rules = {
        "fusion": RAW_HEADS + CROP_HEADS,
        "raw": RAW_HEADS,
        "concat": ("concat",),
    }

    def __init__(self, num_classes: int, width_mult: float = 1.0, descriptor: int = 640, threshold: float = 0.5,
                 classifier: str = "linear", hidden: int = 512, box_padding: float = 0.0, smooth: str = "full",
                 tap_stride: int | tuple[int, ...] = 1):
        super().__init__(num_classes, width_mult)
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"cmal threshold t must be in [0, 1), got {threshold}")
        if not 0.0 <= box_padding <= 0.5:
            raise ValueError(f"cmal box_padding must be in [0, 0.5], got {box_padding}")
        self.threshold, self.box_padding = float(threshold), float(box_padding)
        chs = [t.num_chs for t in self.backbone.feature_info]
        strides = (tap_stride,) * len(chs) if isinstance(tap_stride, int) else tuple(tap_stride)
        if len(strides) != len(chs) or not all(isinstance(s, int) and s >= 1 for s in strides):
            raise ValueError(f"cmal tap_stride must be an int >= 1 or {len(chs)} of them, got {tap_stride!r}")
        self.experts = nn.ModuleList(ExpertDescriptor(c, descriptor, smooth, st) for c, st in zip(chs, strides))
        self.classifiers = nn.ModuleList(make_classifier(classifier, descriptor, num_classes, hidden) for _ in chs)
        self.concat_classifier = make_classifier(classifier, len(chs) * descriptor, num_classes, hidden)

    # ---- one pass ---------------------------------------------------------------------------
    def single(self, x: torch.Tensor, heads: tuple[str, ...] = RAW_HEADS, return_maps: bool = False):
        """Logits of ``heads`` for one input; only the backbone stages they need are run.

        With ``return_maps`` also returns the expert maps x''_n (for the CAMs of eq. 4).
        """
        n_exp = len(self.experts)
        wanted = {int(h[len("expert"):]) - 1 for h in heads if h.startswith("expert")}
        if "concat" in heads or return_maps:
            wanted = set(range(n_exp))
        maps: list[torch.Tensor | None] = [None] * n_exp
        for i, stage in enumerate(self.backbone.stages[: max(wanted) + 1]):
            x = stage(x)
            if i in wanted:
                maps[i] = self.experts[i](x)
        vs = [m.amax(dim=(2, 3)) if m is not None else None for m in maps]  # global max pooling
        out = {f"expert{i + 1}": self.classifiers[i](vs[i]) for i in sorted(wanted) if f"expert{i + 1}" in heads}
        if "concat" in heads:
            out["concat"] = self.concat_classifier(torch.cat(vs, dim=1))
        return (out, maps) if return_maps else out

    # ---- attention regions (section 3.2) -------------------------------------------------------
    def class_activation_maps(self, maps: list[torch.Tensor], logits: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Eq. (4): Omega_n = sum_c W_n[k_n, c] x''_n^c for the class k_n that expert n predicts."""
        cams = []
        for i, (m, clf) in enumerate(zip(maps, self.classifiers)):
            k = logits[f"expert{i + 1}"].argmax(dim=1)
            w = cam_weights(clf, k)  # [B, C_v]
            cams.append(torch.einsum("bc,bchw->bhw", w, m))
        return cams

    def attention_maps(self, cams: list[torch.Tensor], size: tuple[int, int]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Normalised upsampled maps of every expert (eq. 5) and the normalised overall map (eq. 7)."""
        norm = [minmax_normalize(upsample_maps(c, size)) for c in cams]
        overall = minmax_normalize(torch.stack(norm).mean(dim=0))
        return norm, overall

    def pass1(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Raw-input logits and the overall attention box [B, 4] (x0, y0, x1, y1), end-exclusive."""
        out, maps = self.single(x, return_maps=True)
        _, overall = self.attention_maps(self.class_activation_maps(maps, out), tuple(x.shape[-2:]))
        return out, self.region_box(overall)

    def region_box(self, attention: torch.Tensor) -> torch.Tensor:
        """Box [B, 4] of a normalised attention map: above the threshold, padded by ``box_padding``."""
        h, w = attention.shape[-2:]
        return pad_boxes(mask_box(attention > self.threshold), self.box_padding, h, w)

    def fuse(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both passes: raw heads and ``crop_*`` heads on the overall attention region."""
        out, box = self.pass1(x)
        crop = self.single(crop_resize(x, box))
        out.update({f"crop_{k}": v for k, v in crop.items()})
        return out

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.fuse(x)

    def forward_rule(self, x: torch.Tensor, rule: str | None = None) -> torch.Tensor:
        """Logits of ``rule`` as one graph; ``fusion`` includes the crop and the second pass, the
        others one pass (equal to ``combine(forward_heads(x), rule)``)."""
        rule = rule or self.default_rule
        return self.combine(self.fuse(x) if rule == "fusion" else self.single(x, self.inference_rules[rule]), rule)

    def forward_train(self, x: torch.Tensor, heads: tuple[str, ...] = RAW_HEADS, maps: bool = False):
        """One pass of the training steps: logits of ``heads`` (and the expert maps with ``maps``)."""
        return self.single(x, heads, maps)

    def backbone_passes(self, rule: str) -> int:
        """``fusion`` runs the backbone on the input and on its attention crop."""
        return 2 if rule == "fusion" else 1
