"""Stanford Cars reader: the devkit's MATLAB annotation files (``.mat``, read with scipy).

Two distributions are common and both are read by ``cars:PATH``:

* devkit layout: ``devkit/cars_meta.mat`` (``class_names``), ``devkit/cars_train_annos.mat``,
  ``cars_train/``, ``cars_test/`` and the test labels ``cars_test_annos_withlabels.mat`` (in PATH
  or ``devkit/``; the devkit's own ``cars_test_annos.mat`` has no labels). Kaggle's nested
  ``cars_train/cars_train/`` folders and a PATH that holds ``stanford_cars/`` are accepted.
* all-in-one layout: ``cars_annos.mat`` (``annotations`` with ``relative_im_path``, ``class``,
  ``test``; ``class_names``) beside ``car_ims/``.

Bounding boxes are ignored: the whole image is classified, as in the FGVC papers we compare to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fgvc_mobile.data.readers import DataSplits, inside_root, register_reader
from fgvc_mobile.errors import FGVCError

TEST_LABELS = "cars_test_annos_withlabels.mat"


def _loadmat(path: Path, key: str):
    if not path.is_file():
        raise FGVCError(f"{path}: missing annotation file")
    from scipy.io import loadmat  # scipy is only needed by this reader

    try:
        mat = loadmat(str(path), squeeze_me=True)
    except Exception as e:  # noqa: BLE001 - scipy raises ValueError, TypeError, MatReadError ...
        first = (str(e).splitlines() or [e.__class__.__name__])[0][:200]
        raise FGVCError(f"{path}: not a readable MATLAB file ({first})") from None
    if key not in mat:
        raise FGVCError(f"{path}: no {key!r} variable (has {', '.join(k for k in mat if not k.startswith('__'))})")
    return mat[key]


def _class_names(path: Path) -> list[str]:
    names = [str(n).strip() for n in np.atleast_1d(_loadmat(path, "class_names")).tolist()]
    if not names or any(not n for n in names):
        raise FGVCError(f"{path}: class_names must be a non-empty list of non-empty names")
    if len(set(names)) != len(names):
        raise FGVCError(f"{path}: a class name is listed twice")
    return names


def _annotations(path: Path, fields: tuple[str, ...], n_classes: int):
    """Yield (entry number, {field: value}) with ``class`` turned into a 0-based index."""
    anns = np.atleast_1d(_loadmat(path, "annotations"))
    missing = [f for f in fields if f not in (anns.dtype.names or ())]
    if missing:
        raise FGVCError(f"{path}: annotations lack field(s) {', '.join(missing)}")
    for k, a in enumerate(anns, 1):
        try:
            row = {f: np.asarray(a[f]).squeeze() for f in fields}
            row = {f: (str(v) if v.dtype.kind in "US" else int(v)) for f, v in row.items()}
        except (TypeError, ValueError):
            raise FGVCError(f"{path}: annotation {k} has an empty or non-scalar field") from None
        if not 1 <= row["class"] <= n_classes:
            raise FGVCError(f"{path}: annotation {k}: class {row['class']} outside 1..{n_classes}")
        row["class"] -= 1
        yield k, row


def _image_dir(r: Path, name: str) -> Path:
    nested = r / name / name  # Kaggle's copy nests each folder once more
    return nested if nested.is_dir() else r / name


def _read_all_in_one(r: Path) -> DataSplits:
    mat = r / "cars_annos.mat"
    classes = _class_names(mat)
    train, test = [], []
    for k, a in _annotations(mat, ("relative_im_path", "class", "test"), len(classes)):
        item = (inside_root(r, a["relative_im_path"], f"{mat} annotation {k}"), a["class"])
        (test if a["test"] else train).append(item)
    return DataSplits(classes, train, test, str(r), "cars", {"layout": "cars_annos"}).check()


@register_reader("cars")
def read_cars(root: str) -> DataSplits:
    """Stanford Cars, devkit or all-in-one layout (see the module docstring)."""
    r = Path(root)
    if not (r / "devkit").is_dir() and (r / "stanford_cars").is_dir():
        r = r / "stanford_cars"
    if not (r / "devkit").is_dir() and (r / "cars_annos.mat").is_file():
        return _read_all_in_one(r)
    devkit = r / "devkit"
    if not devkit.is_dir():
        raise FGVCError(f"{r}: no devkit/ folder (and no cars_annos.mat): not a Stanford Cars layout")
    classes = _class_names(devkit / "cars_meta.mat")
    label_files = [r / TEST_LABELS, devkit / TEST_LABELS]
    test_mat = next((p for p in label_files if p.is_file()), None)
    if test_mat is None:
        raise FGVCError(
            f"{r}: test labels missing: put {TEST_LABELS} in {r} or {devkit} "
            "(the devkit's cars_test_annos.mat has no labels)"
        )
    out = {}
    for split, mat in (("train", devkit / "cars_train_annos.mat"), ("test", test_mat)):
        images = _image_dir(r, f"cars_{split}")
        out[split] = [
            (inside_root(images, a["fname"], f"{mat} annotation {k}"), a["class"])
            for k, a in _annotations(mat, ("fname", "class"), len(classes))
        ]
    return DataSplits(classes, out["train"], out["test"], str(r), "cars", {"layout": "devkit"}).check()
