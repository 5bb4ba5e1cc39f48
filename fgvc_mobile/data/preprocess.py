"""One preprocessing config: the single source of truth for input size, resize/crop, mean/std.

It is saved in every checkpoint, written into every exported artifact's metadata and the
manifest, and read by the Android app. Train and eval transforms are both built from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from fgvc_mobile.errors import FGVCError

#: largest input_size / resize side: anything bigger is a corrupt or hostile config, and an honest
#: one would still allocate gigabytes per batch (a manifest claiming 10^6 px would exhaust memory)
MAX_SIDE = 4096
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class PreprocessConfig:
    """How an RGB image becomes the model's input tensor.

    Eval: resize to ``resize`` (exact H, W; an int means a square) then
    center-crop ``input_size``; scale to [0, 1]; normalise by ``mean``/``std``.
    Train: the same resize, then a random crop of ``input_size`` and a horizontal flip.
    """

    input_size: int = 224
    resize: tuple[int, int] | int = (256, 256)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    channel_order: str = "RGB"
    hflip: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        sizes = [self.input_size] + (list(self.resize) if isinstance(self.resize, (tuple, list)) else [self.resize])
        if not all(_is_int(v) for v in sizes) or not isinstance(self.resize, (int, tuple, list)) or len(sizes) not in (2, 3):
            raise FGVCError(f"preprocess: input_size must be an integer and resize an integer or [H, W], "
                            f"got {self.input_size!r} and {self.resize!r}"[:300])
        if not 0 < self.input_size <= MAX_SIDE or max(sizes) > MAX_SIDE:
            raise FGVCError(f"preprocess: sizes must be 1..{MAX_SIDE} pixels, got input_size {self.input_size} "
                            f"and resize {self.resize}")
        if self.interpolation not in _INTERPOLATIONS:
            raise FGVCError(
                f"preprocess: interpolation must be one of {_INTERPOLATIONS}, got {self.interpolation!r}"
            )
        r = self.resize_hw
        if min(r) < self.input_size:
            raise FGVCError(f"preprocess: resize {self.resize} is smaller than input_size {self.input_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise FGVCError("preprocess: mean and std need 3 values each and std > 0")
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)):
            raise FGVCError("preprocess: mean and std must be finite numbers")

    @property
    def resize_hw(self) -> tuple[int, int]:
        if isinstance(self.resize, int):
            return (self.resize, self.resize)
        return (int(self.resize[0]), int(self.resize[1]))

    @classmethod
    def for_size(cls, input_size: int, **kw) -> "PreprocessConfig":
        """The paper's rule scaled to any size: resize to input_size * 8/7 square, crop input_size."""
        resize = int(round(input_size * 8 / 7))
        return cls(input_size=input_size, resize=(resize, resize), **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["resize"] = list(self.resize_hw) if not isinstance(self.resize, int) else self.resize
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessConfig":
        if not isinstance(d, dict):
            raise FGVCError(f"preprocess: expected a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise FGVCError(f"preprocess: unknown keys {sorted(unknown)}")
        d = dict(d)
        if isinstance(d.get("resize"), list):
            d["resize"] = tuple(d["resize"])
        for k in ("mean", "std"):
            if k in d:
                try:
                    d[k] = tuple(float(v) for v in d[k])
                except (TypeError, ValueError):
                    raise FGVCError(f"preprocess: {k} must be 3 numbers, got {d[k]!r}"[:200]) from None
        for k, kind in (("interpolation", str), ("channel_order", str), ("hflip", bool), ("extra", dict)):
            if k in d and not isinstance(d[k], kind):
                raise FGVCError(f"preprocess: {k} must be a {kind.__name__}, got {d[k]!r}"[:200])
        return cls(**d)
