"""Attention boxes and crop-and-resize: the shared "look closer" step of CMAL-Net and ELoPE.

Both methods turn a heat map into a box (min-max normalise, keep values above a threshold,
take the smallest rectangle holding them) and then crop the input to that box and resize it
back to the input size. Everything here is batched, has no Python loop over images and uses
only ops that export (argmax, gather, interpolate), so the same code serves training,
``evaluate`` and a deploy graph.

Boxes are float tensors ``[B, 4] = (x0, y0, x1, y1)`` in pixels of the input, end-exclusive
(width = x1 - x0), always holding whole pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def at_least(x: torch.Tensor, c: float) -> torch.Tensor:
    """max(x, c) written as relu(x - c) + c: ai-edge-quantizer fails on MAXIMUM with a constant."""
    return F.relu(x - c) + c


def minmax_normalize(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(m - min) / (max - min) per map over the last two dims; a constant map becomes all zeros."""
    lo = maps.amin(dim=(-2, -1), keepdim=True)
    hi = maps.amax(dim=(-2, -1), keepdim=True)
    return (maps - lo) / at_least(hi - lo, eps)


def _first_last(any_along: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the first True and one past the last True along dim 1; (0, n) when none is True."""
    n = any_along.shape[1]
    f = any_along.float()
    first = f.argmax(dim=1)  # argmax returns the first maximal index
    last_excl = n - f.flip(1).argmax(dim=1)
    none = f.amax(dim=1) == 0
    first = torch.where(none, torch.zeros_like(first), first)
    last_excl = torch.where(none, torch.full_like(last_excl, n), last_excl)
    return first, last_excl


def mask_box(mask: torch.Tensor) -> torch.Tensor:
    """Smallest box [B, 4] (x0, y0, x1, y1, end-exclusive) holding every True of ``mask`` [B, H, W].

    An empty mask gives the whole image.
    """
    y0, y1 = _first_last(mask.any(dim=2))
    x0, x1 = _first_last(mask.any(dim=1))
    return torch.stack([x0, y0, x1, y1], dim=1).float()


def threshold_box(maps: torch.Tensor, threshold: float) -> torch.Tensor:
    """Min-max normalise ``maps`` [B, H, W] and box the cells strictly above ``threshold``."""
    return mask_box(minmax_normalize(maps) > threshold)


def pad_boxes(boxes: torch.Tensor, ratio: float, h: int, w: int) -> torch.Tensor:
    """Widen each box by ``ratio`` of the image's height / width on every side, clipped to the
    image (CMAL-Net's release pads by 0.1). Written with relu (no MAXIMUM/MINIMUM with constants)."""
    if not ratio:
        return boxes
    x0, y0, x1, y1 = boxes.unbind(1)
    pw, ph = ratio * w, ratio * h
    return torch.stack([F.relu(x0 - pw), F.relu(y0 - ph), w - F.relu(w - x1 - pw), h - F.relu(h - y1 - ph)], dim=1)


def scale_boxes(boxes: torch.Tensor, sy: float, sx: float) -> torch.Tensor:
    """Boxes in map cells -> boxes in pixels when one cell covers sy x sx pixels."""
    return boxes * boxes.new_tensor([sx, sy, sx, sy])


def _axis_index(start: torch.Tensor, length: torch.Tensor, out: int):
    """Source rows (i0, i1) and weight of i1 for resizing [start, start+length) to ``out`` samples.

    Mirrors ``F.interpolate(mode="bilinear", align_corners=False)`` on the cropped tensor:
    src = (o + 0.5) * length / out - 0.5, clamped to [0, length - 1].
    """
    o = torch.arange(out, device=start.device, dtype=torch.float32)
    length = length.float().unsqueeze(1)
    src = F.relu((o + 0.5) * (length / out) - 0.5)
    i0 = src.floor().minimum(length - 1)
    lam = src - i0
    i1 = (i0 + 1).minimum(length - 1)
    base = start.float().unsqueeze(1)
    return (base + i0).long(), (base + i1).long(), lam


def crop_resize(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Crop each image of ``x`` [B, C, H, W] to its box and resize bilinearly to ``size`` (default H, W).

    Equal (to float rounding) to ``F.interpolate(x[i:i+1, :, y0:y1, x0:x1], size, "bilinear")``
    per image, but batched with gathers, so it runs inside a graph.
    """
    b, c, h, w = x.shape
    oh, ow = size or (h, w)
    boxes = boxes.round()
    x0, y0, x1, y1 = boxes.unbind(1)
    r0, r1, ly = _axis_index(y0, at_least(y1 - y0, 1.0), oh)  # [B, oh]
    c0, c1, lx = _axis_index(x0, at_least(x1 - x0, 1.0), ow)  # [B, ow]

    def rows(idx):
        return x.gather(2, idx.view(b, 1, oh, 1).expand(b, c, oh, w))

    t = rows(r0) * (1 - ly).view(b, 1, oh, 1) + rows(r1) * ly.view(b, 1, oh, 1)

    def cols(idx):
        return t.gather(3, idx.view(b, 1, 1, ow).expand(b, c, oh, ow))

    return cols(c0) * (1 - lx).view(b, 1, 1, ow) + cols(c1) * lx.view(b, 1, 1, ow)


def upsample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of [B, h, w] maps to ``size`` (the papers' "bilinear sampling kernel")."""
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
