"""Paths: spaces and non-ASCII characters in data, run, export and report paths; index entries
that point outside the data root refused by every reader that reads an index."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image_folder
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.errors import FGVCError
from reliability_files import pattern
from reliability_fixtures import cli, record
from test_data_layouts import _savemat_annotations, _savemat_names

AWKWARD = "données d'oiseaux ü/jeu 1 模型"


def test_awkward_paths_through_train_export_predict_bench(capsys, tmp_path):
    data = make_image_folder(tmp_path / AWKWARD / "data", train=4, test=2)
    photo = data / "test" / "class_1" / "photo de l'oiseau é 1.png"
    shutil.copy(next((data / "test" / "class_1").glob("*.png")), photo)
    run = tmp_path / "runs" / "été 2024 ランダム"
    rc, out, err = cli(capsys, "train", "--data", f"folder:{data}", "--out", run, "--img-size", "32", "--resize", "36",
                       "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--method",
                       "baseline", "--model", '{"width_mult": 0.25}', "--val-split", "0.25", "--pretrained", "none")
    assert rc == 0, err
    dist = tmp_path / "dist" / "模型 输出 ü"
    rc, _, err = cli(capsys, "export", "--checkpoint", run / "best.pt", "--format", "onnx", "--out", dist)
    assert rc == 0, err
    index = json.loads((dist / "manifest.json").read_text(encoding="utf-8"))
    assert index["source"]["checkpoint"] == os.path.abspath(run / "best.pt")
    rc, out, err = cli(capsys, "predict", "--model", dist / "model_fp32.onnx", photo, "--top-k", "1")
    assert rc == 0 and f"{photo}\n  1. class_" in out, err
    rep = tmp_path / "報告 x" / "r é"
    rc, _, err = cli(capsys, "bench", "--artifacts", dist, "--data", f"folder:{data}", "--out", rep, "--runs", "1",
                     "--warmup", "0", "--limit", "2", "--no-progress")
    assert rc == 0, err
    report = json.loads((rep / "report.json").read_text(encoding="utf-8"))
    assert any(r["format"] == "onnx" and not r.get("skipped_reason") for r in report["results"])
    assert (rep / "report.html").is_file() and (rep / "report.md").is_file()
    record("paths", cases=4)


def _jpg(folder: Path, entry: str) -> None:
    """The image an index entry names, where that is inside ``folder``."""
    rel = os.path.normpath(entry)
    if "\0" in entry or os.path.isabs(rel) or rel.startswith(".."):
        return
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pattern(8)).save(folder / rel)


def _cub(root: Path, entries: list[str]) -> str:
    for e in entries:
        _jpg(root / "images", e)
    (root / "images").mkdir(parents=True, exist_ok=True)
    n = range(1, len(entries) + 1)
    (root / "images.txt").write_text("".join(f"{i} {e}\n" for i, e in zip(n, entries)), encoding="utf-8")
    (root / "image_class_labels.txt").write_text("".join(f"{i} 1\n" for i in n))
    (root / "train_test_split.txt").write_text("".join(f"{i} {i % 2}\n" for i in n))
    (root / "classes.txt").write_text("1 001.Bird ü\n", encoding="utf-8")
    return f"cub:{root}"


def _csv(root: Path, entries: list[str]) -> str:
    import csv

    root.mkdir(parents=True, exist_ok=True)
    for e in entries:
        _jpg(root, e)
    with open(root / "train.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([[e, "bird ü", "train" if k % 2 else "test"] for k, e in enumerate(entries)])
    return f"csv:{root / 'train.csv'}"


def _aircraft(root: Path, entries: list[str]) -> str:
    (root / "images").mkdir(parents=True, exist_ok=True)
    for e in entries:
        _jpg(root / "images", f"{e}.jpg")
    for split in ("trainval", "test"):
        (root / f"images_variant_{split}.txt").write_text("".join(f"{e} 707-320\n" for e in entries), encoding="utf-8")
    return f"aircraft:{root}"


def _cars(root: Path, entries: list[str]) -> str:
    _savemat_names(root / "devkit" / "cars_meta.mat", ["Car A 2012"])
    for split in ("train", "test"):
        for e in entries:
            _jpg(root / f"cars_{split}", e)
        mat = root / "devkit" / ("cars_train_annos.mat" if split == "train" else "cars_test_annos_withlabels.mat")
        _savemat_annotations(mat, [(1, e) for e in entries], extra_fields=("fname",))
    return f"cars:{root}"


def _cars_all_in_one(root: Path, entries: list[str]) -> str:
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    for e in entries:
        _jpg(root, e)
    ann = np.zeros((1, len(entries)), dtype=[(f, "O") for f in ("relative_im_path", "class", "test")])
    for k, e in enumerate(entries):
        ann[0, k] = (np.array([e]), np.array([[1]], np.uint8), np.array([[k % 2]], np.uint8))
    names = np.empty((1, 1), dtype=object)
    names[0, 0] = "Car A 2012"
    savemat(str(root / "cars_annos.mat"), {"annotations": ann, "class_names": names})
    return f"cars:{root}"


READERS = {"cub": _cub, "csv": _csv, "aircraft": _aircraft, "cars devkit": _cars, "cars all-in-one": _cars_all_in_one}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_awkward_names_inside_the_root_are_read(tmp_path, reader):
    # aircraft lines are "<id> <label with spaces>": its ids cannot hold a space
    names = ["dir_ü/ü_é_1", "模型/x_2", "a/../a/b_3"] if reader == "aircraft" else \
        ["dir with space/ü é 1.jpg", "模型/x, y 2.jpg", "a/../a/b 3.jpg"]
    root = tmp_path / AWKWARD / reader.replace(" ", "_")
    splits = load_splits(READERS[reader](root, names))
    samples = splits.train + splits.test
    record("paths", cases=len(samples))
    assert samples and all(os.path.isfile(p) for p, _ in samples)
    assert any("é_1" in p or "é 1" in p for p, _ in samples) and not any(".." in p for p, _ in samples)


OUTSIDE = ["../outside.jpg", "a/../../outside.jpg", "/etc/passwd", "{root}/../sibling.jpg", "a\0b.jpg"]


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("entry", OUTSIDE)
def test_index_entries_outside_the_root_are_refused(tmp_path, reader, entry):
    if "\0" in entry and reader.startswith("cars"):
        pytest.skip("MATLAB strings cannot hold a NUL byte")
    root = tmp_path / AWKWARD / reader.replace(" ", "_")
    entry = entry.format(root=root)
    if reader == "aircraft" and entry.endswith(".jpg"):
        entry = entry[:-4]
    spec = READERS[reader](root, ["ok 1" if reader == "aircraft" else "ok 1.jpg", entry])
    with pytest.raises(FGVCError, match="points outside the data root|NUL") as e:
        load_splits(spec)
    record("paths", cases=1)
    assert "\n" not in str(e.value)
