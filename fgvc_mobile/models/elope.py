"""ELoPE (Hanselmann & Ney 2020) on MobileNetV2: k-max pooling, an embedding layer, a tiny localiser.

* Global k-max pooling (eqs. 2-4): per channel, the mean of the K largest activations of the
  last feature map (K = 4), optionally weighted by K learned weights w_k (initialised to 1,
  i.e. plain GKMP). K = 1 is global max pooling, K = H*W global average pooling.
* Embedding layer (section 4): Linear(1280 -> E) between pooling and the classifier; the
  classifier is Linear(E -> C) on the embedding as it comes out of the layer (the paper does
  not say whether the classifier sees the normalised vector; logits of unit vectors would need
  a temperature). The class-mean loss L_w + L_b works on the l2-normalised embedding f(x); the
  class means mu_c live in the ``class_means`` buffer so they are saved in checkpoints (the
  loss itself is in ``methods/losses.py``). Means start at zero (the paper gives no start).
* Localisation module (section 5): the input resized to 64 x 64, the first layers of
  MobileNetV2 up to the end of its first residual block (``features[:4]``, initialised from the
  backbone), a 1x1 conv to one channel, resized to the I x J grid of the last feature map. It
  learns to predict the channel mean of that feature map. At test time its heat map is min-max
  normalised and thresholded at tau; the smallest rectangle above tau is cropped from the input
  and resized back to the input size *before* the backbone. ``box="grid"`` boxes whole cells of
  the I x J map (the paper's; at 128 px a cell is 32 px, so the box moves in quarters of the
  image); ``box="upsampled"`` first upsamples the heat map bilinearly to the input size (as CAM
  boxes are made, CMAL-Net's too), so the box edge can fall on any pixel.

Rules: ``classifier`` is the paper's test-time pipeline (localiser -> box -> crop -> backbone ->
classifier, one graph, one backbone pass: the crop is a batched gather,
``models/regions.crop_resize``); ``full`` classifies the uncropped input with the same weights,
so an evaluation shows what the localiser adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

from fgvc_mobile.models.fgvc import FGVCModel
from fgvc_mobile.models.regions import crop_resize, scale_boxes, threshold_box, upsample_maps


#: how the box is read off the localiser's heat map (see the module docstring)
BOXES = ("grid", "upsampled")


class GlobalKMaxPool(nn.Module):
    """GKMP(y)_d = 1/K sum_{k<=K} w_k S_{d,k}, S_d = activations of channel d sorted descending.

    ``learn_weights`` False holds the weights where they are (no gradient reaches them): the
    paper learns them only in a fine-tuning stage after the rest of the model (section 6).
    """

    def __init__(self, k: int = 4, weighted: bool = False):
        super().__init__()
        if k < 1:
            raise ValueError(f"GKMP needs K >= 1, got {k}")
        self.k = k
        self.weights = nn.Parameter(torch.ones(k)) if weighted else None
        self.learn_weights = True

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        flat = y.flatten(2)
        k = min(self.k, flat.shape[2])  # a map smaller than K (tiny inputs) pools all of it
        top = self.top_k(flat, k)
        if self.weights is not None:
            w = self.weights if self.learn_weights else self.weights.detach()
            top = top * w[:k]
        return top.sum(dim=2) / k

    @staticmethod
    def top_k(flat: torch.Tensor, k: int) -> torch.Tensor:
        """``flat.topk(k).values`` by k rounds of argmax-and-mask.

        Same values and gradients as ``topk``, but built from argmax / equal / select, which every
        exporter lowers (LiteRT's runtime has no kernel for the sort that ``topk`` becomes).
        """
        positions = torch.arange(flat.shape[-1], device=flat.device)
        work = flat.detach()
        values = []
        for _ in range(k):
            pick = positions == work.argmax(dim=-1, keepdim=True)
            values.append((flat * pick).sum(dim=-1))
            work = work.masked_fill(pick, float("-inf"))
        return torch.stack(values, dim=-1)


def feature_map_size(size: int, downsamplings: int = 5) -> int:
    """Side of MobileNetV2's last feature map for an input side (each stride-2 conv: ceil(n / 2))."""
    for _ in range(downsamplings):
        size = (size + 1) // 2
    return size


class LocalizationModule(nn.Module):
    """Image -> predicted heat map [B, I, J] (the mean over channels of the last feature map)."""

    def __init__(self, width_mult: float = 1.0, input_size: int = 64, depth: int = 4):
        super().__init__()
        self.input_size = input_size
        self.depth = depth
        self.body = nn.Sequential(*mobilenet_v2(weights=None, width_mult=width_mult).features[:depth])
        with torch.no_grad():
            ch = self.body(torch.zeros(1, 3, 32, 32)).shape[1]
        self.head = nn.Conv2d(ch, 1, 1)

    @torch.no_grad()
    def init_from(self, backbone: nn.Module) -> None:
        """Copy the backbone's first ``depth`` layers (``stages[0]`` holds ``features[:7]``)."""
        src = backbone.stages[0]
        for i in range(self.depth):
            self.body[i].load_state_dict(src[i].state_dict())

    def forward(self, x: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
        s = self.input_size
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        h = self.head(self.body(x))
        return F.interpolate(h, size=out_hw, mode="bilinear", align_corners=False).squeeze(1)


class ELoPEModel(FGVCModel):
    """Backbone -> GKMP -> embedding -> classifier; at test time the localiser crops the input first.

    ``forward_heads`` classifies the localised crop (``classifier``) and the input (``full``);
    ``forward_train(x)`` the given image, returning
    ``({"classifier": logits}, embedding, mean feature map)``; ``forward_train(x, localiser=True)``
    the localiser's heat map.
    """

    arch = "mobilenetv2-elope"
    inference_rules = {"classifier": ("classifier",), "full": ("full",)}

    def __init__(
        self,
        num_classes: int,
        width_mult: float = 1.0,
        k: int = 4,
        gkmp_weights: bool = True,
        embedding: int = 512,
        tau: float = 0.3,
        loc_input: int = 64,
        loc_depth: int = 4,
        box: str = "grid",
    ):
        super().__init__(num_classes, width_mult)
        if not 0.0 <= tau < 1.0:
            raise ValueError(f"elope tau must be in [0, 1), got {tau}")
        if box not in BOXES:
            raise ValueError(f"elope box must be one of {BOXES}, got {box!r}")
        self.tau, self.box = float(tau), box
        self.pool = GlobalKMaxPool(k, weighted=gkmp_weights)
        self.embedding = nn.Linear(self.backbone.num_features, embedding)
        self.classifier = nn.Linear(embedding, num_classes)
        self.localiser = LocalizationModule(width_mult, loc_input, loc_depth)
        self.register_buffer("class_means", torch.zeros(num_classes, embedding))
        self.register_buffer("localiser_initialised", torch.zeros((), dtype=torch.long))

    def classify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, embedding before normalisation, last feature map) of the full input."""
        fmap = self.backbone(x)[-1]
        emb = self.embedding(self.pool(fmap))
        return self.classifier(emb), emb, fmap

    def heat_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.localiser(x, (feature_map_size(x.shape[-2]), feature_map_size(x.shape[-1])))

    def localisation_box(self, x: torch.Tensor) -> torch.Tensor:
        """Box [B, 4] (x0, y0, x1, y1) in input pixels around the heat map above tau."""
        heat = self.heat_map(x)
        if self.box == "upsampled":
            return threshold_box(upsample_maps(heat, tuple(x.shape[-2:])), self.tau)
        cells = threshold_box(heat, self.tau)
        return scale_boxes(cells, x.shape[-2] / heat.shape[-2], x.shape[-1] / heat.shape[-1])

    def localise(self, x: torch.Tensor) -> torch.Tensor:
        """The localiser's crop of ``x``, resized back to the input size (what ``classifier`` classifies)."""
        return crop_resize(x, self.localisation_box(x))

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # the full image first: hooks that keep a module's first call (Grad-CAM panels) see its maps
        full = self.classify(x)[0]
        return {"classifier": self.classify(self.localise(x))[0], "full": full}

    def forward_rule(self, x: torch.Tensor, rule: str | None = None) -> torch.Tensor:
        """One backbone pass: on the localised crop (``classifier``) or on the input (``full``)."""
        rule = rule or self.default_rule
        if rule not in self.inference_rules:
            raise KeyError(rule)
        return self.classify(x if rule == "full" else self.localise(x))[0]

    def forward_train(self, x: torch.Tensor, localiser: bool = False):
        if localiser:
            return self.heat_map(x)
        logits, emb, fmap = self.classify(x)
        return {"classifier": logits}, emb, fmap.mean(dim=1)
