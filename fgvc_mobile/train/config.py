"""Training configuration: defaults < YAML file < command-line options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from fgvc_mobile.errors import FGVCError


_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "dict": dict, "None": type(None)}
_BIG = 10**9
# inclusive ranges; None (not set) is always allowed where the type allows it
_RANGES = {
    "img_size": (1, 4096), "resize": (1, 4096), "epochs": (0, _BIG), "batch_size": (1, _BIG), "lr": (0.0, 1e6),
    "head_lr_mult": (0.0, 1e6), "momentum": (0.0, 1.0), "weight_decay": (0.0, 1e3), "freeze_backbone_epochs": (0, _BIG),
    "warmup_epochs": (0.0, _BIG), "label_smoothing": (0.0, 0.999), "seed": (0, 2**31 - 1), "workers": (0, 256),
    "eval_every": (1, _BIG), "max_steps_per_epoch": (1, _BIG), "limit_train": (1, _BIG), "limit_test": (1, _BIG),
    "val_split": (0.0, 0.5), "val_seed": (0, 2**31 - 1), "ema_decay": (0.0, 0.999999), "rrc_scale": (0.01, 1.0),
    "random_erasing": (0.0, 1.0), "mixup_alpha": (0.0, 100.0), "cutmix_alpha": (0.0, 100.0),
    "qat_epochs": (0, _BIG),
}


def _is(value, type_name: str) -> bool:
    t = _TYPES.get(type_name)
    if t is None:
        return True
    if isinstance(value, bool) and type_name != "bool":
        return False  # True is an int to Python, not to a config
    if type_name == "float" and isinstance(value, float) and value != value:
        return False  # NaN
    return isinstance(value, t)


@dataclass
class TrainConfig:
    data: str = "synthetic"
    method: str = "rmg-pmsi"
    out: str = "runs/exp"
    # what the backbone starts from: imagenet (torchvision's weights, cached by torch hub), a local
    # MobileNetV2 state_dict or fgvc-mobile checkpoint, or none (None: none, as older configs say)
    pretrained: str | None = "imagenet"
    img_size: int = 224
    resize: int | None = None  # square resize before the crop; default img_size * 8/7
    epochs: int = 10
    batch_size: int = 16
    lr: float = 3e-4  # backbone learning rate
    head_lr_mult: float = 10.0  # every new module trains at lr * head_lr_mult
    optimizer: str = "sgd"  # sgd (as released) | adamw (converges faster from scratch)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    freeze_backbone_epochs: int = 0
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    seed: int = 0
    workers: int = 2
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA only
    channels_last: bool = False
    skip_bad: bool = False
    best_metric: str | None = None  # default: top1 of the model's deploy rule
    eval_every: int = 1
    max_steps_per_epoch: int | None = None  # cap for smoke runs
    limit_train: int | None = None  # use only the first N training samples (quick runs)
    limit_test: int | None = None  # also caps the validation images evaluated each epoch
    # the validation split that selects best.pt (test is evaluated once, at the end): None = the
    # layout's own val split, else 0.1 of each class carved from train (fgvc_mobile.data.validation)
    val_split: float | None = None
    val_seed: int = 0
    # the strong recipe (timm / torchvision references): all off by default, as the paper trains
    ema_decay: float = 0.0  # EMA of the weights (torch.optim.swa_utils); evaluated and saved instead of the raw weights
    rrc_scale: float | None = None  # RandomResizedCrop(scale=(rrc_scale, 1)) instead of resize + random crop
    auto_augment: str = "none"  # none | trivialaugment | randaugment
    random_erasing: float = 0.0  # probability
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    resume: str | None = None
    # quantization-aware fine-tuning of a trained checkpoint (train/qat.py): both or neither
    start_from: str | None = None
    qat_epochs: int = 0
    model: dict = field(default_factory=dict)  # model kwargs, e.g. feature_size, smooth
    method_options: dict = field(default_factory=dict)  # recipe options, e.g. per_image
    distill: dict = field(default_factory=dict)  # teacher checkpoint etc. (distill method)

    def check(self, source: str = "config") -> "TrainConfig":
        """Types and ranges of every option, so a bad YAML value or a crafted checkpoint config
        is a one-line error here rather than a traceback deep inside training."""
        for f in fields(self):
            value, allowed = getattr(self, f.name), str(f.type).replace(" ", "").split("|")
            if not any(_is(value, t) for t in allowed):
                raise FGVCError(f"{source}: option {f.name} must be {f.type}, got {value!r}"[:300])
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if value is not None and not (lo <= value <= hi):
                raise FGVCError(f"{source}: option {name} must be in {lo}..{hi}, got {value!r}")
        if bool(self.start_from) != bool(self.qat_epochs):
            raise FGVCError("--qat-epochs N and --start-from CKPT go together: QAT fine-tunes a trained checkpoint"
                            if self.qat_epochs else "--start-from: give --qat-epochs N too (start-from is for QAT)")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FGVCError(f"{source}: unknown option(s) {unknown}")
        return cls(**d).check(source)


def load_config(yaml_path: str | None, overrides: dict) -> TrainConfig:
    """Merge a YAML file (if given) with explicit command-line overrides (``None`` = not given)."""
    base: dict = {}
    if yaml_path:
        p = Path(yaml_path)
        if not p.is_file():
            raise FGVCError(f"--config {yaml_path}: no such file")
        try:
            base = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise FGVCError(f"--config {yaml_path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(base, dict):
            raise FGVCError(f"--config {yaml_path}: expected a mapping of options at the top level")
        base = {k.replace("-", "_"): v for k, v in base.items()}
    merged = dict(base)
    for k, v in overrides.items():
        if v is None:
            continue
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = {**merged[k], **v}
        else:
            merged[k] = v
    return TrainConfig.from_dict(merged, source=yaml_path or "options")
