"""Train and eval transforms, both built from one :class:`PreprocessConfig`."""

from __future__ import annotations

from torchvision import transforms as T

from fgvc_mobile.data.preprocess import PreprocessConfig

_INTERP = {
    "bilinear": T.InterpolationMode.BILINEAR,
    "bicubic": T.InterpolationMode.BICUBIC,
    "nearest": T.InterpolationMode.NEAREST,
}


def geometric_eval(cfg: PreprocessConfig) -> T.Compose:
    """PIL RGB -> PIL RGB of input_size x input_size: resize then center crop (no normalisation).

    This is exactly what a uint8 NHWC artifact expects as input, and what the Android app
    reproduces byte for byte.
    """
    return T.Compose([T.Resize(cfg.resize_hw, interpolation=_INTERP[cfg.interpolation]), T.CenterCrop(cfg.input_size)])


def build_transform(cfg: PreprocessConfig, train: bool) -> T.Compose:
    """PIL RGB -> normalised float CHW tensor."""
    interp = _INTERP[cfg.interpolation]
    if train:
        ops = [T.Resize(cfg.resize_hw, interpolation=interp), T.RandomCrop(cfg.input_size)]
        if cfg.hflip:
            ops.append(T.RandomHorizontalFlip())
    else:
        ops = [T.Resize(cfg.resize_hw, interpolation=interp), T.CenterCrop(cfg.input_size)]
    ops += [T.ToTensor(), T.Normalize(cfg.mean, cfg.std)]
    return T.Compose(ops)
