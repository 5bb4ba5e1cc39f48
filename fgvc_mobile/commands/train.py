"""``fgvc-mobile train``: options map 1:1 onto TrainConfig; a YAML --config gives the defaults."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from fgvc_mobile.methods import METHODS
from fgvc_mobile.train.config import load_config


def _json_dict(text: str) -> dict:
    try:
        v = json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"not a JSON object: {text!r}") from None
    if not isinstance(v, dict):
        raise argparse.ArgumentTypeError(f"not a JSON object: {text!r}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    # every default is None so that only options the user typed override the YAML config
    a = p.add_argument
    a("--config", help="YAML file of options (command-line options override it)")
    a("--data", help="data set: cub:PATH, aircraft:PATH, cars:PATH, folder:PATH, csv:FILE or synthetic")
    a("--method", choices=sorted(METHODS), help="training recipe (default rmg-pmsi)")
    a("--out", help="run folder for checkpoints, metrics and plots")
    a("--pretrained", help="what the backbone starts from: imagenet (the default: torchvision's weights, "
      "downloaded once into torch hub's cache), a local MobileNetV2 state_dict, an fgvc-mobile checkpoint "
      "whose backbone to start from (its heads are not used), or none (from scratch)")
    a("--img-size", type=int, dest="img_size", help="input size (default 224)")
    a("--resize", type=int, help="square resize before the crop (default img-size*8/7)")
    a("--epochs", type=int)
    a("--batch-size", type=int, dest="batch_size")
    a("--lr", type=float, help="backbone learning rate (heads get lr * head-lr-mult)")
    a("--head-lr-mult", type=float, dest="head_lr_mult")
    a("--optimizer", choices=["sgd", "adamw"], help="sgd (default, as released) or adamw")
    a("--weight-decay", type=float, dest="weight_decay")
    a("--freeze-backbone-epochs", type=int, dest="freeze_backbone_epochs")
    a("--warmup-epochs", type=float, dest="warmup_epochs")
    a("--label-smoothing", type=float, dest="label_smoothing")
    a("--seed", type=int)
    a("--workers", type=int)
    a("--device", choices=["auto", "cpu", "cuda"])
    a("--no-amp", dest="amp", action="store_const", const=False, help="disable mixed precision on CUDA")
    a("--channels-last", dest="channels_last", action="store_const", const=True)
    a("--skip-bad", dest="skip_bad", action="store_const", const=True, help="skip unreadable images (counted in the log)")
    a("--best-metric", dest="best_metric", help="metric that selects best.pt, e.g. top1/combined")
    a("--eval-every", type=int, dest="eval_every")
    a("--max-steps-per-epoch", type=int, dest="max_steps_per_epoch")
    a("--limit-train", type=int, dest="limit_train", help="use only the first N training images")
    a("--limit-test", type=int, dest="limit_test")
    a("--val-split", type=float, dest="val_split", help="fraction of each class held out of train to select "
      "best.pt on (default 0.1; layouts with their own val split use it)")
    a("--val-seed", type=int, dest="val_seed", help="seed of the carved validation split (default 0, any --seed)")
    a("--ema-decay", type=float, dest="ema_decay", help="EMA of the weights, e.g. 0.999 (default 0: off)")
    a("--rrc-scale", type=float, dest="rrc_scale", help="RandomResizedCrop with scale (S, 1) instead of resize + crop")
    a("--auto-augment", dest="auto_augment", choices=["none", "trivialaugment", "randaugment"])
    a("--random-erasing", type=float, dest="random_erasing", help="random-erasing probability (default 0)")
    a("--mixup-alpha", type=float, dest="mixup_alpha", help="MixUp alpha (default 0: off)")
    a("--cutmix-alpha", type=float, dest="cutmix_alpha", help="CutMix alpha (default 0: off)")
    a("--resume", help="continue from a last.pt")
    a("--start-from", dest="start_from", help="a trained checkpoint to fine-tune with int8 fake-quant "
      "(quantization-aware training; needs --qat-epochs; the model, data and preprocessing are the "
      "checkpoint's; docs/export.md)")
    a("--qat-epochs", type=int, dest="qat_epochs", help="epochs of quantization-aware fine-tuning of --start-from "
      "(best.pt selected on val, as every run; export it with export --int8)")
    a("--model", type=_json_dict, help='model options as JSON, e.g. \'{"feature_size": 160, "smooth": "dwsep"}\'')
    a("--method-options", type=_json_dict, dest="method_options", help='recipe options as JSON, e.g. \'{"per_image": true}\'')
    a("--teacher", help="teacher checkpoint (method distill)")


def run(args) -> int:
    from fgvc_mobile.train.qat import fit_qat
    from fgvc_mobile.train.trainer import fit

    overrides = {k: v for k, v in vars(args).items() if not k.startswith("_") and k not in ("config", "command", "verbose", "teacher")}
    if args.teacher:
        overrides["distill"] = {"teacher": args.teacher}
    if args.resume:
        cfg = _resume_config(args, overrides)
    elif args.start_from or args.qat_epochs:
        cfg = _qat_config(args, overrides)
    else:
        cfg = load_config(args.config, overrides)
    result = (fit_qat if cfg.qat_epochs else fit)(cfg)  # a QAT run (or its resume) has its own loop
    best, test = result["best"], result.get("test") or {}
    line = f"done: {result['out']}  best val {best['metric']} = {best['value']:.2f} (epoch {best['epoch']})"
    if best["metric"] in test:
        line += f"; test {test[best['metric']]:.2f} ({test['n_images']} images, evaluated once)"
    print(line)
    return 0


#: what may change when a run resumes; everything else comes from the checkpoint
RESUME_OPTIONS = ("epochs", "workers", "device", "out", "qat_epochs")


def _resume_config(args, overrides: dict):
    """The checkpoint's own settings plus only the typed ``RESUME_OPTIONS``.

    Built here rather than from the option defaults so that ``train --resume run/last.pt``
    continues that run (its epochs, in the folder that holds last.pt) instead of a default
    10-epoch run in runs/exp.
    """
    from fgvc_mobile.errors import FGVCError
    from fgvc_mobile.models.load import read_checkpoint
    from fgvc_mobile.train.config import TrainConfig
    from fgvc_mobile.train.resume import refuse_changes

    saved = read_checkpoint(args.resume).get("config")
    if not isinstance(saved, dict):
        raise FGVCError(f"--resume {args.resume}: the checkpoint records no training config")
    typed = {k: v for k, v in overrides.items() if v is not None and k != "resume"}
    refuse_changes(saved, typed, args.resume)  # another --method, --model or --data is another run
    if (typed.get("start_from") or typed.get("qat_epochs")) and not saved.get("qat_epochs"):
        raise FGVCError(f"--{'start-from' if typed.get('start_from') else 'qat-epochs'}: --resume {args.resume} "
                        f"continues that run exactly; to fine-tune a trained model with fake-quant, start a QAT "
                        f"run with --start-from {args.resume} --qat-epochs N (no --resume)")
    if typed.get("start_from"):
        raise FGVCError(f"--start-from: --resume {args.resume} continues a QAT run, which keeps its start")
    ignored = sorted(set(typed) - set(RESUME_OPTIONS)) + (["config"] if args.config else [])
    if ignored:
        logging.getLogger("fgvc_mobile.train").warning(
            "--resume: the checkpoint's settings are kept; ignoring %s",
            ", ".join("--" + k.replace("_", "-") for k in ignored))
    keep = {k: typed[k] for k in RESUME_OPTIONS if k in typed}
    keep.setdefault("out", str(Path(args.resume).parent))  # the run folder the checkpoint is in, even if moved
    return TrainConfig.from_dict({**saved, **keep, "resume": args.resume}, source=f"--resume {args.resume}")


def _qat_config(args, overrides: dict):
    """A QAT run: the start checkpoint's own settings plus only the typed QAT options (``train/qat.py``)."""
    from fgvc_mobile.errors import FGVCError
    from fgvc_mobile.train.qat import qat_config

    if not args.start_from:
        raise FGVCError("--qat-epochs: give the trained checkpoint to fine-tune with --start-from CKPT")
    if not args.qat_epochs or args.qat_epochs < 1:
        raise FGVCError(f"--start-from {args.start_from}: give --qat-epochs N (N >= 1)")
    if args.config:
        raise FGVCError("--config: a QAT run (--start-from) takes its settings from the checkpoint")
    typed = {k: v for k, v in overrides.items() if v is not None and k != "resume"}
    return qat_config(args.start_from, typed)
