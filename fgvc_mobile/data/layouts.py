"""Readers that turn a data set on disk into samples and class names.

A data set is named ``KIND:PATH`` on the command line (``cub:/data/CUB_200_2011``,
``folder:/data/birds``, ``synthetic`` ...). Each reader returns a :class:`DataSplits` whose
class names travel with the data into the checkpoint and every exported artifact.
Index files that point outside the data root are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fgvc_mobile.errors import FGVCError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class DataSplits:
    """Samples (absolute path, class index) per split, and the class names in index order."""

    classes: list[str]
    train: list[tuple[str, int]]
    test: list[tuple[str, int]]
    root: str = ""
    kind: str = ""
    extra: dict = field(default_factory=dict)

    def split(self, name: str) -> list[tuple[str, int]]:
        if name not in ("train", "test"):
            raise FGVCError(f"unknown split {name!r}: use 'train' or 'test'")
        return self.train if name == "train" else self.test

    def check(self) -> "DataSplits":
        if not self.classes:
            raise FGVCError(f"{self.kind}:{self.root}: no classes found")
        n = len(self.classes)
        for split in ("train", "test"):
            for path, label in self.split(split):
                if not 0 <= label < n:
                    raise FGVCError(f"{path}: label {label} outside 0..{n - 1}")
        return self


READERS: dict[str, Callable[..., DataSplits]] = {}


def register_reader(kind: str):
    def deco(fn):
        READERS[kind] = fn
        return fn

    return deco


def inside_root(root: str | os.PathLike, rel: str, index_file: str | os.PathLike) -> str:
    """Resolve ``rel`` under ``root``; refuse index entries that escape the data root."""
    root_p = Path(root).resolve()
    p = (root_p / rel).resolve()
    if root_p != p and root_p not in p.parents:
        raise FGVCError(f"{index_file}: entry {rel!r} points outside the data root {root_p}")
    return str(p)


def read_pairs(path: Path, ncols: int = 2) -> list[list[str]]:
    """Whitespace-separated index file (``id value...``); a bad line names file and line number."""
    if not path.is_file():
        raise FGVCError(f"{path}: missing index file")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(maxsplit=ncols - 1)
            if len(parts) != ncols:
                raise FGVCError(f"{path}:{lineno}: expected {ncols} fields, got {line!r}")
            rows.append(parts)
    return rows


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
    out = {}
    for cdir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        files = sorted(
            str(f) for f in cdir.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
        )
        out[cdir.name] = files
    return out


@register_reader("folder")
def read_image_folder(root: str) -> DataSplits:
    """ImageFolder layout: ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` (or ``val/``)."""
    r = Path(root)
    test_name = "test" if (r / "test").is_dir() else "val"
    if not (r / "train").is_dir() or not (r / test_name).is_dir():
        raise FGVCError(f"{r}: an image folder needs train/ and test/ (or val/) subfolders of class folders")
    tr = _scan_class_folders(r / "train")
    te = _scan_class_folders(r / test_name)
    classes = sorted(set(tr) | set(te))
    idx = {c: i for i, c in enumerate(classes)}
    train = [(p, idx[c]) for c in tr for p in tr[c]]
    test = [(p, idx[c]) for c in te for p in te[c]]
    return DataSplits(classes, train, test, str(r), "folder").check()


def parse_data_spec(spec: str) -> tuple[str, str]:
    """``KIND:PATH`` -> (kind, path). A bare existing folder is read as an image folder."""
    if ":" in spec and spec.split(":", 1)[0] in READERS:
        kind, path = spec.split(":", 1)
        return kind, path
    if spec in READERS:
        return spec, ""
    if os.path.isdir(spec):
        return "folder", spec
    raise FGVCError(f"--data {spec!r}: use KIND:PATH with KIND one of {sorted(READERS)}")


def load_splits(spec: str) -> DataSplits:
    """Read any supported data set from its ``KIND:PATH`` spec."""
    kind, path = parse_data_spec(spec)
    if path and not os.path.exists(path):
        raise FGVCError(f"--data {spec!r}: {path} does not exist")
    return READERS[kind](path)
