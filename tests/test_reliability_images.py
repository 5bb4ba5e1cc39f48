"""Awkward and hostile images in every pipeline that reads them: training (with and without
--skip-bad), calibration/validation sets for export, and predict.

tests/test_images.py checks ``load_rgb`` itself; these check that the pipelines use it, that
bad files become one-line errors naming the file (or counted skips), and that odd-but-valid
images (alpha, 16-bit, CMYK, palette, EXIF-rotated, 1x1) are used, rotated upright.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image_folder
from fgvc_mobile.data.dataset import ImageListDataset
from fgvc_mobile.data.transforms import build_transform
from fgvc_mobile.models.load import read_checkpoint
from reliability_files import bad_images, odd_but_valid_images, pattern, with_exif_orientation
from reliability_fixtures import cli, one_line_error, record, rel_checkpoint, rel_data, rel_dist  # noqa: F401

TINY_TRAIN = ["--img-size", "32", "--resize", "36", "--epochs", "1", "--batch-size", "4", "--method", "baseline",
              "--device", "cpu", "--model", '{"width_mult": 0.25}', "--lr", "0.01", "--pretrained", "none"]


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> tuple[Path, dict, dict]:
    """A 3-class image folder with odd-but-valid images in train and test and bad files in both."""
    root = make_image_folder(tmp_path_factory.mktemp("messy"), train=6, test=3)
    odd = {**{f"train/{k}": p for k, p in odd_but_valid_images(root / "train" / "class_0").items()},
           **{f"test/{k}": p for k, p in odd_but_valid_images(root / "test" / "class_1", colour=(40, 200, 40)).items()}}
    bad = {**{f"train/{k}": p for k, p in bad_images(root / "train" / "class_1").items()},
           **{f"test/{k}": p for k, p in bad_images(root / "test" / "class_2", seed=1).items()}}
    return root, odd, bad


@pytest.mark.parametrize("workers", ["0", "1"])
def test_training_without_skip_bad_stops_on_the_first_bad_file(capsys, tmp_path, messy, workers):
    root, _, bad = messy
    with warnings.catch_warnings():
        # JAX, loaded in this test process by the exporter fixtures (never by `fgvc-mobile train`),
        # warns when a DataLoader worker forks
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        line = one_line_error(capsys, "train", "--data", f"folder:{root}", "--out", tmp_path / "run",
                              "--workers", workers, *TINY_TRAIN)
    record("images", cases=1)
    named = [p for p in bad.values() if str(p) in line]
    assert len(named) == 1, line  # the message names the bad file (also from a DataLoader worker)


def test_skip_bad_trains_on_every_readable_image(capsys, caplog, tmp_path, messy):
    root, odd, bad = messy
    caplog.set_level(logging.WARNING)
    rc, _, err = cli(capsys, "train", "--data", f"folder:{root}", "--out", tmp_path / "run", "--workers", "0",
                     "--skip-bad", *TINY_TRAIN)
    assert rc == 0, err
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt")
    n_train_files = sum(1 for p in (root / "train").rglob("*") if p.is_file())
    n_test_files = sum(1 for p in (root / "test").rglob("*") if p.is_file())
    bad_train = [p for k, p in bad.items() if k.startswith("train/")]
    bad_test = [p for k, p in bad.items() if k.startswith("test/")]
    # every bad file is skipped and named; every odd-but-valid file is kept
    assert ckpt["data"]["n_train"] + ckpt["data"]["n_val"] == n_train_files - len(bad_train)
    assert ckpt["data"]["n_test"] == n_test_files - len(bad_test)
    for p in bad.values():
        assert str(p) in caplog.text
    assert not any(str(p) in caplog.text for p in odd.values())
    assert f"skipped {len(bad_train)} unreadable train" in caplog.text
    record("images", cases=len(bad) + len(odd))


def test_predict_refuses_each_bad_file_by_name(capsys, rel_dist, messy):
    _, _, bad = messy
    model = rel_dist / "model_fp32.onnx"
    for p in bad.values():
        line = one_line_error(capsys, "predict", "--model", model, p)
        assert str(p) in line
    record("images", cases=len(bad))


def test_predict_accepts_odd_but_valid_images(capsys, rel_dist, rel_checkpoint, messy):
    _, odd, _ = messy
    for model in (rel_dist / "model_fp32.onnx", rel_dist / "model_fp32.tflite", rel_checkpoint):
        rc, out, err = cli(capsys, "predict", "--model", model, *odd.values(), "--top-k", "2")
        assert rc == 0, err
        for p in odd.values():
            assert f"{p}\n  1. class_" in out
    record("images", cases=3 * len(odd))


def test_bad_calibration_image_fails_the_export_and_writes_nothing(capsys, tmp_path, rel_checkpoint, rel_data):
    calib = make_image_folder(tmp_path / "calib", train=4, test=1)
    bomb = bad_images(tmp_path / "bad")["bomb"]
    shutil.copy(bomb, calib / "train" / "class_2" / "bomb.png")
    line = one_line_error(capsys, "export", "--checkpoint", rel_checkpoint, "--format", "onnx", "--int8",
                          "--calib-data", f"folder:{calib}", "--calib-images", "0", "--val-data",
                          f"folder:{rel_data}", "--out", tmp_path / "dist")
    record("images", cases=1)
    assert "bomb.png" in line and "too large" in line
    assert not (tmp_path / "dist").exists() and not list(tmp_path.glob(".dist.export-*"))


def test_skip_bad_exports_without_the_unreadable_images_and_counts_them(capsys, tmp_path, rel_checkpoint, messy):
    from fgvc_mobile.data.preprocess import PreprocessConfig
    from fgvc_mobile.export.calibration import calibration_set, validation_set

    root, _, bad = messy
    ckpt = read_checkpoint(rel_checkpoint)
    pre = PreprocessConfig.from_dict(ckpt["preprocess"])
    calib = calibration_set(f"folder:{root}", ckpt["classes"], pre, 0, skip_bad=True)
    val = validation_set(f"folder:{root}", ckpt["classes"], pre, 0, skip_bad=True)
    bad_train = {str(p) for k, p in bad.items() if k.startswith("train/")}
    bad_test = {str(p) for k, p in bad.items() if k.startswith("test/")}
    assert set(calib.skipped) == bad_train and not bad_train & set(calib.paths)
    assert set(val.skipped) == bad_test and len(val) + len(val.skipped) == len(val.paths) + len(bad_test)
    assert f"({len(bad_train)} unreadable skipped)" in calib.describe()
    # a fixed count is filled from the next readable images of the same order
    n = len(calib) - 2
    assert len(calibration_set(f"folder:{root}", ckpt["classes"], pre, n, skip_bad=True)) == n
    rc, out, err = cli(capsys, "export", "--checkpoint", rel_checkpoint, "--format", "onnx", "--int8", "--accept-drop", "--skip-bad",
                       "--calib-data", f"folder:{root}", "--calib-images", "0", "--val-data", f"folder:{root}",
                       "--val-images", "0", "--out", tmp_path / "dist")
    record("images", cases=len(bad))
    assert rc == 0, err
    assert f"--calib-data: skipped {len(bad_train)} unreadable image(s)" in out + err
    report = (tmp_path / "dist" / "validation_report.md").read_text()
    assert f"({len(bad_test)} unreadable skipped)" in report


def test_calibration_and_validation_sets_take_odd_images(tmp_path, rel_checkpoint):
    from fgvc_mobile.data.preprocess import PreprocessConfig
    from fgvc_mobile.export.calibration import calibration_set, validation_set

    root = tmp_path / "odd"
    for split, n in (("train", 8), ("test", 1)):
        for c, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
            odd_but_valid_images(root / split / f"class_{c}", seed=c, colour=colour)
    ckpt = read_checkpoint(rel_checkpoint)
    pre = PreprocessConfig.from_dict(ckpt["preprocess"])
    calib = calibration_set(f"folder:{root}", ckpt["classes"], pre, 0)
    val = validation_set(f"folder:{root}", ckpt["classes"], pre, 0)
    record("images", cases=len(calib) + len(val))
    assert calib.images.shape == (len(calib), 32, 32, 3) and calib.images.dtype == np.uint8
    assert len(calib) == 3 * 7 and len(val) == 3 * 7


def test_exif_orientation_is_applied_in_every_pipeline(capsys, tmp_path, rel_dist):
    """The same picture stored upright, and stored turned with EXIF orientation 6, is the same input."""
    from fgvc_mobile.data.preprocess import PreprocessConfig
    from fgvc_mobile.export.runtime import load_crops

    upright = Image.fromarray(pattern(48, seed=3))
    up = tmp_path / "upright.png"
    upright.save(up)
    turned = with_exif_orientation(upright, tmp_path / "turned.png")  # lossless, so equality is exact
    with Image.open(turned) as raw:
        assert np.asarray(raw.convert("RGB")).shape != np.asarray(upright).shape or \
            not np.array_equal(np.asarray(raw.convert("RGB")), np.asarray(upright))  # the test can fail
    pre = PreprocessConfig(input_size=32, resize=(36, 40))  # not square: a wrong rotation changes the crop
    # predict / calibration / validation / benchmarks all decode through load_crops() or load_rgb + geometric_eval
    assert np.array_equal(load_crops([str(turned)], pre), load_crops([str(up)], pre))
    # training and eval datasets
    tf = build_transform(pre, train=False)
    a, b = ImageListDataset([(str(turned), 0), (str(up), 0)], tf)[0][0], ImageListDataset([(str(up), 0)], tf)[0][0]
    assert np.array_equal(a.numpy(), b.numpy())
    # the CLI: identical probabilities
    outs = []
    for p in (turned, up):
        rc, out, _ = cli(capsys, "predict", "--model", rel_dist / "model_fp32.onnx", p)
        assert rc == 0
        outs.append(out.replace(str(p), "IMAGE"))
    assert outs[0] == outs[1]
    record("images", cases=3)
