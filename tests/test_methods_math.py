"""The mathematics of the papers' components: GKMP, GCE, the diversification block, ELoPE's
class-mean loss, CMAL's attention boxes and the shared crop-and-resize."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import get_method
from fgvc_mobile.methods.losses import GradientBoostingCE, class_mean_loss, make_criterion, update_class_means
from fgvc_mobile.models.diversification import DBModel, DiversificationBlock
from fgvc_mobile.models.elope import GlobalKMaxPool
from fgvc_mobile.models.regions import crop_resize, mask_box, threshold_box

torch.manual_seed(0)



# ---- global k-max pooling -----------------------------------------------------------------------
def test_gkmp_k1_is_max_pooling_and_k_hw_is_average_pooling():
    y = torch.randn(2, 5, 4, 3)
    torch.testing.assert_close(GlobalKMaxPool(1)(y), y.amax(dim=(2, 3)))
    torch.testing.assert_close(GlobalKMaxPool(12)(y), y.mean(dim=(2, 3)))


def test_gkmp_averages_the_k_largest_with_learned_weights():
    y = torch.tensor([[[[1.0, 7.0], [3.0, 5.0]]]])  # sorted: 7, 5, 3, 1
    assert GlobalKMaxPool(2)(y).item() == pytest.approx((7 + 5) / 2)
    pool = GlobalKMaxPool(3, weighted=True)
    assert pool(y).item() == pytest.approx((7 + 5 + 3) / 3)  # weights start at 1: plain GKMP
    with torch.no_grad():
        pool.weights.copy_(torch.tensor([2.0, 0.0, 1.0]))
    assert pool(y).item() == pytest.approx((2 * 7 + 0 * 5 + 1 * 3) / 3)


def test_gkmp_export_friendly_top_k_equals_topk_in_values_and_gradients():
    y = torch.randn(3, 6, 5, 4)
    y[0, 0, 1, 1] = y[0, 0, 2, 2] = 9.0  # a tie inside the top-k
    a, b = y.clone().requires_grad_(), y.clone().requires_grad_()
    top = GlobalKMaxPool.top_k(a.flatten(2), 4)
    ref = b.flatten(2).topk(4, dim=2).values
    torch.testing.assert_close(top, ref)
    g = torch.randn_like(ref)
    top.backward(g)
    ref.backward(g)
    torch.testing.assert_close(a.grad.sum(dim=(2, 3)), b.grad.sum(dim=(2, 3)))
    assert (a.grad != 0).sum() == (b.grad != 0).sum() == 3 * 6 * 4


# ---- gradient-boosting cross-entropy ------------------------------------------------------------
@pytest.mark.parametrize("k", [9, 10, 50])  # C = 10: k >= C - 1 keeps every negative
def test_gce_is_cross_entropy_when_every_negative_is_kept(k):
    s = torch.randn(6, 10, requires_grad=True)
    y = torch.randint(10, (6,))
    g1 = torch.autograd.grad(GradientBoostingCE(k)(s, y), s)[0]
    g2 = torch.autograd.grad(F.cross_entropy(s, y), s)[0]
    torch.testing.assert_close(GradientBoostingCE(k)(s, y), F.cross_entropy(s, y))
    torch.testing.assert_close(g1, g2)


def _eq14_gradient(s: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """dGCE/ds of eq. 14 written out per sample with plain Python sets (mean over the batch)."""
    n, c = s.shape
    grad = torch.zeros_like(s)
    for i in range(n):
        l = int(y[i])
        negs = sorted((j for j in range(c) if j != l), key=lambda j: -float(s[i, j]))
        t_k = float(s[i, negs[k - 1]])
        top = [j for j in negs if float(s[i, j]) >= t_k]  # J'_>
        denom = math.exp(s[i, l]) + sum(math.exp(s[i, j]) for j in top)
        for j in top:
            grad[i, j] = math.exp(s[i, j]) / denom
        grad[i, l] = math.exp(s[i, l]) / denom - 1
    return grad / n


@pytest.mark.parametrize("k", [1, 3, 7])
def test_gce_gradient_matches_equation_14(k):
    s = torch.randn(5, 12, dtype=torch.float64, requires_grad=True)
    y = torch.randint(12, (5,))
    loss = GradientBoostingCE(k)(s, y)
    (grad,) = torch.autograd.grad(loss, s)
    torch.testing.assert_close(grad, _eq14_gradient(s.detach(), y, k))
    # eq. 16 (signed): every kept class's gradient exceeds cross-entropy's
    (ce_grad,) = torch.autograd.grad(F.cross_entropy(s, y), s)
    kept = grad != 0
    assert (grad[kept] > ce_grad[kept]).all()
    assert loss <= F.cross_entropy(s, y)


def test_gce_keeps_all_negatives_tied_with_the_kth():
    s = torch.tensor([[5.0, 1.0, 1.0, 1.0, 0.0, -3.0]], requires_grad=True)
    (grad,) = torch.autograd.grad(GradientBoostingCE(2)(s, torch.tensor([0])), s)
    assert (grad[0, 1:4] > 0).all() and (grad[0, 4:] == 0).all()


def test_loss_option_gives_every_recipe_gce():
    recipe = get_method("rmg-pmsi")
    opts = recipe.resolve_options({"loss": "gce", "gce_k": 4})
    crit = recipe.criterion(opts)
    assert isinstance(crit, GradientBoostingCE) and crit.k == 4
    assert isinstance(get_method("db-gce").criterion(get_method("db-gce").resolve_options({})), GradientBoostingCE)
    with pytest.raises(FGVCError, match="loss='focal'"):
        recipe.resolve_options({"loss": "focal"})
    with pytest.raises(FGVCError, match="label-smoothing"):
        make_criterion("gce", 15, label_smoothing=0.1)


def test_gce_from_trains_plain_cross_entropy_first():
    """DB + GCE's warm-up: CE before ``gce_from`` of the run, GCE from then on (0: GCE throughout)."""
    recipe = get_method("db-gce")
    warm = recipe.resolve_options({"gce_from": 0.5})
    kinds = [type(recipe.criterion(warm, epoch=e, epochs=4)).__name__ for e in range(4)]
    assert kinds == ["CrossEntropyLoss", "CrossEntropyLoss", "GradientBoostingCE", "GradientBoostingCE"]
    assert isinstance(recipe.criterion(recipe.resolve_options({}), epoch=0, epochs=4), GradientBoostingCE)
    with pytest.raises(FGVCError, match="gce_from"):
        recipe.resolve_options({"gce_from": 2})


def _ddp_class_means(rank: int, world: int, init: str, f, labels, means, out: str) -> None:
    import torch.distributed as dist

    from fgvc_mobile.methods.losses import global_class_means

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        half = f.shape[0] // world
        part = slice(rank * half, (rank + 1) * half)
        torch.save(global_class_means(f[part], labels[part], means, 0.5), f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_class_means_under_ddp_are_the_update_over_every_ranks_batch(tmp_path):
    """Two gloo processes, each with half of the batch: both get eqs. (6)-(7) over the whole batch."""
    import torch.multiprocessing as mp

    g = torch.Generator().manual_seed(0)
    f = F.normalize(torch.randn(8, 6, generator=g), dim=1)
    labels = torch.tensor([0, 1, 1, 2, 1, 3, 3, 0])  # classes 2 and 0/3 on different ranks
    means = torch.randn(5, 6, generator=g)
    out = str(tmp_path / "means")
    mp.spawn(_ddp_class_means, args=(2, f"file://{tmp_path / 'rendezvous'}", f, labels, means, out), nprocs=2)
    want = update_class_means(f, labels, means, 0.5)
    for rank in range(2):
        torch.testing.assert_close(torch.load(f"{out}.{rank}", weights_only=True), want)
    assert not torch.allclose(update_class_means(f[:4], labels[:4], means, 0.5), want)  # one rank's half differs


# ---- diversification block ----------------------------------------------------------------------
def _cam_with_known_peaks() -> torch.Tensor:
    m = torch.rand(2, 3, 5, 7)  # values in [0, 1)
    m[0, 0, 1, 2] = 5.0
    m[0, 1, 4, 6] = 3.0
    m[0, 2, 0, 0] = m[0, 2, 3, 3] = 2.0  # a tie: both are peaks
    m[1, :, 2, 5] = 4.0
    return m


def test_db_is_identity_at_test_time():
    block = DiversificationBlock(p_peak=1.0, p_patch=1.0).eval()
    m = _cam_with_known_peaks()
    assert torch.equal(block(m), m)
    model = DBModel(4, p_peak=1.0, p_patch=1.0).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)["classifier"], model.activation_maps(x).mean(dim=(2, 3)))


def test_db_peak_suppression_scales_exactly_the_peaks():
    m = _cam_with_known_peaks()
    peaks = m == m.amax(dim=(2, 3), keepdim=True)
    assert peaks.sum() == 7
    out = DiversificationBlock(p_peak=1.0, p_patch=0.0, alpha=0.1).train()(m)
    torch.testing.assert_close(out[peaks], 0.1 * m[peaks])
    assert torch.equal(out[~peaks], m[~peaks])


def test_db_patch_suppression_never_touches_peaks():
    m = _cam_with_known_peaks()
    peaks = m == m.amax(dim=(2, 3), keepdim=True)
    out = DiversificationBlock(p_peak=0.0, p_patch=1.0, alpha=0.1).train()(m)
    torch.testing.assert_close(out[~peaks], 0.1 * m[~peaks])
    assert torch.equal(out[peaks], m[peaks])


@pytest.mark.parametrize("grid", [2, 3])
def test_db_patch_mask_is_constant_on_each_grid_patch(grid):
    block = DiversificationBlock(p_peak=0.0, p_patch=0.5, grid=grid)
    m = _cam_with_known_peaks()
    mask = block.suppression_mask(m, torch.Generator().manual_seed(3))
    peaks = m == m.amax(dim=(2, 3), keepdim=True)
    assert not (mask & peaks).any()
    h, w = m.shape[-2:]
    decided = 0
    for top in range(0, h, grid):
        for left in range(0, w, grid):
            patch, free = mask[..., top : top + grid, left : left + grid], ~peaks[..., top : top + grid, left : left + grid]
            on = (patch & free).flatten(2).any(2)
            off = (~patch & free).flatten(2).any(2)
            assert not (on & off).any()  # one draw per patch (the border patches are partial)
            decided += int(on.sum())
    assert 0 < decided < m.shape[0] * m.shape[1] * math.ceil(h / grid) * math.ceil(w / grid)


# ---- ELoPE class means ---------------------------------------------------------------------------
def test_class_mean_update_and_losses_on_a_hand_example():
    means = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    # class 0: delta = (2*mu0 - f1 - f2) / 3 = (-1/3, -1/3) -> mu0 = (1/6, 1/6); class 1: f3 == mu1
    expected = torch.tensor([[1 / 6, 1 / 6], [1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(update_class_means(f, labels, means, alpha=0.5), expected)
    l_w, l_b, mu = class_mean_loss(f, labels, means, alpha=0.5, gamma=16.0, margin=0.75)
    torch.testing.assert_close(mu, expected)
    # L_w = 1/(2*3) * ((5/6)^2 + (1/6)^2 + (1/6)^2 + (5/6)^2 + 0) = 52/216
    assert l_w.item() == pytest.approx(52 / 216)
    # P = {(0, 1)}: ||mu0 - mu1||^2 = 26/36 < m; L_b = 16/4 * (0.75 - 26/36)^2
    assert l_b.item() == pytest.approx(4 * (0.75 - 26 / 36) ** 2)
    # far-apart means or a single class in the batch: no between-class loss
    assert class_mean_loss(f, labels, means, 0.5, 16.0, margin=0.5)[1].item() == 0.0
    assert class_mean_loss(f, torch.tensor([2, 2, 2]), means)[1].item() == 0.0


def test_class_mean_loss_backpropagates_through_the_mean_update():
    f = F.normalize(torch.randn(6, 4), dim=1).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    means = F.normalize(torch.randn(3, 4), dim=1)
    l_w, _, mu = class_mean_loss(f, labels, means)
    (g_dep,) = torch.autograd.grad(l_w, f)
    g_const = (f - mu.detach()[labels]).detach() / f.shape[0]  # gradient if mu^t were a constant
    assert not torch.allclose(g_dep, g_const)
    # with the dependence: dL_w/df_n = (f_n - mu) * (1 - alpha/(1+n_c)) / N - (alpha/(1+n_c)) * sum_other (f_m - mu) / N
    r = (f - mu[labels]).detach()
    a = 0.5 / 3  # alpha / (1 + 2 images per class)
    manual = torch.stack([r[i] - a * r[labels == labels[i]].sum(0) for i in range(6)]) / 6
    torch.testing.assert_close(g_dep, manual)


# ---- boxes and crops (CMAL, ELoPE) -------------------------------------------------------------
def test_threshold_box_is_the_tightest_box_of_the_cells_above_threshold():
    g = torch.Generator().manual_seed(1)
    maps = torch.rand(20, 9, 11, generator=g) ** 4
    boxes = threshold_box(maps, 0.5)
    for m, (x0, y0, x1, y1) in zip(maps, boxes.long().tolist()):
        above = ((m - m.min()) / (m.max() - m.min())) > 0.5
        ys, xs = above.nonzero(as_tuple=True)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert mask_box(torch.zeros(1, 4, 6, dtype=torch.bool)).tolist() == [[0, 0, 6, 4]]  # nothing above: whole image
    assert threshold_box(torch.ones(1, 4, 6), 0.5).tolist() == [[0, 0, 6, 4]]


def test_crop_resize_equals_interpolating_each_crop():
    x = torch.randn(3, 2, 20, 24)
    boxes = torch.tensor([[0, 0, 24, 20], [3, 5, 10, 9], [23, 19, 24, 20]]).float()
    for size in [(20, 24), (7, 5)]:
        out = crop_resize(x, boxes, size)
        for i, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
            ref = F.interpolate(x[i : i + 1, :, y0:y1, x0:x1], size=size, mode="bilinear", align_corners=False)
            torch.testing.assert_close(out[i : i + 1], ref)
    assert torch.equal(crop_resize(x, boxes[:1].expand(3, 4)), x)
