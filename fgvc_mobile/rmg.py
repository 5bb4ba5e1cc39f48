"""Recursive Mosaic Generator (RMG-PMSI) and PMG's n x n jigsaw: granularity augmentations.

Both only move pixels: the output is a permutation of the input's patches, so the multiset of
pixel values is preserved exactly.
"""

from __future__ import annotations

import itertools

import torch

from fgvc_mobile.errors import FGVCError

# The six 4-cycles of the 2x2 quadrants (0 1 / 2 3): the release only ever draws these, so a
# quadrant never stays in place at any recursion level.
FOUR_CYCLES: tuple[tuple[int, int, int, int], ...] = tuple(
    p
    for p in itertools.permutations(range(4))
    if all(p[i] != i for i in range(4))
    and len({0, p[0], p[p[0]], p[p[p[0]]]}) == 4  # one cycle through all four
)
assert len(FOUR_CYCLES) == 6


def _randint(n: int, generator: torch.Generator | None, size=()) -> torch.Tensor:
    return torch.randint(n, size, generator=generator)


def _swap_quadrants(region: torch.Tensor, perm) -> torch.Tensor:
    """region [B, C, h, w]; output quadrant i takes input quadrant perm[i]."""
    h2, w2 = region.shape[-2] // 2, region.shape[-1] // 2
    quads = [
        region[..., :h2, :w2],
        region[..., :h2, w2:],
        region[..., h2:, :w2],
        region[..., h2:, w2:],
    ]
    q = [quads[j] for j in perm]
    top = torch.cat([q[0], q[1]], dim=-1)
    bottom = torch.cat([q[2], q[3]], dim=-1)
    return torch.cat([top, bottom], dim=-2)


def _rmg_one(x: torch.Tensor, r: int, generator) -> torch.Tensor:
    """RMG on a batch with one draw of permutations and chosen patches for the whole batch."""
    out = x.clone()
    top, left, size = 0, 0, x.shape[-1]
    for level in range(r):
        if level > 0:
            # recurse into one of the four patches produced by the previous level
            k = int(_randint(4, generator))
            size //= 2
            top += (k // 2) * size
            left += (k % 2) * size
        perm = FOUR_CYCLES[int(_randint(len(FOUR_CYCLES), generator))]
        region = out[..., top : top + size, left : left + size]
        out[..., top : top + size, left : left + size] = _swap_quadrants(region, perm)
    return out


def recursive_mosaic(
    x: torch.Tensor, r: int, per_image: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply r levels of the Recursive Mosaic Generator to a batch ``x`` [B, C, H, W].

    Level 1 permutes the image's 2x2 quadrants; level k permutes the 2x2 sub-patches of one
    randomly chosen patch of level k-1. ``r = 0`` returns the input unchanged.
    ``per_image=False`` draws one permutation per batch, as released.
    """
    if r < 0:
        raise FGVCError(f"rmg: r must be >= 0, got {r}")
    if x.ndim != 4:
        raise FGVCError(f"rmg: expected a [B, C, H, W] batch, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h != w:
        raise FGVCError(f"rmg: needs square images, got {h}x{w}")
    if r == 0:
        return x
    if h % (2**r):
        raise FGVCError(f"rmg: image size {h} is not divisible by 2^r = {2**r} (r={r})")
    if not per_image:
        return _rmg_one(x, r, generator)
    return torch.cat([_rmg_one(x[i : i + 1], r, generator) for i in range(x.shape[0])])


def _shuffle(k: int, derange: bool, generator) -> torch.Tensor:
    """A uniform permutation of range(k), or with ``derange`` a uniform derangement (no patch stays in
    place) by rejection: about e = 2.7 draws on average for any k >= 2."""
    while True:
        order = torch.randperm(k, generator=generator)
        if not derange or not bool((order == torch.arange(k)).any()):
            return order


def jigsaw(
    x: torch.Tensor, n: int, per_image: bool = False, generator: torch.Generator | None = None,
    derange: bool = False,
) -> torch.Tensor:
    """PMG's jigsaw: cut into n x n equal patches and shuffle them (one shuffle per batch by default).

    ``derange=True`` never leaves a patch in place, as the RMG-PMSI release's PMG shuffle does
    (PMG's own release shuffles uniformly, so at n = 2 one batch in 24 keeps the image whole).
    """
    if n < 1:
        raise FGVCError(f"jigsaw: n must be >= 1, got {n}")
    if x.ndim != 4:
        raise FGVCError(f"jigsaw: expected a [B, C, H, W] batch, got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    if h % n or w % n:
        raise FGVCError(f"jigsaw: image size {h}x{w} is not divisible by n = {n}")
    if n == 1:
        return x
    ph, pw = h // n, w // n
    # [B, C, n, ph, n, pw] -> [B, n*n, C, ph, pw]
    patches = x.reshape(b, c, n, ph, n, pw).permute(0, 2, 4, 1, 3, 5).reshape(b, n * n, c, ph, pw)
    if per_image:
        order = torch.stack([_shuffle(n * n, derange, generator) for _ in range(b)])
    else:
        order = _shuffle(n * n, derange, generator).expand(b, -1)
    # the draws come from a CPU generator (reproducible on any device); the index follows the input
    order = order.to(x.device)
    patches = torch.gather(patches, 1, order.view(b, n * n, 1, 1, 1).expand_as(patches))
    return patches.reshape(b, n, n, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)
