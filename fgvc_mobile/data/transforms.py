"""Train and eval transforms (``torchvision.transforms.v2``), both built from one :class:`PreprocessConfig`.

The eval transform is the inference contract (what every artifact, ``predict`` and the Android
app reproduce); the train transform adds the augmentations of :class:`TrainAugment`, which are
options of a training run and never travel into an artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import v2 as T

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError

_INTERP = {
    "bilinear": T.InterpolationMode.BILINEAR,
    "bicubic": T.InterpolationMode.BICUBIC,
    "nearest": T.InterpolationMode.NEAREST,
}
AUTO_AUGMENTS = ("none", "trivialaugment", "randaugment")


@dataclass(frozen=True)
class TrainAugment:
    """Image augmentations of a training run (batch-level mixup/cutmix live in :func:`batch_mixer`).

    ``rrc_scale`` None keeps the release's resize + random crop; a value s uses
    RandomResizedCrop(scale=(s, 1)) as timm and torchvision's references do.
    """

    rrc_scale: float | None = None
    auto_augment: str = "none"
    random_erasing: float = 0.0

    def __post_init__(self):
        if self.auto_augment not in AUTO_AUGMENTS:
            raise FGVCError(f"--auto-augment {self.auto_augment!r}: choose one of {', '.join(AUTO_AUGMENTS)}")


def geometric_eval(cfg: PreprocessConfig) -> T.Compose:
    """PIL RGB -> PIL RGB of input_size x input_size: resize then center crop (no normalisation).

    This is exactly what a uint8 NHWC artifact expects as input, and what the Android app
    reproduces byte for byte.
    """
    return T.Compose([T.Resize(cfg.resize_hw, interpolation=_INTERP[cfg.interpolation]), T.CenterCrop(cfg.input_size)])


def build_transform(cfg: PreprocessConfig, train: bool, augment: TrainAugment | None = None) -> T.Compose:
    """PIL RGB -> normalised float CHW tensor."""
    interp = _INTERP[cfg.interpolation]
    aug = augment or TrainAugment()
    if not train:
        ops = [T.Resize(cfg.resize_hw, interpolation=interp), T.CenterCrop(cfg.input_size)]
    elif aug.rrc_scale is not None:
        ops = [T.RandomResizedCrop(cfg.input_size, scale=(aug.rrc_scale, 1.0), interpolation=interp)]
    else:
        ops = [T.Resize(cfg.resize_hw, interpolation=interp), T.RandomCrop(cfg.input_size)]
    if train and cfg.hflip:
        ops.append(T.RandomHorizontalFlip())
    if train and aug.auto_augment == "trivialaugment":
        ops.append(T.TrivialAugmentWide(interpolation=interp))
    elif train and aug.auto_augment == "randaugment":
        ops.append(T.RandAugment(interpolation=interp))
    ops += [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(cfg.mean, cfg.std)]
    if train and aug.random_erasing > 0:
        ops.append(T.RandomErasing(p=aug.random_erasing, value=0))
    return T.Compose(ops)


#: test-time crops ``evaluate`` can average over: the contract's centre crop, or the four corner
#: crops and the centre crop of the resized image (the "multi-scale (five crops)" evaluation DB +
#: GCE reports beside its single-crop numbers). An evaluation option only: artifacts stay one crop.
EVAL_CROPS = ("center", "five")


def eval_transform(cfg: PreprocessConfig, crops: str = "center") -> T.Compose:
    """The eval transform (``center``: [C, S, S]) or five crops of the resized image ([5, C, S, S])."""
    if crops == "center":
        return build_transform(cfg, train=False)
    if crops != "five":
        raise FGVCError(f"--crops {crops!r}: choose one of {', '.join(EVAL_CROPS)}")
    to_tensor = T.Compose([T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(cfg.mean, cfg.std)])
    return T.Compose([T.Resize(cfg.resize_hw, interpolation=_INTERP[cfg.interpolation]), T.FiveCrop(cfg.input_size),
                      _Stacked(to_tensor)])


class _Stacked:
    """A tuple of PIL crops -> one [n, C, S, S] tensor (a plain callable: v2's Lambda would map over the tuple)."""

    def __init__(self, each):
        self.each = each

    def __call__(self, crops) -> torch.Tensor:
        return torch.stack([self.each(c) for c in crops])


def batch_mixer(num_classes: int, mixup_alpha: float, cutmix_alpha: float):
    """(images, labels) -> (images, soft labels) with MixUp and/or CutMix (one of them per batch), or None."""
    mixers = []
    if mixup_alpha > 0:
        mixers.append(T.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    if cutmix_alpha > 0:
        mixers.append(T.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else T.RandomChoice(mixers)
