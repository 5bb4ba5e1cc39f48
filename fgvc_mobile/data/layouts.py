"""Readers that turn a data set on disk into samples and class names.

A data set is named ``KIND:PATH`` on the command line (``cub:/data/CUB_200_2011``,
``folder:/data/birds``, ``synthetic`` ...), optionally followed by reader options
``?key=value&key=value`` (``aircraft:/data/fgvc-aircraft-2013b?level=family``,
``synthetic?size=224``). Each reader returns a :class:`DataSplits` whose class names travel
with the data into the checkpoint and every exported artifact. Index entries that point
outside the data root are refused.
"""

from __future__ import annotations

import csv
import inspect
import os
import re
from pathlib import Path

from fgvc_mobile.data import cars, synthetic  # noqa: F401  (their readers register on import)
from fgvc_mobile.data.images import image_files
from fgvc_mobile.data.readers import GENERATED, READERS, SPLITS, DataSplits, inside_root, register_reader
from fgvc_mobile.errors import FGVCError


def _open_text(path: Path):
    if not path.is_file():
        raise FGVCError(f"{path}: missing index file")
    return open(path, encoding="utf-8-sig", newline="")


def read_rows(path: Path, ncols: int = 2) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a whitespace-separated index file; the last field may hold spaces."""
    rows = []
    try:
        with _open_text(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                parts = line.split(maxsplit=ncols - 1)
                if len(parts) != ncols:
                    raise FGVCError(f"{path}:{lineno}: expected {ncols} fields, got {line!r}")
                rows.append((lineno, parts))
    except UnicodeDecodeError as e:
        raise FGVCError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return rows


def read_pairs(path: Path, ncols: int = 2) -> list[list[str]]:
    """Whitespace-separated index file (``id value...``); a bad line names file and line number."""
    return [parts for _, parts in read_rows(path, ncols)]


@register_reader("cub")
def read_cub(root: str) -> DataSplits:
    """CUB-200-2011 canonical layout: images.txt, image_class_labels.txt, train_test_split.txt."""
    r = Path(root)
    if not (r / "images.txt").is_file() and (r / "CUB_200_2011" / "images.txt").is_file():
        r = r / "CUB_200_2011"
    images = {i: p for i, p in read_pairs(r / "images.txt")}
    labels = {i: c for i, c in read_pairs(r / "image_class_labels.txt")}
    split = {i: s for i, s in read_pairs(r / "train_test_split.txt")}
    class_rows = read_pairs(r / "classes.txt")
    class_ids = [cid for cid, _ in class_rows]
    class_index = {cid: k for k, cid in enumerate(class_ids)}
    classes = [name.split(".", 1)[1] if "." in name else name for _, name in class_rows]
    train, test = [], []
    for img_id, rel in images.items():
        if img_id not in labels or img_id not in split:
            raise FGVCError(f"{r}: image id {img_id} lacks a label or a split entry")
        if labels[img_id] not in class_index:
            raise FGVCError(f"{r / 'image_class_labels.txt'}: unknown class id {labels[img_id]}")
        if split[img_id] not in ("0", "1"):
            raise FGVCError(f"{r / 'train_test_split.txt'}: split for id {img_id} must be 0 or 1")
        item = (inside_root(r / "images", rel, r / "images.txt"), class_index[labels[img_id]])
        (train if split[img_id] == "1" else test).append(item)
    return DataSplits(classes, train, test, str(r), "cub").check()


def _scan_class_folders(split_dir: Path) -> dict[str, list[str]]:
    return {cdir.name: image_files(cdir) for cdir in sorted(p for p in split_dir.iterdir() if p.is_dir())}


@register_reader("folder")
def read_image_folder(root: str) -> DataSplits:
    """ImageFolder layout: ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` (or ``val/`` as the
    test split); with all three of ``train/``, ``val/`` and ``test/``, ``val/`` is the validation split."""
    r = Path(root)
    test_name = "test" if (r / "test").is_dir() else "val"
    if not (r / "train").is_dir() or not (r / test_name).is_dir():
        raise FGVCError(f"{r}: an image folder needs train/ and test/ (or val/) subfolders of class folders")
    names = {"train": "train", "test": test_name}
    if test_name == "test" and (r / "val").is_dir():
        names["val"] = "val"
    found = {split: _scan_class_folders(r / folder) for split, folder in names.items()}
    classes = sorted(set().union(*found.values()))
    idx = {c: i for i, c in enumerate(classes)}
    out = {split: [(p, idx[c]) for c in f for p in f[c]] for split, f in found.items()}
    return DataSplits(classes, out["train"], out["test"], str(r), "folder", val=out.get("val", [])).check()


AIRCRAFT_LEVELS = {"variant": "variants.txt", "family": "families.txt", "manufacturer": "manufacturers.txt"}


@register_reader("aircraft")
def read_aircraft(root: str, level: str = "variant") -> DataSplits:
    """FGVC-Aircraft (fgvc-aircraft-2013b): ``data/images/<id>.jpg`` and
    ``data/images_<level>_{trainval,test}.txt`` with lines ``<id> <label with spaces>``.

    ``aircraft:PATH`` reads the variant level (100 classes); ``aircraft:PATH?level=family`` (70)
    and ``?level=manufacturer`` (30) the coarser ones. PATH is the
    data set root or its ``data/`` folder. Class order is that of ``variants.txt`` (etc.) when
    present, as in the official release; otherwise the sorted label names. Where the release's
    ``images_<level>_train.txt`` and ``_val.txt`` exist, they are the train and validation splits
    (the official protocol); otherwise trainval is the train split.
    """
    if level not in AIRCRAFT_LEVELS:
        raise FGVCError(f"aircraft: level {level!r} must be one of {', '.join(AIRCRAFT_LEVELS)}")
    r = Path(root)
    if not (r / "images").is_dir() and (r / "data" / "images").is_dir():
        r = r / "data"
    official_val = all((r / f"images_{level}_{name}.txt").is_file() for name in ("train", "val"))
    names = ("train", "val", "test") if official_val else ("trainval", "test")
    files = {name: r / f"images_{level}_{name}.txt" for name in names}
    rows = {name: read_rows(f) for name, f in files.items()}
    list_file = r / AIRCRAFT_LEVELS[level]
    if list_file.is_file():
        classes = [parts[0] for _, parts in read_rows(list_file, ncols=1)]
        if len(set(classes)) != len(classes):
            raise FGVCError(f"{list_file}: a class name is listed twice")
    else:
        classes = sorted({parts[1] for rs in rows.values() for _, parts in rs})
    idx = {c: i for i, c in enumerate(classes)}
    out = {}
    for name, rs in rows.items():
        items = []
        for lineno, (img_id, label) in rs:
            if label not in idx:
                raise FGVCError(f"{files[name]}:{lineno}: {level} {label!r} is not in {list_file.name}")
            items.append((inside_root(r / "images", img_id + ".jpg", files[name]), idx[label]))
        out[name] = items
    train = out["train"] if official_val else out["trainval"]
    return DataSplits(classes, train, out["test"], str(r), "aircraft", {"level": level}, out.get("val", [])).check()


CSV_HEADERS = (
    {"path", "file", "filename", "filepath", "image", "image_path", "img"},
    {"label", "class", "class_name", "category", "target"},
    {"split"},
)


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of a path,label[,split] CSV without its optional header."""
    rows = []
    try:
        with _open_text(path) as f:
            for lineno, cells in enumerate(csv.reader(f), 1):
                cells = [c.strip() for c in cells]
                if not any(cells):
                    continue
                if not rows and lineno == 1 and all(c.lower() in h for c, h in zip(cells, CSV_HEADERS)):
                    continue  # header
                if len(cells) not in (2, 3) or not cells[0] or not cells[1]:
                    raise FGVCError(f"{path}:{lineno}: expected path,label[,split], got {','.join(cells)!r}")
                rows.append((lineno, cells))
    except UnicodeDecodeError as e:
        raise FGVCError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise FGVCError(f"{path}: malformed CSV ({e})") from None
    return rows


def _label_order(labels: set[str]) -> list[str]:
    """Sorted class names; integer labels sort numerically (2 before 10)."""
    if all(re.fullmatch(r"-?\d+", x) for x in labels):
        return sorted(labels, key=int)
    return sorted(labels)


@register_reader("csv")
def read_csv(root: str) -> DataSplits:
    """CSV of ``path,label`` rows; paths are relative to the CSV's folder, labels are class names.

    A header line (``path,label[,split]``) is optional. With a third column ``split`` (``train``,
    ``val`` or ``test``) one file holds every split. Without it, ``csv:DIR/NAME.csv`` is the train split
    and the test split is the sibling file whose name has ``train`` replaced by ``test``
    (``train.csv`` -> ``test.csv``, ``cub_train.csv`` -> ``cub_test.csv``). ``csv:DIR`` means
    ``DIR/train.csv``. Classes are the sorted label names of both splits.
    """
    path = Path(root)
    if path.is_dir():
        path = path / "train.csv"
    base = path.parent
    rows = _csv_rows(path)
    widths = {len(cells) for _, cells in rows}
    if len(widths) > 1:
        raise FGVCError(f"{path}: some rows have a split column and some do not")
    tagged: list[tuple[Path, int, str, str, str]] = []  # file, line, rel path, label, split
    if widths == {3}:
        for lineno, (rel, label, split) in rows:
            if split not in SPLITS:
                raise FGVCError(f"{path}:{lineno}: split must be 'train', 'val' or 'test', got {split!r}")
            tagged.append((path, lineno, rel, label, split))
    else:
        if "train" not in path.name:
            raise FGVCError(
                f"{path}: no split column, and the file name has no 'train' to find its test file by; "
                "add a third column split=train|val|test or name the files train.csv and test.csv"
            )
        i = path.name.rindex("train")
        test_path = path.with_name(path.name[:i] + "test" + path.name[i + 5 :])
        test_rows = _csv_rows(test_path)
        if any(len(cells) != 2 for _, cells in test_rows):
            raise FGVCError(f"{test_path}: expected path,label rows like {path.name}")
        tagged = [(path, n, c[0], c[1], "train") for n, c in rows]
        tagged += [(test_path, n, c[0], c[1], "test") for n, c in test_rows]
    classes = _label_order({t[3] for t in tagged})
    idx = {c: i for i, c in enumerate(classes)}
    out: dict[str, list] = {name: [] for name in SPLITS}
    for file, lineno, rel, label, split in tagged:
        out[split].append((inside_root(base, rel, f"{file}:{lineno}"), idx[label]))
    return DataSplits(classes, out["train"], out["test"], str(path), "csv", val=out["val"]).check()


_OPTIONS = re.compile(r"[A-Za-z_]\w*=[^&?=]*(&[A-Za-z_]\w*=[^&?=]*)*")


def split_options(spec: str) -> tuple[str, dict[str, str]]:
    """``X?a=1&b=2`` -> (``X``, {a: 1, b: 2}); a ``?`` not followed by options stays in the path."""
    head, sep, query = spec.rpartition("?")
    if not sep or not _OPTIONS.fullmatch(query):
        return spec, {}
    return head, dict(kv.split("=", 1) for kv in query.split("&"))


def parse_data_spec(spec: str) -> tuple[str, str]:
    """``KIND:PATH`` (options removed) -> (kind, path). A bare existing folder is an image folder."""
    spec, _ = split_options(spec)
    if ":" in spec and spec.split(":", 1)[0] in READERS:
        kind, path = spec.split(":", 1)
        return kind, path
    if spec in READERS:
        return spec, ""
    if os.path.isdir(spec):
        return "folder", spec
    raise FGVCError(f"--data {spec!r}: use KIND:PATH with KIND one of {sorted(READERS)}")


def load_splits(spec: str) -> DataSplits:
    """Read any supported data set from its ``KIND:PATH[?key=value&...]`` spec."""
    kind, path = parse_data_spec(spec)
    _, options = split_options(spec)
    reader = READERS[kind]
    known = [p for p in list(inspect.signature(reader).parameters)[1:]]
    for key in options:
        if key not in known:
            hint = f"known: {', '.join(known)}" if known else "it takes none"
            raise FGVCError(f"--data {spec!r}: unknown option {key!r} for {kind} ({hint})")
    if path and kind not in GENERATED and not os.path.exists(path):
        raise FGVCError(f"--data {spec!r}: {path} does not exist")
    return reader(path, **options)


