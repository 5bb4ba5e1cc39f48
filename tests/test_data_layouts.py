"""Every data reader on small layouts built here: classes, split sizes, labels, refused escapes, bad lines."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from fgvc_mobile.data.layouts import READERS, load_splits, parse_data_spec, split_options
from fgvc_mobile.errors import FGVCError


def _touch(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")  # readers never decode images; the bad-image policy is tested elsewhere
    return str(path)


def _write(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _labels(samples) -> list[tuple[str, int]]:
    return sorted((os.path.basename(p), y) for p, y in samples)


# ------------------------------------------------------------------ CUB


def _cub(root: Path, escape: bool = False) -> Path:
    classes = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
    _write(root / "classes.txt", [f"{i + 1} {c}" for i, c in enumerate(classes)])
    images, labels, split = [], [], []
    for n in range(9):
        cls = n % 3
        rel = f"{classes[cls]}/img{n}.jpg"
        images.append(f"{n + 1} {'../../outside.jpg' if escape and n == 4 else rel}")
        labels.append(f"{n + 1} {cls + 1}")
        split.append(f"{n + 1} {1 if n < 6 else 0}")
        _touch(root / "images" / rel)
    _write(root / "images.txt", images)
    _write(root / "image_class_labels.txt", labels)
    _write(root / "train_test_split.txt", split)
    return root


def test_cub_reader(tmp_path):
    root = _cub(tmp_path / "CUB_200_2011")
    for spec in (f"cub:{root}", f"cub:{tmp_path}"):  # the root or its parent
        s = load_splits(spec)
        assert s.classes == ["Black_footed_Albatross", "Laysan_Albatross", "Sooty_Albatross"]
        assert (len(s.train), len(s.test)) == (6, 3)
        assert _labels(s.train) == [(f"img{n}.jpg", n % 3) for n in range(6)]
        assert all(os.path.isfile(p) for p, _ in s.train + s.test)


def test_cub_entry_outside_root_is_refused(tmp_path):
    root = _cub(tmp_path / "CUB_200_2011", escape=True)
    with pytest.raises(FGVCError, match="outside the data root") as e:
        load_splits(f"cub:{root}")
    assert "images.txt" in str(e.value)


def test_cub_malformed_line_names_file_and_line(tmp_path):
    root = _cub(tmp_path / "c")
    lines = (root / "image_class_labels.txt").read_text().splitlines()
    lines[2] = "3"
    _write(root / "image_class_labels.txt", lines)
    with pytest.raises(FGVCError, match=r"image_class_labels.txt:3: expected 2 fields"):
        load_splits(f"cub:{root}")


def test_symlinked_image_folder_is_allowed(tmp_path):
    """A data root whose images/ is a symlink to another disk is normal, not an escape."""
    _touch(tmp_path / "disk2" / "photos" / "1.jpg")
    root = tmp_path / "root"
    root.mkdir()
    (root / "images").symlink_to(tmp_path / "disk2" / "photos")
    _write(root / "all.csv", ["images/1.jpg,owl,train", "images/1.jpg,owl,test"])
    s = load_splits(f"csv:{root / 'all.csv'}")
    assert s.train[0][0] == str(root / "images" / "1.jpg")


# ------------------------------------------------------------------ ImageFolder


def test_image_folder_reader(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for c in ("warbler", "sparrow"):
            for i in range(n):
                _touch(tmp_path / split / c / f"{i}.png")
    _touch(tmp_path / "train" / "sparrow" / "notes.txt")  # not an image: ignored
    for spec in (f"folder:{tmp_path}", str(tmp_path)):
        s = load_splits(spec)
        assert s.classes == ["sparrow", "warbler"]
        assert (len(s.train), len(s.test)) == (6, 4)
        assert {y for p, y in s.train if "/warbler/" in p} == {1}


# ------------------------------------------------------------------ FGVC-Aircraft

AIRCRAFT = [  # id, variant, family, manufacturer, split
    ("0034309", "707-320", "Boeing 707", "Boeing", "trainval"),
    ("0034958", "727-200", "Boeing 727", "Boeing", "trainval"),
    ("0037511", "A300B4", "A300", "Airbus", "trainval"),
    ("1025794", "Cessna 172", "Cessna 172", "Cessna", "trainval"),
    ("0056978", "F/A-18", "F/A-18", "McDonnell Douglas", "test"),
    ("0062781", "707-320", "Boeing 707", "Boeing", "test"),
]
LEVELS = {"variant": 1, "family": 2, "manufacturer": 3}
LIST_FILES = {"variant": "variants.txt", "family": "families.txt", "manufacturer": "manufacturers.txt"}


def _aircraft(root: Path) -> Path:
    data = root / "data"
    for row in AIRCRAFT:
        _touch(data / "images" / f"{row[0]}.jpg")
    for level, col in LEVELS.items():
        names = []
        for row in AIRCRAFT:
            names += [row[col]] if row[col] not in names else []
        _write(data / LIST_FILES[level], names)  # official order: first appearance, not sorted
        for split in ("trainval", "test"):
            _write(data / f"images_{level}_{split}.txt", [f"{r[0]} {r[col]}" for r in AIRCRAFT if r[4] == split])
    return root


@pytest.mark.parametrize("level", ["variant", "family", "manufacturer"])
def test_aircraft_levels(tmp_path, level):
    root = _aircraft(tmp_path / "fgvc-aircraft-2013b")
    col = LEVELS[level]
    spec = f"aircraft:{root}" if level == "variant" else f"aircraft:{root}?level={level}"
    s = load_splits(spec)
    expected_classes = list(dict.fromkeys(r[col] for r in AIRCRAFT))
    assert s.classes == expected_classes
    assert s.extra["level"] == level
    assert (len(s.train), len(s.test)) == (4, 2)
    truth = sorted((f"{r[0]}.jpg", expected_classes.index(r[col])) for r in AIRCRAFT if r[4] == "test")
    assert _labels(s.test) == truth
    # the data/ folder itself is accepted as PATH too
    assert load_splits(f"aircraft:{root / 'data'}?level={level}").classes == expected_classes


def test_aircraft_without_class_list_sorts_labels(tmp_path):
    root = _aircraft(tmp_path / "a")
    (root / "data" / "families.txt").unlink()
    s = load_splits(f"aircraft:{root}?level=family")
    assert s.classes == sorted({r[2] for r in AIRCRAFT})


def test_aircraft_errors(tmp_path):
    root = _aircraft(tmp_path / "a")
    with pytest.raises(FGVCError, match="level 'model' must be one of"):
        load_splits(f"aircraft:{root}?level=model")
    with pytest.raises(FGVCError, match="unknown option 'levle'"):
        load_splits(f"aircraft:{root}?levle=family")
    test_file = root / "data" / "images_variant_test.txt"
    _write(test_file, ["0056978 F/A-18", "0062781 Concorde"])
    with pytest.raises(FGVCError, match=r"images_variant_test.txt:2: variant 'Concorde' is not in variants.txt"):
        load_splits(f"aircraft:{root}")
    _write(test_file, ["0056978 F/A-18", "0062781"])
    with pytest.raises(FGVCError, match=r"images_variant_test.txt:2: expected 2 fields"):
        load_splits(f"aircraft:{root}")
    _write(test_file, ["../../../etc/passwd 707-320"])
    with pytest.raises(FGVCError, match="outside the data root"):
        load_splits(f"aircraft:{root}")
    (root / "data" / "images_family_trainval.txt").unlink()
    with pytest.raises(FGVCError, match=r"images_family_trainval.txt: missing index file"):
        load_splits(f"aircraft:{root}?level=family")


# ------------------------------------------------------------------ Stanford Cars

CAR_NAMES = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "BMW M3 Coupe 2012"]


def _savemat_annotations(path: Path, rows, extra_fields=()):
    """A 1xN MATLAB struct array shaped like the real devkit's (each field a 1x1 array)."""
    from scipy.io import savemat

    fields = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", *extra_fields)
    ann = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for k, row in enumerate(rows):
        vals = [np.array([[v]], np.uint16) for v in (3, 5, 60, 40)] + [np.array([[row[0]]], np.uint8)]
        vals += [np.array([v]) if isinstance(v, str) else np.array([[v]], np.uint8) for v in row[1:]]
        ann[0, k] = tuple(vals)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"annotations": ann})


def _savemat_names(path: Path, names):
    from scipy.io import savemat

    cells = np.empty((1, len(names)), dtype=object)
    cells[0, :] = names
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"class_names": cells})


def _cars(root: Path, train_classes=(1, 2, 3, 1, 2), test_classes=(3, 2), labels_in_devkit=False) -> Path:
    _savemat_names(root / "devkit" / "cars_meta.mat", CAR_NAMES)
    for split, classes in (("train", train_classes), ("test", test_classes)):
        rows = [(c, f"{k + 1:05d}.jpg") for k, c in enumerate(classes)]
        for _, fname in rows:
            _touch(root / f"cars_{split}" / fname)
        if split == "train":
            mat = root / "devkit" / "cars_train_annos.mat"
        else:
            mat = (root / "devkit" if labels_in_devkit else root) / "cars_test_annos_withlabels.mat"
        _savemat_annotations(mat, rows, extra_fields=("fname",))
    return root


def test_cars_devkit_reader(tmp_path):
    root = _cars(tmp_path / "stanford_cars")
    for spec in (f"cars:{root}", f"cars:{tmp_path}"):  # the root or the folder holding stanford_cars/
        s = load_splits(spec)
        assert s.classes == CAR_NAMES
        assert _labels(s.train) == [("00001.jpg", 0), ("00002.jpg", 1), ("00003.jpg", 2), ("00004.jpg", 0), ("00005.jpg", 1)]
        assert _labels(s.test) == [("00001.jpg", 2), ("00002.jpg", 1)]
        assert all("/cars_test/" in p for p, _ in s.test)
        assert all(os.path.isfile(p) for p, _ in s.train + s.test)


def test_cars_labels_in_devkit_and_missing_labels(tmp_path):
    root = _cars(tmp_path / "c", labels_in_devkit=True)
    assert len(load_splits(f"cars:{root}").test) == 2
    (root / "devkit" / "cars_test_annos_withlabels.mat").unlink()
    with pytest.raises(FGVCError, match="test labels missing"):
        load_splits(f"cars:{root}")


def test_cars_all_in_one_layout(tmp_path):
    root = tmp_path / "cars"
    rows = [(2, "car_ims/000001.jpg", 0), (3, "car_ims/000002.jpg", 1), (1, "car_ims/000003.jpg", 0)]
    for _, rel, _ in rows:
        _touch(root / rel)
    _savemat_annotations(root / "cars_annos.mat", rows, extra_fields=("relative_im_path", "test"))
    from scipy.io import loadmat, savemat

    mat = loadmat(str(root / "cars_annos.mat"))
    cells = np.empty((1, 3), dtype=object)
    cells[0, :] = CAR_NAMES
    savemat(str(root / "cars_annos.mat"), {"annotations": mat["annotations"], "class_names": cells})
    s = load_splits(f"cars:{root}")
    assert s.classes == CAR_NAMES
    assert _labels(s.train) == [("000001.jpg", 1), ("000003.jpg", 0)]
    assert _labels(s.test) == [("000002.jpg", 2)]


def test_cars_bad_annotations(tmp_path):
    root = _cars(tmp_path / "c", train_classes=(1, 4, 2))
    with pytest.raises(FGVCError, match=r"cars_train_annos.mat: annotation 2: class 4 outside 1..3"):
        load_splits(f"cars:{root}")
    _savemat_annotations(root / "devkit" / "cars_train_annos.mat", [(1, "../../../x.jpg")], extra_fields=("fname",))
    with pytest.raises(FGVCError, match=r"cars_train_annos.mat annotation 1: entry '../../../x.jpg' points outside"):
        load_splits(f"cars:{root}")
    _savemat_annotations(root / "devkit" / "cars_train_annos.mat", [(1, 7)], extra_fields=("name",))
    with pytest.raises(FGVCError, match=r"cars_train_annos.mat: annotations lack field\(s\) fname"):
        load_splits(f"cars:{root}")
    (root / "devkit" / "cars_train_annos.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage")
    with pytest.raises(FGVCError, match=r"cars_train_annos.mat: not a readable MATLAB file"):
        load_splits(f"cars:{root}")
    (root / "devkit" / "cars_meta.mat").unlink()
    with pytest.raises(FGVCError, match=r"cars_meta.mat: missing annotation file"):
        load_splits(f"cars:{root}")


# ------------------------------------------------------------------ CSV


def test_csv_with_split_column_and_header(tmp_path):
    for rel in ("a/1.jpg", "a/2.jpg", "b/3.jpg", "b/4.jpg", "c d/5.jpg"):
        _touch(tmp_path / rel)
    csv_path = _write(
        tmp_path / "all.csv",
        ["path,label,split", "a/1.jpg,cat,train", "b/3.jpg,ant,train", "", '"c d/5.jpg",bee,test', "a/2.jpg,cat,test"],
    )
    s = load_splits(f"csv:{csv_path}")
    assert s.classes == ["ant", "bee", "cat"]
    assert _labels(s.train) == [("1.jpg", 2), ("3.jpg", 0)]
    assert _labels(s.test) == [("2.jpg", 2), ("5.jpg", 1)]
    assert all(Path(p).is_file() for p, _ in s.train + s.test)


def test_csv_sibling_test_file_and_numeric_labels(tmp_path):
    _write(tmp_path / "cub_train.csv", ["x/1.jpg,10", "x/2.jpg,2", "x/3.jpg,1"])  # no header
    _write(tmp_path / "cub_test.csv", ["path,label", "x/4.jpg,2"])
    s = load_splits(f"csv:{tmp_path / 'cub_train.csv'}")
    assert s.classes == ["1", "2", "10"]  # integers sort numerically
    assert _labels(s.train) == [("1.jpg", 2), ("2.jpg", 1), ("3.jpg", 0)]
    assert _labels(s.test) == [("4.jpg", 1)]
    _write(tmp_path / "train.csv", ["x/1.jpg,b"])
    _write(tmp_path / "test.csv", ["x/2.jpg,a"])
    s = load_splits(f"csv:{tmp_path}")  # a folder means DIR/train.csv + DIR/test.csv
    assert s.classes == ["a", "b"] and len(s.train) == len(s.test) == 1


def test_csv_errors(tmp_path):
    bad = _write(tmp_path / "d.csv", ["a.jpg,cat,train", "b.jpg,dog,validation"])
    with pytest.raises(FGVCError, match=r"d.csv:2: split must be 'train', 'val' or 'test'"):
        load_splits(f"csv:{bad}")
    bad = _write(tmp_path / "e.csv", ["a.jpg,cat,train", "b.jpg"])
    with pytest.raises(FGVCError, match=r"e.csv:2: expected path,label\[,split\]"):
        load_splits(f"csv:{bad}")
    bad = _write(tmp_path / "f.csv", ["a.jpg,cat,train", "b.jpg,dog"])
    with pytest.raises(FGVCError, match=r"f.csv: some rows have a split column"):
        load_splits(f"csv:{bad}")
    bad = _write(tmp_path / "g.csv", ["a.jpg,cat"])
    with pytest.raises(FGVCError, match=r"g.csv: no split column"):
        load_splits(f"csv:{bad}")
    bad = _write(tmp_path / "h_train.csv", ["a.jpg,cat"])
    with pytest.raises(FGVCError, match=r"h_test.csv: missing index file"):
        load_splits(f"csv:{bad}")
    bad = _write(tmp_path / "i.csv", ["a.jpg,cat,train", "../secret.jpg,dog,test"])
    with pytest.raises(FGVCError, match=r"i.csv:2: entry '../secret.jpg' points outside the data root"):
        load_splits(f"csv:{bad}")
    bad = _write(tmp_path / "j.csv", ["a.jpg,cat,train", f"{tmp_path.parent / 'x.jpg'},dog,test"])
    with pytest.raises(FGVCError, match="outside the data root"):
        load_splits(f"csv:{bad}")
    for rel in (".", "a/.."):
        bad = _write(tmp_path / "l.csv", ["a.jpg,cat,train", f"{rel},dog,test"])
        with pytest.raises(FGVCError, match=rf"l.csv:2: entry '{re.escape(rel)}' names the data root .* itself"):
            load_splits(f"csv:{bad}")
    (tmp_path / "k.csv").write_bytes(b"a.jpg,caf\xe9,train\n")
    with pytest.raises(FGVCError, match=r"k.csv: not UTF-8 text"):
        load_splits(f"csv:{tmp_path / 'k.csv'}")


# ------------------------------------------------------------------ specs


def test_spec_parsing():
    assert split_options("aircraft:/d/x?level=family") == ("aircraft:/d/x", {"level": "family"})
    assert split_options("synthetic?size=32&seed=1") == ("synthetic", {"size": "32", "seed": "1"})
    assert split_options("folder:/d/what?") == ("folder:/d/what?", {})  # a '?' that is not options
    assert parse_data_spec("aircraft:/d/x?level=family") == ("aircraft", "/d/x")
    assert parse_data_spec("synthetic") == ("synthetic", "")
    assert {"cub", "folder", "aircraft", "cars", "csv", "synthetic"} <= set(READERS)
    with pytest.raises(FGVCError, match="use KIND:PATH"):
        parse_data_spec("nosuchkind:/x")


def test_missing_path_and_options_for_readers_without_options(tmp_path):
    with pytest.raises(FGVCError, match="does not exist"):
        load_splits(f"cub:{tmp_path / 'nope'}")
    with pytest.raises(FGVCError, match="unknown option 'level' for cub"):
        load_splits(f"cub:{tmp_path}?level=family")
