"""Each new method trains one epoch through ``fit`` on a tiny image folder, writes checkpoints,
reports every head and rule, and its checkpoint loads back into a model that scores the test
set exactly as recorded during training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from fgvc_mobile.data.dataset import ImageListDataset
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import build_transform
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import get_method
from fgvc_mobile.models.load import load_trained
from fgvc_mobile.train.config import TrainConfig
from fgvc_mobile.train.engine import evaluate
from fgvc_mobile.train.trainer import fit

TINY_MODELS = {
    "pmg": {"feature_size": 8, "descriptor": 16},
    "cmal": {"descriptor": 16},
    "elope": {"embedding": 16},
    "db-gce": {},
    "rmg-pmsi": {"feature_size": 8, "descriptor": 16},  # with the gce loss option
}
OPTIONS = {"rmg-pmsi": {"loss": "gce", "gce_k": 1}, "db-gce": {"gce_k": 1}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """train/ and test/ of 3 classes whose images are noisy solid colours, 36 px."""
    root = tmp_path_factory.mktemp("methods_folder")
    rng = np.random.default_rng(0)
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    for split, n in (("train", 8), ("test", 4)):
        for c, rgb in enumerate(colours):
            d = root / split / f"class_{c}"
            d.mkdir(parents=True)
            for i in range(n):
                img = np.clip(np.array(rgb) + rng.normal(0, 40, (36, 36, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{i}.png")
    return root



@pytest.mark.parametrize("method", sorted(TINY_MODELS))
def test_one_epoch_checkpoint_metrics_and_round_trip(method, folder, tmp_path):
    cfg = TrainConfig(
        data=f"folder:{folder}", out=str(tmp_path), method=method, img_size=32, resize=36, epochs=1,
        batch_size=4, workers=0, lr=0.01, model=TINY_MODELS[method], method_options=OPTIONS.get(method, {}),
        pretrained="none",
    )
    result = fit(cfg, show_progress=False)
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
    metrics = result["metrics"]
    recipe = get_method(method)
    for step in recipe.step_names(recipe.resolve_options(cfg.method_options)):
        assert math.isfinite(metrics[f"loss/{step}"])

    loaded = load_trained(tmp_path / "best.pt")
    model, meta = loaded.model, loaded.meta
    assert meta["method"] == method and not model.training
    for rule in model.inference_rules:
        assert 0.0 <= metrics[f"top1/{rule}"] <= 100.0  # the validation split's

    pre = PreprocessConfig.from_dict(meta["preprocess"])
    test = load_splits(f"folder:{folder}").test
    loader = DataLoader(ImageListDataset(test, build_transform(pre, train=False)), batch_size=32)
    again = evaluate(model, loader, torch.device("cpu"), show_progress=False)
    # the test split, evaluated once by training on best.pt, is what a fresh evaluation gives
    scored = {k: v for k, v in result["test"].items() if k.startswith(("top1/", "top5/"))}
    assert scored and {k: again[k] for k in scored} == scored


def test_pmg_refuses_sizes_the_jigsaw_cannot_cut():
    recipe = get_method("pmg")
    with pytest.raises(FGVCError, match="divisible by 8"):
        recipe.check_input_size(36, recipe.resolve_options({}))
    recipe.check_input_size(32, recipe.resolve_options({}))
