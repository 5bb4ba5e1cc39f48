import itertools

import pytest
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.rmg import FOUR_CYCLES, jigsaw, recursive_mosaic


def batch(b=2, size=16):
    return torch.arange(b * 3 * size * size, dtype=torch.float32).view(b, 3, size, size)


def test_r0_is_identity():
    x = batch()
    assert torch.equal(recursive_mosaic(x, 0), x)


@pytest.mark.parametrize("r", [1, 2, 3])
@pytest.mark.parametrize("per_image", [False, True])
def test_output_is_patch_permutation(r, per_image):
    x = batch(size=16)
    y = recursive_mosaic(x, r, per_image=per_image, generator=torch.Generator().manual_seed(r))
    assert y.shape == x.shape
    assert not torch.equal(y, x)  # 4-cycles never leave the image unchanged
    # pixel multiset preserved per image and channel
    assert torch.equal(y.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)
    # every finest patch of the output is some patch of the input, moved whole
    p = 16 // 2**r
    xs = x.unfold(2, p, p).unfold(3, p, p).reshape(2, 3, -1, p, p)
    ys = y.unfold(2, p, p).unfold(3, p, p).reshape(2, 3, -1, p, p)
    for b in range(2):
        for k in range(ys.shape[2]):
            assert any(torch.equal(ys[b, :, k], xs[b, :, j]) for j in range(xs.shape[2]))


def test_level1_moves_every_quadrant():
    x = batch(b=1, size=8)
    y = recursive_mosaic(x, 1, generator=torch.Generator().manual_seed(0))
    for q in range(4):
        i, j = divmod(q, 2)
        assert not torch.equal(y[..., i * 4 : i * 4 + 4, j * 4 : j * 4 + 4], x[..., i * 4 : i * 4 + 4, j * 4 : j * 4 + 4])


def test_deeper_levels_stay_inside_one_patch():
    # r=2 changes level 1 quadrants whole plus the sub-patches of exactly one quadrant
    x = batch(b=1, size=8)
    g = torch.Generator().manual_seed(3)
    y = recursive_mosaic(x, 2, generator=g)
    quads = [y[..., i : i + 4, j : j + 4] for i in (0, 4) for j in (0, 4)]
    orig = [x[..., i : i + 4, j : j + 4] for i in (0, 4) for j in (0, 4)]
    intact = sum(any(torch.equal(q, o) for o in orig) for q in quads)
    assert intact == 3


def test_per_batch_uses_one_permutation():
    x = batch(b=1, size=8).expand(4, -1, -1, -1).clone()
    y = recursive_mosaic(x, 3, per_image=False, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(y[0], y[i]) for i in range(1, 4))


def test_per_image_can_differ():
    x = batch(b=1, size=8).expand(16, -1, -1, -1).clone()
    y = recursive_mosaic(x, 1, per_image=True, generator=torch.Generator().manual_seed(1))
    assert len({tuple(y[i].flatten()[:64].tolist()) for i in range(16)}) > 1


def test_only_four_cycles():
    assert len(FOUR_CYCLES) == 6
    for p in FOUR_CYCLES:
        assert all(p[i] != i for i in range(4))


@pytest.mark.parametrize("size,r", [(12, 3), (10, 2), (7, 1)])
def test_bad_sizes_rejected(size, r):
    with pytest.raises(FGVCError, match="divisible"):
        recursive_mosaic(torch.zeros(1, 3, size, size), r)


def test_bad_shapes_rejected():
    with pytest.raises(FGVCError):
        recursive_mosaic(torch.zeros(3, 8, 8), 1)
    with pytest.raises(FGVCError):
        recursive_mosaic(torch.zeros(1, 3, 8, 16), 1)
    with pytest.raises(FGVCError):
        recursive_mosaic(torch.zeros(1, 3, 8, 8), -1)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_jigsaw_is_patch_permutation(n):
    x = batch(size=16)
    y = jigsaw(x, n, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)
    p = 16 // n
    xs = x.unfold(2, p, p).unfold(3, p, p).reshape(2, 3, -1, p, p)
    ys = y.unfold(2, p, p).unfold(3, p, p).reshape(2, 3, -1, p, p)
    for k in range(n * n):
        assert any(torch.equal(ys[0, :, k], xs[0, :, j]) for j in range(n * n))


def test_jigsaw_bad_size():
    with pytest.raises(FGVCError):
        jigsaw(torch.zeros(1, 3, 10, 10), 4)


def _patch_sources(x, y, n):
    """For each output patch, the index of the input patch it holds (patches made distinct by ``batch``)."""
    p = x.shape[-1] // n
    xs = x.unfold(2, p, p).unfold(3, p, p).reshape(x.shape[0], 3, -1, p, p)
    ys = y.unfold(2, p, p).unfold(3, p, p).reshape(y.shape[0], 3, -1, p, p)
    return [next(j for j in range(n * n) if torch.equal(ys[0, :, k], xs[0, :, j])) for k in range(n * n)]


def test_jigsaw_derangement_never_leaves_a_patch_in_place_and_reaches_every_derangement():
    x = torch.arange(1 * 3 * 4 * 4, dtype=torch.float32).reshape(1, 3, 4, 4)  # every 2x2 patch distinct
    g = torch.Generator().manual_seed(0)
    seen_uniform, seen_derange = set(), set()
    for _ in range(300):
        seen_derange.add(tuple(_patch_sources(x, jigsaw(x, 2, generator=g, derange=True), 2)))
        seen_uniform.add(tuple(_patch_sources(x, jigsaw(x, 2, generator=g), 2)))
    # the 9 derangements of 4 items, listed independently of the code under test
    derangements = {p for p in itertools.permutations(range(4)) if all(p[i] != i for i in range(4))}
    assert len(derangements) == 9 and seen_derange == derangements
    assert len(seen_uniform) == 24  # the default stays PMG's uniform shuffle


def test_pmg_shuffle_option_is_checked():
    from fgvc_mobile.methods import get_method

    assert get_method("pmg").resolve_options({"shuffle": "derangement"})["shuffle"] == "derangement"
    with pytest.raises(FGVCError, match="shuffle"):
        get_method("pmg").resolve_options({"shuffle": "sometimes"})
