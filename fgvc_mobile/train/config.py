"""Training configuration: defaults < YAML file < command-line options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from fgvc_mobile.errors import FGVCError


@dataclass
class TrainConfig:
    data: str = "synthetic"
    method: str = "rmg-pmsi"
    out: str = "runs/exp"
    pretrained: str | None = None
    img_size: int = 224
    resize: int | None = None  # square resize before the crop; default img_size * 8/7
    epochs: int = 10
    batch_size: int = 16
    lr: float = 3e-4  # backbone learning rate
    head_lr_mult: float = 10.0  # every new module trains at lr * head_lr_mult
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
    limit_test: int | None = None
    resume: str | None = None
    model: dict = field(default_factory=dict)  # model kwargs, e.g. feature_size, smooth
    method_options: dict = field(default_factory=dict)  # recipe options, e.g. per_image
    distill: dict = field(default_factory=dict)  # teacher checkpoint etc. (distill method)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FGVCError(f"{source}: unknown option(s) {unknown}")
        return cls(**d)


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
