"""The validation split: what every checkpoint, rule and hyper-parameter is chosen on.

Test is for reporting once, at the end of a run. Where the layout ships a validation split
(FGVC-Aircraft's ``val``, a ``val/`` folder, CSV rows tagged ``val``) it is used as it is;
elsewhere (CUB, Stanford Cars, ...) a stratified, seeded fraction of each class is carved out of
the training split. The carve depends only on (samples, fraction, seed), not on the training
seed, so runs with different seeds are selected on the same images.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from fgvc_mobile.data.readers import DataSplits
from fgvc_mobile.errors import FGVCError

#: fraction of each class's training images held out where the layout has no validation split
DEFAULT_VAL_FRACTION = 0.1
MAX_VAL_FRACTION = 0.5


def per_class_count(n: int, fraction: float) -> int:
    """Validation images taken from a class of ``n`` training images (round half up)."""
    return int(math.floor(n * fraction + 0.5))


def carve_validation(samples: list[tuple[str, int]], fraction: float, seed: int, classes: list[str],
                     option: str = "--val-split") -> tuple[list, list]:
    """(train, val): ``per_class_count`` images of every class go to val, chosen by a seeded shuffle.

    Both lists keep the samples' original order, so the split is a pure function of its inputs.
    A fraction that would leave a class without training images is refused, naming ``option``.
    """
    if not 0.0 < fraction <= MAX_VAL_FRACTION:
        raise FGVCError(f"{option} {fraction}: must be in (0, {MAX_VAL_FRACTION}]")
    by_class: dict[int, list[int]] = {}
    for i, (_, label) in enumerate(samples):
        by_class.setdefault(label, []).append(i)
    g = torch.Generator().manual_seed(seed)
    held: set[int] = set()
    for label in sorted(by_class):
        idx = by_class[label]
        k = per_class_count(len(idx), fraction)
        if k >= len(idx):
            name = classes[label] if 0 <= label < len(classes) else label
            raise FGVCError(f"{option} {fraction}: class {name!r} has {len(idx)} training image(s) and would keep "
                            "none; use a smaller fraction")
        perm = torch.randperm(len(idx), generator=g).tolist()
        held.update(idx[j] for j in perm[:k])
    train = [s for i, s in enumerate(samples) if i not in held]
    val = [s for i, s in enumerate(samples) if i in held]
    return train, val


def with_validation(splits: DataSplits, fraction: float | None, seed: int = 0) -> tuple[DataSplits, dict]:
    """``splits`` with a validation split, and a record of where it came from (for checkpoints).

    ``fraction`` None means: the layout's own val split if it has one, else ``DEFAULT_VAL_FRACTION``.
    An explicit fraction on a layout that has its own val split is refused: the official split
    is the one results are comparable on.
    """
    if splits.val:
        if fraction is not None:
            raise FGVCError(f"--val-split {fraction}: {splits.kind} data has its own validation split "
                            f"({len(splits.val)} images); leave --val-split out")
        return splits, {"source": "official", "n_val": len(splits.val)}
    fraction = DEFAULT_VAL_FRACTION if fraction is None else fraction
    train, val = carve_validation(splits.train, fraction, seed, list(splits.classes))
    if not val:
        raise FGVCError(f"--val-split {fraction}: no class has enough training images to hold any out; "
                        "use a larger fraction")
    record = {"source": "carved", "fraction": fraction, "seed": seed, "n_val": len(val)}
    return dataclasses.replace(splits, train=train, val=val), record
