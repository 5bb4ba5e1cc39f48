"""Shared fixtures: tiny data sets and tiny trained checkpoints made in the test session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# one thread: the test models are tiny, and thread start-up dominates them on a loaded machine
torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CUB100 = SHARED / "datasets" / "cub100" / "CUB_200_2011"
IMAGENET_WEIGHTS = SHARED / "weights" / "mobilenet_v2_imagenet.pth"


def make_image_folder(root: Path, classes: int = 3, train: int = 8, test: int = 4, size: int = 40, seed: int = 0) -> Path:
    """ImageFolder of noisy images whose class is their dominant colour (easy, but not trivial)."""
    rng = np.random.default_rng(seed)
    palette = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40], [40, 200, 200], [200, 40, 200]])
    for split, n in (("train", train), ("test", test)):
        for c in range(classes):
            d = root / split / f"class_{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = palette[c % len(palette)] + rng.normal(0, 40, (size, size, 3))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("tiny_folder"))


TINY_PMSI = {"feature_size": 16, "descriptor": 32}


def tiny_config(data: Path, out: Path, **kw):
    from fgvc_mobile.train.config import TrainConfig

    base = dict(
        data=f"folder:{data}", out=str(out), img_size=32, resize=36, epochs=1, batch_size=4,
        workers=0, lr=0.01, method="rmg-pmsi", model=dict(TINY_PMSI), pretrained="none",
    )
    base.update(kw)
    if base["method"] == "baseline":
        base["model"] = kw.get("model", {})
    return TrainConfig(**base)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory, tiny_folder) -> dict[str, Path]:
    """best.pt of a 1-epoch rmg-pmsi and a 1-epoch baseline on the tiny folder."""
    from fgvc_mobile.train.trainer import fit

    out = {}
    for method in ("rmg-pmsi", "baseline"):
        run = tmp_path_factory.mktemp(f"run_{method}")
        fit(tiny_config(tiny_folder, run, method=method), show_progress=False)
        out[method] = run / "best.pt"
    return out
