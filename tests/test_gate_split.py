"""The export gates judge on the checkpoint's validation split, never on test by default, and
calibration never draws the images the gate judges on (so ``--int8 auto``'s choice is a val choice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench_helpers import PRE
from conftest import make_image_folder
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.calibration import calibration_set, validation_set
from fgvc_mobile.export.pipeline import ExportRequest, gate_split

CARVE = {"source": "carved", "fraction": 0.2, "seed": 0, "n_val": 6}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    data = make_image_folder(tmp_path_factory.mktemp("gate_split") / "d", classes=3, train=10, test=2)
    return data, sorted(p.name for p in (data / "train").iterdir())


def test_val_is_carved_from_train_as_training_carved_it_and_calibration_avoids_it(folder):
    data, classes = folder
    val = validation_set(f"folder:{data}", classes, PRE, 0, split="val", carve=CARVE)
    calib = calibration_set(f"folder:{data}", classes, PRE, 0, carve=CARVE)
    train_files = {str(p) for p in (data / "train").rglob("*.png")}
    assert len(train_files) == 30
    assert len(val) == 6 and sorted(val.labels.tolist()) == [0, 0, 1, 1, 2, 2]  # round(10 x 0.2) per class
    assert set(val.paths) <= train_files and all("/test/" not in p for p in val.paths)
    assert len(calib) == 24 and not set(calib.paths) & set(val.paths)
    assert set(calib.paths) | set(val.paths) == train_files
    assert val.describe().startswith("6 val images")
    test = validation_set(f"folder:{data}", classes, PRE, 0)
    assert len(test) == 6 and all(Path(p).parts[-3] == "test" for p in test.paths)


def test_gate_split_defaults_to_val_when_the_checkpoint_records_one():
    req, own, meta = ExportRequest(checkpoint="ck.pt", out="dist"), "cub:/d", {"data": {"val_split": CARVE, "spec": "cub:/d"}}
    assert gate_split(req, meta, own) == (CARVE, "val")
    assert gate_split(req, {"data": {"spec": own}}, own) == (None, "test")
    assert gate_split(ExportRequest("ck.pt", "dist", gate_split="test"), meta, own) == (CARVE, "test")
    assert gate_split(req, meta, "folder:/elsewhere") == (None, "test")  # the user's own hold-out: its test split
    with pytest.raises(FGVCError, match="--gate-split val: ck.pt records no validation split"):
        gate_split(ExportRequest("ck.pt", "dist", gate_split="val"), {"data": {"spec": own}}, own)
