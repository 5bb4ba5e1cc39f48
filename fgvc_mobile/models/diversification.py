"""Diversification block (Sun et al. 2020): suppress peaks and patches of class activation maps.

The classifier is a 1x1 conv from the last feature map to C class activation maps M, then
global average pooling (eq. 8) - at test time identical to a linear classifier on average-
pooled features. In training only, the diversification block scales by alpha (0.1) every
location of M_c chosen by the mask B_c = B'_c + B''_c (eqs. 1-7):

* B'_c  = r_c * P_c with P_c the peak locations (M_c == max M_c) and r_c ~ Bernoulli(p_peak);
* B''_c = one Bernoulli(p_patch) draw per G x G patch of the grid over M_c (a partial patch
  at the border when G does not divide the map), never at the peak locations (eq. 5).

The paper gives no values for p_peak, p_patch or G; the defaults here (0.5, 0.5, G = 2 on
MobileNetV2's 7 x 7 map at 224 px) are our choice and are model options.
"""

from __future__ import annotations

import torch
from torch import nn

from fgvc_mobile.models.fgvc import FGVCModel


class DiversificationBlock(nn.Module):
    """M [B, C, H, W] -> M' with the suppressed locations scaled by alpha; identity in eval mode."""

    def __init__(self, p_peak: float = 0.5, p_patch: float = 0.5, grid: int = 2, alpha: float = 0.1):
        super().__init__()
        for name, p in (("p_peak", p_peak), ("p_patch", p_patch)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"diversification block: {name} must be in [0, 1], got {p}")
        if grid < 1:
            raise ValueError(f"diversification block: patch size G must be >= 1, got {grid}")
        self.p_peak, self.p_patch, self.grid, self.alpha = float(p_peak), float(p_patch), int(grid), float(alpha)

    @torch.no_grad()
    def suppression_mask(self, m: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """B = B' + B'' as a bool tensor shaped like ``m`` (eqs. 1-6)."""
        b, c, h, w = m.shape
        peaks = m == m.amax(dim=(2, 3), keepdim=True)  # P_c, eq. 1 (ties are all peaks)
        r = torch.rand(b, c, 1, 1, generator=generator, device=m.device) < self.p_peak  # eq. 2
        g = self.grid
        gh, gw = -(-h // g), -(-w // g)
        patches = torch.rand(b, c, gh, gw, generator=generator, device=m.device) < self.p_patch  # eq. 4
        patches = patches.repeat_interleave(g, dim=2).repeat_interleave(g, dim=3)[:, :, :h, :w]
        return (r & peaks) | (patches & ~peaks)  # eqs. 5-6

    def forward(self, m: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training:
            return m
        return torch.where(self.suppression_mask(m, generator), self.alpha * m, m)  # eq. 7


class DBModel(FGVCModel):
    """MobileNetV2 -> 1x1 conv to class activation maps -> diversification block (train) -> GAP."""

    arch = "mobilenetv2-db"
    inference_rules = {"classifier": ("classifier",)}

    def __init__(
        self,
        num_classes: int,
        width_mult: float = 1.0,
        p_peak: float = 0.5,
        p_patch: float = 0.5,
        grid: int = 2,
        alpha: float = 0.1,
    ):
        super().__init__(num_classes, width_mult)
        self.cam = nn.Conv2d(self.backbone.num_features, num_classes, 1)
        self.diversify = DiversificationBlock(p_peak, p_patch, grid, alpha)

    def activation_maps(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam(self.backbone(x)[-1])

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"classifier": self.diversify(self.activation_maps(x)).mean(dim=(2, 3))}
