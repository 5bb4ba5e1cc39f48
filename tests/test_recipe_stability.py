"""Every recipe, trained briefly on a small REAL subset, keeps its losses finite and falling.

Five cub100 species (16 training images each, pre-resized once per session), ImageNet weights,
64 px, three epochs at the cub100 setting (SGD, backbone lr 1e-3, new modules x10, batch 16):
each step's epoch-mean loss must be finite, end lower than it started and never rise far above
its first epoch. CMAL-Net with the paper's bare FC classifier on the max-pooled descriptor blows
up here (its per-step cross-entropies reach many times ln 5; see docs/methods.md), so this is
the guard against that regression (``make test-slow``). Skipped, with the reason, when
``../shared`` (data set and weights) is absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image

from conftest import CUB100, IMAGENET_WEIGHTS

pytestmark = [
    pytest.mark.slow,  # real data: 2-4 CPU-minutes for the six recipes on a quiet 2-core machine
    pytest.mark.skipif(not (CUB100 / "images.txt").is_file(), reason=f"cub100 not found at {CUB100} (../shared absent)"),
    pytest.mark.skipif(not IMAGENET_WEIGHTS.is_file(), reason=f"ImageNet MobileNetV2 weights not found at {IMAGENET_WEIGHTS}"),
]

SPECIES, TRAIN_PER_CLASS, TEST_PER_CLASS, SIDE = 5, 16, 2, 80
#: the cub100 CPU setting's optimiser, at 64 px and three short epochs
SETTING = dict(img_size=64, resize=73, epochs=3, batch_size=16, lr=1e-3, head_lr_mult=10.0, optimizer="sgd",
               workers=0, seed=0, val_split=0.1, eval_every=100, limit_test=8)
#: cheaper heads where the recipe's defaults are not what is under test
MODELS = {"rmg-pmsi": {"feature_size": 64, "descriptor": 128}, "pmg": {"feature_size": 64, "descriptor": 128}}


def cub_subset(root: Path) -> Path:
    """An image folder of the first SPECIES cub100 species, short side SIDE px (decoded once)."""
    rows = lambda name: dict(line.split() for line in (CUB100 / name).read_text().splitlines() if line.strip())
    images, labels, is_train = rows("images.txt"), rows("image_class_labels.txt"), rows("train_test_split.txt")
    taken: dict[tuple[str, str], int] = {}
    for img_id, rel in images.items():
        split = "train" if is_train[img_id] == "1" else "test"
        cls = rel.split("/")[0]
        want = TRAIN_PER_CLASS if split == "train" else TEST_PER_CLASS
        if int(labels[img_id]) > SPECIES or taken.get((split, cls), 0) >= want:
            continue
        taken[(split, cls)] = taken.get((split, cls), 0) + 1
        out = root / split / cls / (Path(rel).stem + ".png")
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(CUB100 / "images" / rel) as im:
            im = im.convert("RGB")
            scale = SIDE / min(im.size)
            im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR).save(out)
    return root


@pytest.fixture(scope="module")
def cub5(tmp_path_factory) -> Path:
    return cub_subset(tmp_path_factory.mktemp("cub5"))


def train_losses(data: Path, out: Path, method: str, model: dict | None = None, options: dict | None = None):
    """{step: [epoch-mean loss per epoch]} of a run at SETTING."""
    from fgvc_mobile.train.config import TrainConfig
    from fgvc_mobile.train.trainer import fit

    cfg = TrainConfig(data=f"folder:{data}", method=method, out=str(out), pretrained=str(IMAGENET_WEIGHTS),
                      model=dict(model if model is not None else MODELS.get(method, {})),
                      method_options=dict(options or {}), **SETTING)
    history = fit(cfg, show_progress=False)["history"]
    steps = [k for k in history[0] if k.startswith("loss/") and k != "loss/total"]
    return {k[5:]: [h[k] for h in history] for k in steps}


def unstable(losses: dict[str, list[float]], rise: float = 1.25) -> list[str]:
    """What is wrong with each step's epoch means: not finite, not lower at the end, or a rise
    above ``rise`` x its first epoch on the way."""
    bad = []
    for step, means in losses.items():
        if not all(math.isfinite(v) for v in means):
            bad.append(f"{step}: not finite {means}")
        elif not means[-1] < means[0]:
            bad.append(f"{step}: did not fall {[round(v, 3) for v in means]}")
        elif max(means) > rise * means[0]:
            bad.append(f"{step}: rose to {max(means):.3f} from {means[0]:.3f}")
    return bad


@pytest.mark.parametrize("method", ["baseline", "db-gce", "elope", "cmal", "rmg-pmsi", "pmg"])
def test_short_real_run_keeps_losses_finite_and_falling(method, cub5, tmp_path):
    losses = train_losses(cub5, tmp_path / method, method)
    assert losses and not unstable(losses), f"{method}: {unstable(losses)}"
