"""The validation split: carved stratified and seeded, official where the layout has one, the only
split that selects best.pt; test is evaluated once, at the end. Plus the strong-recipe options."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T1

from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import TrainAugment, build_transform
from fgvc_mobile.data.validation import carve_validation, with_validation
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.train import trainer
from fgvc_mobile.models.load import read_checkpoint

from conftest import make_image_folder, tiny_config


def _samples(counts: dict[int, int]) -> list[tuple[str, int]]:
    return [(f"c{c}_{i}.jpg", c) for c, n in counts.items() for i in range(n)]


def test_carve_is_stratified_by_hand_worked_counts():
    samples = _samples({0: 10, 1: 3, 2: 1, 3: 25})
    train, val = carve_validation(samples, 0.1, seed=0, classes=["a", "b", "c", "d"])
    # round half up of 10*0.1, 3*0.1, 1*0.1, 25*0.1 = 1, 0, 0, 3 (2.5 rounds up)
    assert sorted(np.bincount([y for _, y in val], minlength=4).tolist()) == sorted([1, 0, 0, 3])
    assert np.bincount([y for _, y in val], minlength=4).tolist() == [1, 0, 0, 3]
    assert sorted(train + val) == sorted(samples) and not set(train) & set(val)
    # original order kept in both halves
    assert train == [s for s in samples if s in set(train)]


def test_carve_depends_on_its_seed_only():
    samples = _samples({0: 40, 1: 40})
    a = carve_validation(samples, 0.25, seed=0, classes=["a", "b"])
    assert a == carve_validation(samples, 0.25, seed=0, classes=["a", "b"])
    assert a[1] != carve_validation(samples, 0.25, seed=1, classes=["a", "b"])[1]


@pytest.mark.parametrize("fraction", [0.0, -0.1, 0.51, 1.0])
def test_fraction_outside_range_names_the_option(fraction):
    with pytest.raises(FGVCError, match=r"^--val-split .*\(0, 0.5\]"):
        carve_validation(_samples({0: 10}), fraction, seed=0, classes=["a"])


def test_fraction_that_empties_a_class_is_refused():
    # a class of one image: 1 * 0.5 rounds up to 1, leaving it no training image
    with pytest.raises(FGVCError, match=r"--val-split 0.5: class 'b' has 1 training image"):
        carve_validation(_samples({0: 10, 1: 1}), 0.5, seed=0, classes=["a", "b"])


def test_folder_with_val_uses_it_and_refuses_a_carve(tmp_path):
    root = make_image_folder(tmp_path / "d", classes=2, train=4, test=2, size=8)
    for c in range(2):
        (root / "val" / f"class_{c}").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / "val" / f"class_{c}" / "v.png")
    splits = load_splits(f"folder:{root}")
    assert len(splits.val) == 2 and len(splits.train) == 8 and len(splits.test) == 4
    same, record = with_validation(splits, None)
    assert same.val == splits.val and record == {"source": "official", "n_val": 2}
    with pytest.raises(FGVCError, match=r"^--val-split 0.2: folder data has its own validation split"):
        with_validation(splits, 0.2)


def test_aircraft_official_train_val(tmp_path):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    rows = {"train": ["1 A300", "2 A310"], "val": ["3 A300", "4 A310"], "test": ["5 A300", "6 A310"],
            "trainval": ["1 A300", "2 A310", "3 A300", "4 A310"]}
    for split, lines in rows.items():
        (data / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
    splits = load_splits(f"aircraft:{tmp_path}")
    names = lambda items: sorted(p.rsplit("/", 1)[1] for p, _ in items)  # noqa: E731
    assert names(splits.train) == ["1.jpg", "2.jpg"] and names(splits.val) == ["3.jpg", "4.jpg"]
    (data / "images_variant_val.txt").unlink()  # no official val: trainval is train, val carved later
    splits = load_splits(f"aircraft:{tmp_path}")
    assert names(splits.train) == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"] and splits.val == []


def test_best_is_selected_on_val_and_test_is_evaluated_once(tmp_path, tiny_folder, monkeypatch):
    seen = []
    real = trainer.evaluate

    def spy(model, loader, *a, **kw):
        seen.append(len(loader.dataset))
        return real(model, loader, *a, **kw)

    monkeypatch.setattr(trainer, "evaluate", spy)
    cfg = tiny_config(tiny_folder, tmp_path / "run", method="baseline", epochs=2, val_split=0.25)
    result = trainer.fit(cfg, show_progress=False)
    # tiny folder: 3 classes x 8 train, 4 test; 8 * 0.25 = 2 val images per class
    assert seen == [6, 6, 12]  # val after each epoch, then test once
    best = read_checkpoint(tmp_path / "run" / "best.pt")
    assert best["best"]["split"] == "val" and best["data"]["n_val"] == 6 and best["data"]["n_train"] == 18
    assert best["data"]["val_split"] == {"source": "carved", "fraction": 0.25, "seed": 0, "n_val": 6}
    assert best["test_metrics"]["n_images"] == 12 and result["test"]["n_images"] == 12
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["selected_on"] == "val" and results["test"]["n_images"] == 12 and results["val"]["n_images"] == 6


def test_ema_checkpoint_holds_averaged_and_raw_weights(tmp_path, tiny_folder):
    cfg = tiny_config(tiny_folder, tmp_path / "run", method="baseline", epochs=1, ema_decay=0.5)
    trainer.fit(cfg, show_progress=False)
    last = read_checkpoint(tmp_path / "run" / "last.pt")
    assert last["ema_n_averaged"] == 5  # one update per batch: 21 training images // batch 4
    key = "backbone.stages.0.0.0.weight"
    assert not torch.equal(last["model"][key], last["train_model"][key])


def test_ema_resume_is_exact(tmp_path, tiny_folder, monkeypatch):
    full = tiny_config(tiny_folder, tmp_path / "full", method="baseline", epochs=2, ema_decay=0.9)
    trainer.fit(full, show_progress=False)
    real, calls = trainer.train_one_epoch, []

    def stop_at_second_epoch(*a, **kw):  # interrupted at the epoch boundary: last.pt holds epoch 1
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(trainer, "train_one_epoch", stop_at_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(tiny_config(tiny_folder, tmp_path / "part", method="baseline", epochs=2, ema_decay=0.9),
                    show_progress=False)
    monkeypatch.setattr(trainer, "train_one_epoch", real)
    resumed = tiny_config(tiny_folder, tmp_path / "part", method="baseline", epochs=2, ema_decay=0.9,
                          resume=str(tmp_path / "part" / "last.pt"))
    trainer.fit(resumed, show_progress=False)
    a, b = read_checkpoint(tmp_path / "full" / "last.pt"), read_checkpoint(tmp_path / "part" / "last.pt")
    for field in ("model", "train_model"):
        for k in a[field]:
            assert torch.equal(a[field][k], b[field][k]), (field, k)


def test_mixup_is_refused_where_labels_index_something(tmp_path, tiny_folder):
    cfg = tiny_config(tiny_folder, tmp_path / "run", method="elope", model={}, mixup_alpha=0.2)
    with pytest.raises(FGVCError, match=r"^--mixup-alpha/--cutmix-alpha: --method elope needs hard labels"):
        trainer.fit(cfg, show_progress=False)


def test_mixup_and_cutmix_train(tmp_path, tiny_folder):
    cfg = tiny_config(tiny_folder, tmp_path / "run", method="rmg-pmsi", mixup_alpha=0.2, cutmix_alpha=1.0,
                      rrc_scale=0.5, auto_augment="trivialaugment", random_erasing=0.25, label_smoothing=0.1)
    result = trainer.fit(cfg, show_progress=False)
    assert np.isfinite(result["metrics"]["loss/total"])


def test_eval_transform_equals_the_reference_pipeline():
    """Independent reference: torchvision's v1 ToTensor/Normalize with the ImageNet constants typed out."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))
    pre = PreprocessConfig(input_size=32, resize=(36, 40))
    ref = T1.Compose([T1.Resize((36, 40)), T1.CenterCrop(32), T1.ToTensor(),
                      T1.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])(img)
    ours = build_transform(pre, train=False, augment=TrainAugment(0.3, "randaugment", 1.0))  # eval ignores them
    assert torch.allclose(ours(img), ref, atol=1e-6, rtol=0)


def test_train_transform_uses_random_resized_crop():
    pre = PreprocessConfig(input_size=16, resize=(300, 300))
    tf = build_transform(pre, train=True, augment=TrainAugment(rrc_scale=0.5))
    assert any(type(t).__name__ == "RandomResizedCrop" for t in tf.transforms)
    assert tf(Image.new("RGB", (40, 30))).shape == (3, 16, 16)
    with pytest.raises(FGVCError, match="--auto-augment 'cutout'"):
        TrainAugment(auto_augment="cutout")
