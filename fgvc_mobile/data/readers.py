"""What a data set reader returns (:class:`DataSplits`) and the registry readers add themselves to.

A reader is a function ``(path, **options) -> DataSplits`` registered under the ``KIND`` users
type in ``--data KIND:PATH``. Reader modules (``layouts``, ``cars``, ``synthetic``) import this
module only, so any of them can be imported first; ``layouts.load_splits`` imports them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from fgvc_mobile.errors import FGVCError


@dataclass
class DataSplits:
    """Samples (absolute path, class index) per split, and the class names in index order.

    ``val`` is the layout's official validation split (FGVC-Aircraft's ``val``, a ``val/`` folder
    beside ``train/`` and ``test/``, CSV rows tagged ``val``), empty where it has none: training
    then carves one from ``train`` (:mod:`fgvc_mobile.data.validation`).
    """

    classes: list[str]
    train: list[tuple[str, int]]
    test: list[tuple[str, int]]
    root: str = ""
    kind: str = ""
    extra: dict = field(default_factory=dict)
    val: list[tuple[str, int]] = field(default_factory=list)

    def split(self, name: str) -> list[tuple[str, int]]:
        if name not in SPLITS:
            raise FGVCError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def check(self) -> "DataSplits":
        if not self.classes:
            raise FGVCError(f"{self.kind}:{self.root}: no classes found")
        n = len(self.classes)
        for split in SPLITS:
            for path, label in self.split(split):
                if not 0 <= label < n:
                    raise FGVCError(f"{path}: label {label} outside 0..{n - 1}")
        return self


SPLITS = ("train", "val", "test")
READERS: dict[str, Callable[..., DataSplits]] = {}


GENERATED: set[str] = set()  # kinds whose PATH is written by the reader, so need not exist yet


def register_reader(kind: str, generates: bool = False):
    def deco(fn):
        READERS[kind] = fn
        if generates:
            GENERATED.add(kind)
        return fn

    return deco


def inside_root(root: str | os.PathLike, rel: str, index_file: str | os.PathLike) -> str:
    """Join ``rel`` to ``root``; refuse index entries that escape the data root.

    The check is lexical (``..`` and absolute paths elsewhere are refused) so that a data root
    whose image folder is a symlink to another disk still works.
    """
    if "\0" in rel:
        raise FGVCError(f"{index_file}: entry {rel[:80]!r} contains a NUL byte")
    root_p = os.path.abspath(root)
    p = os.path.normpath(os.path.join(root_p, rel))
    if p == root_p:  # '.', 'a/..': the root folder itself is no image, and would fail only when read
        raise FGVCError(f"{index_file}: entry {rel!r} names the data root {root_p} itself, not a file in it")
    if not p.startswith(root_p.rstrip(os.sep) + os.sep):
        raise FGVCError(f"{index_file}: entry {rel!r} points outside the data root {root_p}")
    return p
