"""Image sets for int8 calibration and validation, drawn from a data set with eval transforms.

Both are returned as uint8 NHWC RGB arrays after the eval geometry (resize + center crop), the
exact bytes a ``uint8-nhwc`` artifact takes; float inputs are derived from them with the one
preprocessing config. A data set whose classes differ from the checkpoint's is refused: its
labels would not mean the same thing, and calibration on the wrong images silently hurts int8.
An unreadable image stops the export with its name, unless ``skip_bad`` (``--skip-bad``): then it
is skipped, counted, and the next image of the same fixed-seed order takes its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from fgvc_mobile.data.images import ImageLoadError, load_rgb
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import geometric_eval
from fgvc_mobile.data.validation import with_validation
from fgvc_mobile.errors import FGVCError

#: fewer calibration images than this cannot estimate activation ranges credibly
MIN_CALIB_IMAGES = 8
DEFAULT_CALIB_IMAGES = 100
DEFAULT_VAL_IMAGES = 500


@dataclass
class ImageSet:
    """uint8 [N, H, W, 3] RGB images, their labels, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]
    spec: str
    split: str
    skipped: list[str] = field(default_factory=list)  # unreadable files passed over (--skip-bad)

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self) -> str:
        skipped = f" ({len(self.skipped)} unreadable skipped)" if self.skipped else ""
        return f"{len(self)} {self.split} images of {self.spec}{skipped}"


def _check_classes(option: str, spec: str, found: list[str], expected: list[str]) -> None:
    if list(found) == list(expected):
        return
    if len(found) != len(expected):
        why = f"{len(found)} classes, the checkpoint has {len(expected)}"
    else:
        i = next(k for k, (a, b) in enumerate(zip(found, expected)) if a != b)
        why = f"class {i} is {found[i]!r}, the checkpoint's is {expected[i]!r}"
    raise FGVCError(f"{option} {spec}: its classes differ from the checkpoint's ({why})")


def _order(n_available: int, seed: int) -> list[int]:
    """A fixed-seed order of the split (covers classes without depending on file order)."""
    return torch.randperm(n_available, generator=torch.Generator().manual_seed(seed)).tolist()


def load_image_set(
    spec: str,
    classes: list[str],
    pre: PreprocessConfig,
    split: str,
    n: int | None,
    option: str,
    min_images: int = 1,
    default_n: int | None = None,
    seed: int = 0,
    skip_bad: bool = False,
    carve: dict | None = None,
) -> ImageSet:
    """``n`` images of ``split`` (all when ``n`` is 0; ``default_n`` capped at what exists when None).

    An explicit ``n`` larger than the split, or a split smaller than ``min_images``, is refused
    with a one-line error naming ``option`` and the data set. The images are the first ``n``
    readable ones of a fixed-seed order, so the set does not change while no file is bad.
    ``carve``: a checkpoint's validation-split record; the split is then taken as training took it
    (``val`` held out of ``train``), so calibration never draws the images the gate judges on.
    """
    if n is not None and n < 0:
        raise FGVCError(f"{option}: the image count must be >= 0, got {n}")
    splits = load_splits(spec)
    _check_classes(option, spec, splits.classes, classes)
    if carve is not None:
        try:
            splits, _ = with_validation(splits, carve.get("fraction"), carve.get("seed", 0))
        except FGVCError as e:
            raise FGVCError(f"{option} {spec}: cannot take the checkpoint's validation split ({e})") from None
    samples = splits.split(split)
    available = len(samples)
    if available < min_images:
        raise FGVCError(f"{option} {spec}: only {available} {split} images; at least {min_images} are needed")
    if n is None:
        n = min(default_n or available, available)
    elif n == 0:
        n = available
    elif n > available:
        raise FGVCError(f"{option} {spec}: asked for {n} {split} images but it has only {available}")
    if n < min_images:
        raise FGVCError(f"{option}: {n} images are too few; at least {min_images} are needed")
    geom = geometric_eval(pre)
    taken: list[tuple[int, np.ndarray]] = []
    skipped: list[str] = []
    for i in _order(available, seed):
        if len(taken) == n:
            break
        try:
            taken.append((i, np.asarray(geom(load_rgb(samples[i][0])), dtype=np.uint8)))
        except ImageLoadError as e:
            if not skip_bad:
                raise FGVCError(f"{option}: {e} (pass --skip-bad to leave unreadable images out)") from None
            skipped.append(samples[i][0])
    if len(taken) < max(min_images, 1):
        raise FGVCError(f"{option} {spec}: only {len(taken)} readable {split} images ({len(skipped)} unreadable "
                        f"skipped); at least {max(min_images, 1)} are needed")
    taken.sort(key=lambda t: t[0])  # file order, as before: reproducible batches
    return ImageSet(np.stack([im for _, im in taken]), np.array([samples[i][1] for i, _ in taken], dtype=np.int64),
                    [samples[i][0] for i, _ in taken], spec, split, skipped)


def calibration_set(spec: str, classes: list[str], pre: PreprocessConfig, n: int | None,
                    skip_bad: bool = False, carve: dict | None = None) -> ImageSet:
    """Training images for int8 calibration (``--calib-images``, default 100 or all if fewer)."""
    return load_image_set(spec, classes, pre, "train", n, "--calib-data", MIN_CALIB_IMAGES, DEFAULT_CALIB_IMAGES,
                          skip_bad=skip_bad, carve=carve)


def validation_set(spec: str, classes: list[str], pre: PreprocessConfig, n: int | None,
                   skip_bad: bool = False, split: str = "test", carve: dict | None = None) -> ImageSet:
    """Images the gates judge on (``--val-images``, default 500 or all if fewer; 0 = all): the
    checkpoint's validation split (``split="val"`` with its ``carve``) or the test split."""
    return load_image_set(spec, classes, pre, split, n, "--val-data", 1, DEFAULT_VAL_IMAGES, seed=1,
                          skip_bad=skip_bad, carve=carve)
