"""Image sets for int8 calibration and validation, drawn from a data set with eval transforms.

Both are returned as uint8 NHWC RGB arrays after the eval geometry (resize + center crop), the
exact bytes a ``uint8-nhwc`` artifact takes; float inputs are derived from them with the one
preprocessing config. A data set whose classes differ from the checkpoint's is refused: its
labels would not mean the same thing, and calibration on the wrong images silently hurts int8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fgvc_mobile.data.images import load_rgb
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import geometric_eval
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

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self) -> str:
        return f"{len(self)} {self.split} images of {self.spec}"


def _check_classes(option: str, spec: str, found: list[str], expected: list[str]) -> None:
    if list(found) == list(expected):
        return
    if len(found) != len(expected):
        why = f"{len(found)} classes, the checkpoint has {len(expected)}"
    else:
        i = next(k for k, (a, b) in enumerate(zip(found, expected)) if a != b)
        why = f"class {i} is {found[i]!r}, the checkpoint's is {expected[i]!r}"
    raise FGVCError(f"{option} {spec}: its classes differ from the checkpoint's ({why})")


def _pick(n_available: int, n: int, seed: int) -> list[int]:
    """A fixed-seed sample (covers classes without depending on file order), in sorted order."""
    order = torch.randperm(n_available, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[:n])


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
) -> ImageSet:
    """``n`` images of ``split`` (all when ``n`` is 0; ``default_n`` capped at what exists when None).

    An explicit ``n`` larger than the split, or a split smaller than ``min_images``, is refused
    with a one-line error naming ``option`` and the data set.
    """
    if n is not None and n < 0:
        raise FGVCError(f"{option}: the image count must be >= 0, got {n}")
    splits = load_splits(spec)
    _check_classes(option, spec, splits.classes, classes)
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
    chosen = [samples[i] for i in _pick(available, n, seed)]
    geom = geometric_eval(pre)
    images = np.stack([np.asarray(geom(load_rgb(p)), dtype=np.uint8) for p, _ in chosen])
    labels = np.array([c for _, c in chosen], dtype=np.int64)
    return ImageSet(images, labels, [p for p, _ in chosen], spec, split)


def calibration_set(spec: str, classes: list[str], pre: PreprocessConfig, n: int | None) -> ImageSet:
    """Training images for int8 calibration (``--calib-images``, default 100 or all if fewer)."""
    return load_image_set(spec, classes, pre, "train", n, "--calib-data", MIN_CALIB_IMAGES, DEFAULT_CALIB_IMAGES)


def validation_set(spec: str, classes: list[str], pre: PreprocessConfig, n: int | None) -> ImageSet:
    """Test-split images for parity and accuracy (``--val-images``, default 500 or all if fewer; 0 = all)."""
    return load_image_set(spec, classes, pre, "test", n, "--val-data", 1, DEFAULT_VAL_IMAGES, seed=1)
