"""The behaviours a mutation check found unguarded (issue 15), each checked against values worked
out by hand or by a reference written here, never against the code's own output:

* RMG-PMSI training feeds each phase its recursive mosaic (r = 3, 2, 1) and then the original;
* the recursive nesting (level k permutes the sub-patches of one level k-1 patch);
* top-1 counts only the first prediction;
* the int8 accuracy-drop gate refuses a drop over the budget;
* the preprocessing (resize, crop, mean/std) a checkpoint and its manifest carry.

tests/mutations/run.py breaks each of these (and more) in a copy of the repo and shows that the
default suite fails.
"""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import fgvc_mobile.rmg as rmg
from fgvc_mobile.methods import StepContext, get_method
from fgvc_mobile.rmg import FOUR_CYCLES, recursive_mosaic
from reliability_fixtures import CLASSES, rel_checkpoint, rel_data, rel_dist  # noqa: F401

SIDE = 16


def _arange_batch(b=2, side=SIDE):
    """Every pixel value unique: a patch found elsewhere in the image is the same patch."""
    return torch.arange(b * 3 * side * side, dtype=torch.float32).view(b, 3, side, side)


def _patches(img: torch.Tensor, p: int) -> list[bytes]:
    """The p x p patches of one [C, H, W] image on the p-grid, as bytes."""
    c, h, w = img.shape
    return [img[:, i : i + p, j : j + p].numpy().tobytes() for i in range(0, h, p) for j in range(0, w, p)]


def granularity(y: torch.Tensor, x: torch.Tensor) -> int:
    """The smallest r such that every (side / 2^r) patch of ``y`` is a whole patch of ``x`` (per image).

    0 means y == x; an RMG view of level r has granularity exactly r (a 4-cycle moves every
    patch, so no coarser grid survives).
    """
    side = x.shape[-1]
    r = 0
    while side >> r:
        p = side >> r
        if all(set(_patches(yi, p)) <= set(_patches(xi, p)) for yi, xi in zip(y, x)):
            return r
        r += 1
    raise AssertionError("not a patch permutation")


# ---- 1. the mosaics RMG-PMSI trains on, phase by phase ---------------------------------------


class _Recorder(nn.Module):
    """Stands for the model: records each input and returns one distinct logits tensor per head."""

    heads = ("aux_stage1", "aux_stage2", "aux_stage3", "concat")

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.inputs = []
        self.outputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        out = {h: self.w * x.mean((1, 2, 3)).view(-1, 1).expand(-1, 4) * (i + 1) for i, h in enumerate(self.heads)}
        self.outputs.append(out)
        return out


def test_rmg_pmsi_trains_each_phase_on_its_mosaic_then_the_original():
    recipe = get_method("rmg-pmsi")
    opts = recipe.resolve_options({})
    seen = []

    def criterion(logits, labels):  # which head's logits each phase's loss is computed on
        seen.append(next(h for h, v in model.outputs[-1].items() if v is logits))
        return logits.sum()

    ctx = StepContext(criterion=criterion, generator=torch.Generator().manual_seed(0), epoch=0, options=opts,
                      autocast=contextlib.nullcontext)
    model = _Recorder()
    images = _arange_batch()
    steps = [(name, float(loss.detach())) for name, loss in recipe.training_steps(model, images, torch.zeros(2).long(), ctx)]
    # the paper's schedule: r = 3, 2, 1 train the stage-1, -2, -3 heads; the original trains concat
    assert [granularity(x, images) for x in model.inputs] == [3, 2, 1, 0]
    assert torch.equal(model.inputs[3], images)
    assert seen == ["aux_stage1", "aux_stage2", "aux_stage3", "concat"]
    # loss weights 1, 1, 1, 2: phase 4's loss is twice its head's plain loss
    plain = [float(model.outputs[i][h].detach().sum()) for i, h in enumerate(seen)]
    assert [s for _, s in steps] == pytest.approx([plain[0], plain[1], plain[2], 2 * plain[3]])


def test_pmg_trains_each_phase_on_its_jigsaw_then_the_original():
    recipe = get_method("pmg")
    opts = recipe.resolve_options({})
    ctx = StepContext(criterion=lambda logits, labels: logits.sum(), generator=torch.Generator().manual_seed(0),
                      epoch=0, options=opts, autocast=contextlib.nullcontext)
    model = _Recorder()
    images = _arange_batch()
    list(recipe.training_steps(model, images, torch.zeros(2).long(), ctx))
    # jigsaw n = 8, 4, 2: patches of side 2, 4, 8 stay whole; the original comes last
    patch_sides = []
    for x in model.inputs:
        side = next(p for p in (16, 8, 4, 2, 1) if all(set(_patches(a, p)) <= set(_patches(b, p))
                                                     for a, b in zip(x, images)))
        patch_sides.append(side)
    assert patch_sides[3] == 16 and torch.equal(model.inputs[3], images)
    # a random shuffle may leave a coarser grid intact by chance; with this seed it does not
    assert patch_sides[:3] == [2, 4, 8]


# ---- 2. the recursive nesting, hand-worked ------------------------------------------------------


def _scripted(monkeypatch, draws):
    """RMG's random draws replaced by ``draws`` (the release draws: level 1 a 4-cycle, each deeper
    level the patch to recurse into, then its 4-cycle)."""
    it = iter(draws)
    monkeypatch.setattr(rmg, "_randint", lambda n, generator, size=(): torch.tensor(next(it)))


CYCLE = FOUR_CYCLES.index((1, 3, 0, 2))  # output quadrant i takes input quadrant CYCLE[i]


def test_rmg_two_levels_by_hand(monkeypatch):
    x = torch.arange(16.0).view(1, 1, 4, 4)
    #  0  1  2  3      level 1, quadrants (1, 3, 0, 2):     2  3 10 11
    #  4  5  6  7                                           6  7 14 15
    #  8  9 10 11                                           0  1  8  9
    # 12 13 14 15                                           4  5 12 13
    # level 2 inside patch 1 (top right: 10 11 / 14 15), its pixels (1, 3, 0, 2): 11 15 / 10 14
    _scripted(monkeypatch, [CYCLE, 1, CYCLE])
    y = recursive_mosaic(x, 2)
    assert y.view(4, 4).tolist() == [[2, 3, 11, 15], [6, 7, 10, 14], [0, 1, 8, 9], [4, 5, 12, 13]]


def _reference_rmg(img: np.ndarray, cycles: list[tuple], patches: list[int]) -> np.ndarray:
    """RMG written from the paper's description: level 1 swaps the image's quadrants; level k
    swaps the quadrants of patch ``patches[k-2]`` (0..3, row-major) of the previous level's
    region."""
    out = img.copy()
    y0, x0, size = 0, 0, img.shape[-1]
    for level, cyc in enumerate(cycles):
        if level:
            size //= 2
            y0, x0 = y0 + size * (patches[level - 1] // 2), x0 + size * (patches[level - 1] % 2)
        region = out[..., y0 : y0 + size, x0 : x0 + size].copy()
        h = size // 2
        corners = [(0, 0), (0, h), (h, 0), (h, h)]
        for i, src in enumerate(cyc):
            (ty, tx), (sy, sx) = corners[i], corners[src]
            out[..., y0 + ty : y0 + ty + h, x0 + tx : x0 + tx + h] = region[..., sy : sy + h, sx : sx + h]
    return out


@pytest.mark.parametrize("patches", [[0, 3], [3, 1], [2, 2]])
def test_rmg_three_levels_match_the_reference(monkeypatch, patches):
    cycles = [FOUR_CYCLES[0], FOUR_CYCLES[5], FOUR_CYCLES[2]]
    draws = [0, patches[0], 5, patches[1], 2]
    _scripted(monkeypatch, draws)
    x = _arange_batch(b=1)
    y = recursive_mosaic(x, 3)
    assert np.array_equal(y.numpy(), _reference_rmg(x.numpy(), cycles, [None, *patches][1:]))


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_rmg_level_r_has_granularity_r(r):
    x = _arange_batch()
    for seed in range(3):
        y = recursive_mosaic(x, r, generator=torch.Generator().manual_seed(seed))
        assert granularity(y, x) == r


# ---- 3. top-1 counts the first prediction only ------------------------------------------------

LOGITS = torch.tensor([[0.1, 0.9, 0.0, -1.0],    # label 0 is 2nd: top-1 miss, top-5 hit
                       [0.8, 0.15, 0.05, -1.0],  # label 0 is 1st: hit
                       [0.2, 0.3, 0.5, -1.0]])   # label 1 is 2nd: miss
LABELS = torch.tensor([0, 0, 1])


class _Table(nn.Module):
    """A model whose logits are looked up by the index each 'image' carries."""

    inference_rules = {"twice": ["head", "head"]}

    def forward_heads(self, idx):
        return {"head": LOGITS[idx.view(-1).long()]}

    def combine(self, outputs, rule):
        return sum(outputs[h] for h in self.inference_rules[rule])


def test_top1_counts_only_the_first_prediction():
    from fgvc_mobile.train.engine import evaluate, topk_correct

    assert topk_correct(LOGITS, LABELS, ks=(1, 2, 5)) == {1: 1, 2: 3, 5: 3}
    loader = [(torch.tensor([[0], [1]]), LABELS[:2]), (torch.tensor([[2]]), LABELS[2:])]
    m = evaluate(_Table(), loader, torch.device("cpu"), show_progress=False)
    assert m["n_images"] == 3
    for name in ("head", "twice"):
        assert m[f"top1/{name}"] == pytest.approx(100 / 3)
        assert m[f"top5/{name}"] == pytest.approx(100.0)


def test_export_top1_counts_only_the_first_prediction():
    from fgvc_mobile.export.validate import top1_accuracy

    assert top1_accuracy(LOGITS.numpy(), LABELS.numpy()) == pytest.approx(100 / 3)


# ---- 4. the int8 accuracy-drop gate -----------------------------------------------------------


@pytest.mark.parametrize("fmt,precision", [("onnx", "int8"), ("tflite", "int8"), ("coreml", "w8a8")])
def test_int8_gate_refuses_a_drop_over_the_budget(fmt, precision):
    from fgvc_mobile.export.gate import judge
    from fgvc_mobile.export.validate import Evaluation

    def verdict(top1, budget=1.0, accept=False):
        return judge(fmt, precision, Evaluation("run", "run", n=100, top1=top1), 80.0, budget, accept)

    assert verdict(79.5).passed and verdict(79.0).passed  # 0.5 and exactly 1.0 point: within budget
    over = verdict(78.0)  # 2 points down
    assert not over.passed and over.drop == pytest.approx(2.0) and "budget" in over.reason
    assert not verdict(79.5, budget=0.25).passed
    assert verdict(60.0, budget=25.0).passed
    accepted = verdict(78.0, accept=True)
    assert accepted.passed and accepted.reason.startswith("accepted") and accepted.tolerance["accepted_drop"]
    assert verdict(81.0).passed  # int8 better than fp32 is no drop


# ---- 5. preprocessing in checkpoints and manifests ----------------------------------------------


def test_default_resize_is_eight_sevenths_of_the_input():
    from fgvc_mobile.data.preprocess import PreprocessConfig

    for size, resize in ((224, 256), (448, 512), (32, 37), (96, 110), (128, 146)):  # round(size * 8 / 7)
        assert PreprocessConfig.for_size(size).resize_hw == (resize, resize)
        assert PreprocessConfig.for_size(size).to_dict()["resize"] == [resize, resize]


def test_imagenet_constants():
    from fgvc_mobile.data import preprocess

    assert preprocess.IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert preprocess.IMAGENET_STD == (0.229, 0.224, 0.225)
    d = preprocess.PreprocessConfig().to_dict()
    assert (d["mean"], d["std"], d["input_size"], d["resize"]) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225],
                                                                   224, [256, 256])


def test_training_config_sizes_reach_the_checkpoint(tiny_checkpoints, tiny_folder, tmp_path):
    """--img-size 32 --resize 36 (conftest.tiny_config) is what the checkpoint records; without
    --resize it is round(32 * 8 / 7) = 37."""
    from conftest import tiny_config
    from fgvc_mobile.models.load import read_checkpoint
    from fgvc_mobile.train.trainer import preprocess_for

    pre = read_checkpoint(tiny_checkpoints["baseline"])["preprocess"]
    assert (pre["input_size"], pre["resize"]) == (32, [36, 36])
    no_resize = preprocess_for(tiny_config(tiny_folder, tmp_path, resize=None)).to_dict()
    assert (no_resize["input_size"], no_resize["resize"]) == (32, [37, 37])


def test_manifest_preprocess_is_what_the_model_was_trained_with(rel_dist):
    """rel_checkpoint (tests/bench_helpers.py) was made with input 32, resize 36x36, ImageNet mean/std."""
    manifests = sorted(rel_dist.glob("*.manifest.json"))
    assert manifests
    for path in manifests:
        pre = json.loads(path.read_text())["preprocess"]
        assert pre["input_size"] == 32 and pre["resize"] == [36, 36], path.name
        assert pre["mean"] == [0.485, 0.456, 0.406] and pre["std"] == [0.229, 0.224, 0.225], path.name
        assert pre["interpolation"] == "bilinear"


def test_eval_transform_by_hand():
    """Resize to 36x36 (Pillow bilinear), centre-crop 32, scale to [0, 1], normalise — in numpy."""
    from fgvc_mobile.data.preprocess import PreprocessConfig
    from fgvc_mobile.data.transforms import build_transform

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))
    got = build_transform(PreprocessConfig(input_size=32, resize=(36, 36)), train=False)(img).numpy()
    ref = np.asarray(img.resize((36, 36), Image.BILINEAR), dtype=np.float32)[2:34, 2:34] / 255.0
    ref = (ref - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    np.testing.assert_allclose(got, ref.transpose(2, 0, 1), atol=1e-5)


# ---- calibration images come from the training split, validation from the test split --------


def test_calibration_uses_train_images_and_validation_test_images(rel_data):
    from fgvc_mobile.data.preprocess import PreprocessConfig
    from fgvc_mobile.export.calibration import calibration_set, validation_set

    pre = PreprocessConfig(input_size=32, resize=(36, 36))
    train = {str(p) for p in (rel_data / "train").rglob("*.png")}
    test = {str(p) for p in (rel_data / "test").rglob("*.png")}
    calib = calibration_set(f"folder:{rel_data}", CLASSES, pre, 8)
    val = validation_set(f"folder:{rel_data}", CLASSES, pre, None)
    assert len(calib) == 8 and set(calib.paths) <= train
    assert set(val.paths) == test  # all of them: fewer than the default 500
    # the images are the geometric eval transform of those files, in file order
    first = np.asarray(Image.open(calib.paths[0]).convert("RGB").resize((36, 36), Image.BILINEAR))[2:34, 2:34]
    assert np.array_equal(calib.images[0], first)
    assert calib.paths == sorted(calib.paths, key=lambda p: sorted(train).index(p))
