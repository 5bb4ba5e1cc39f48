"""``fit``: the whole training run — data, model, optimiser, schedule, resume, checkpoints.

Selection: every epoch is evaluated on the validation split (the layout's own, or one carved
from train), best.pt is the best epoch there, and the test split is evaluated once, on best.pt,
when the run ends (``test_metrics`` in best.pt and ``results.json``).

Reproducibility: the data order comes from (seed, epoch), every sample's augmentation and every
batch's draws (RMG, mixup, dropout) from their position in the epoch (``train/determinism.py``),
so a run stopped anywhere and resumed ends bit-for-bit as an uninterrupted one. Ctrl-C finishes
its batch and saves the position inside the epoch (with EMA and the running loss sums).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from fgvc_mobile.data.dataset import ImageListDataset, drop_unreadable
from fgvc_mobile.data.layouts import DataSplits, load_splits
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import TrainAugment, batch_mixer, build_transform
from fgvc_mobile.data.validation import with_validation
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import StepContext, get_method
from fgvc_mobile.models.load import read_checkpoint
from fgvc_mobile.models.registry import create_model
from fgvc_mobile.serialization import atomic_write_json
from fgvc_mobile.train.checkpoint import rng_state, save_checkpoint, save_epoch, set_rng_state
from fgvc_mobile.train.config import TrainConfig
from fgvc_mobile.train.determinism import SeededBatches, SeededSamples, seeded_order
from fgvc_mobile.train.engine import evaluate, train_one_epoch
from fgvc_mobile.train.pretrained import start_from
from fgvc_mobile.train.resume import asked_of, refuse_changes

log = logging.getLogger("fgvc_mobile.train")


def preprocess_for(cfg: TrainConfig) -> PreprocessConfig:
    if cfg.resize is None:
        return PreprocessConfig.for_size(cfg.img_size)
    return PreprocessConfig(input_size=cfg.img_size, resize=(cfg.resize, cfg.resize))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FGVCError("--device cuda: no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise FGVCError(f"--device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Dist:
    """torchrun environment: rank/world size, or a single process."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.enabled:
            dist.barrier()


def _load_data(cfg: TrainConfig) -> tuple[DataSplits, dict]:
    """The data set with its validation split, and where that split came from."""
    splits, val_record = with_validation(load_splits(cfg.data), cfg.val_split, cfg.val_seed)
    if cfg.limit_train:
        splits.train = splits.train[: cfg.limit_train]
    if cfg.limit_test:
        splits.val = splits.val[: cfg.limit_test]
        splits.test = splits.test[: cfg.limit_test]
    if cfg.skip_bad:
        for name in ("train", "val", "test"):
            good, bad = drop_unreadable(splits.split(name), desc=f"checking {name} images")
            for msg in bad:
                log.warning("skipped: %s", msg)
            if bad:
                log.warning("--skip-bad: skipped %d unreadable %s image(s)", len(bad), name)
            setattr(splits, name, good)
    if not splits.train:
        raise FGVCError(f"--data {cfg.data}: no training images")
    return splits, val_record


def _augmentation(cfg: TrainConfig, recipe, options: dict, num_classes: int):
    """(TrainAugment, batch mixer or None) of the run; mixing is refused where the recipe needs hard labels."""
    augment = TrainAugment(cfg.rrc_scale, cfg.auto_augment, cfg.random_erasing)
    mixer = batch_mixer(num_classes, cfg.mixup_alpha, cfg.cutmix_alpha)
    if mixer is not None and (not recipe.soft_targets or options.get("loss") != "ce"):
        what = f"--method {recipe.name}" if not recipe.soft_targets else f"loss {options.get('loss')}"
        raise FGVCError(f"--mixup-alpha/--cutmix-alpha: {what} needs hard labels; leave mixup and cutmix at 0")
    return augment, mixer


def _make_ema(model: nn.Module, decay: float):
    """An exponential moving average of the weights and buffers, or None when ``decay`` is 0."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def build_optimizer(cfg: TrainConfig, model, head_params, head_scale: float = 1.0) -> torch.optim.Optimizer:
    """Two parameter groups: the backbone at ``lr`` and every new module at ``lr * head_lr_mult``
    times the recipe's ``head_scale`` (``Recipe.head_lr_scale``: CMAL-Net's heads take two steps a batch)."""
    groups = [
        {"params": list(model.backbone.parameters()), "lr": cfg.lr, "name": "backbone"},
        {"params": head_params, "lr": cfg.lr * cfg.head_lr_mult * head_scale, "name": "heads"},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise FGVCError(f"--optimizer {cfg.optimizer!r}: use sgd or adamw")


def _epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    per_rank = n // world
    return order[rank * per_rank : (rank + 1) * per_rank] if world > 1 else order


def _lr_lambda(total_steps: int, warmup_steps: int):
    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return f


def _compatible_resume(cfg: TrainConfig, ckpt: dict, classes: list[str], n_train: int | None = None) -> None:
    if ckpt["method"] != cfg.method:
        raise FGVCError(f"--resume: checkpoint was trained with --method {ckpt['method']}, not {cfg.method}")
    if list(ckpt["classes"]) != list(classes):
        raise FGVCError("--resume: checkpoint classes differ from the data set's classes")
    saved_n = (ckpt.get("data") or {}).get("n_train")
    if n_train is not None and saved_n is not None and saved_n != n_train:
        raise FGVCError(f"--resume: --data {cfg.data} now has {n_train} training images; the checkpoint's run "
                        f"had {saved_n} (a resumed run must see the same data)")


def fit(cfg: TrainConfig, show_progress: bool = True) -> dict:
    """Train per ``cfg``; returns the final metrics and paths of last/best checkpoints."""
    cfg.check()
    device = pick_device(cfg.device)
    ddp = _Dist(device)
    resume_ckpt = None
    if cfg.resume:
        resume_ckpt = read_checkpoint(cfg.resume)
        keep = {k: getattr(cfg, k) for k in ("epochs", "workers", "device", "out") if getattr(cfg, k) is not None}
        saved = resume_ckpt.get("config")
        if not isinstance(saved, dict):
            raise FGVCError(f"--resume {cfg.resume}: the checkpoint records no training config")
        refuse_changes(saved, asked_of(cfg), cfg.resume)
        cfg = TrainConfig.from_dict({**saved, **keep, "resume": cfg.resume}, source=f"--resume {cfg.resume}")
    if cfg.qat_epochs:
        raise FGVCError("--qat-epochs: quantization-aware fine-tuning is fgvc_mobile.train.qat.fit_qat's "
                        "(fgvc-mobile train --start-from CKPT --qat-epochs N), not fit's")

    seed_everything(cfg.seed)
    recipe = get_method(cfg.method)
    options = recipe.resolve_options(cfg.method_options)
    recipe.check_input_size(cfg.img_size, options)
    pre = preprocess_for(cfg)
    splits, val_record = _load_data(cfg)
    augment, mixer = _augmentation(cfg, recipe, options, len(splits.classes))
    train_ds = SeededSamples(ImageListDataset(splits.train, build_transform(pre, train=True, augment=augment)))
    val_ds = ImageListDataset(splits.val, build_transform(pre, train=False))
    test_ds = ImageListDataset(splits.test, build_transform(pre, train=False))

    model_kwargs = recipe.resolve_model_kwargs(cfg.model)
    model = create_model(recipe.arch, len(splits.classes), model_kwargs, f"--model (--method {recipe.name})")
    pretrained_src = start_from(model.backbone, cfg.pretrained) if not resume_ckpt else None
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    state = recipe.setup(model, cfg, device, list(splits.classes))  # per-run resources, e.g. a teacher

    ema = _make_ema(model, cfg.ema_decay)
    head_params = model.head_parameters()
    optimizer = build_optimizer(cfg, model, head_params, recipe.head_lr_scale(options))
    per_rank = len(train_ds) // ddp.world
    steps_per_epoch = per_rank // cfg.batch_size
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise FGVCError(
            f"--batch-size {cfg.batch_size}: larger than the {per_rank} training images per process"
        )
    lam = _lr_lambda(cfg.epochs * steps_per_epoch, int(cfg.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [lam, lam])
    use_amp = device.type == "cuda" and cfg.amp
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if use_amp else contextlib.nullcontext

    start_epoch, skip_batches, history, best = 0, 0, [], {"metric": None, "value": -1.0, "epoch": -1}
    progress: dict = {}  # running loss sums of the current epoch (saved in a mid-epoch checkpoint)
    if resume_ckpt is not None:
        _compatible_resume(cfg, resume_ckpt, splits.classes, len(splits.train))
        try:  # a checkpoint can unpickle safely and still hold states that do not fit this run
            model.load_state_dict(resume_ckpt["train_model" if ema is not None else "model"])
            if ema is not None:
                ema.module.load_state_dict(resume_ckpt["model"])
                ema.n_averaged.fill_(int(resume_ckpt["ema_n_averaged"]))
            optimizer.load_state_dict(resume_ckpt["optimizer"])
            scheduler.load_state_dict(resume_ckpt["scheduler"])
            start_epoch = resume_ckpt["epoch"]
            skip_batches = resume_ckpt.get("batches_done", 0)
            history = list(resume_ckpt.get("history", []))
            best = dict(resume_ckpt.get("best", best))
            pretrained_src = resume_ckpt.get("pretrained")
            set_rng_state(resume_ckpt["rng"])
            progress = dict(resume_ckpt.get("epoch_progress") or {}) if skip_batches else {}
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise FGVCError(f"--resume {cfg.resume}: cannot restore the run ({e.__class__.__name__}: {first})") from None

    net: nn.Module = model
    if ddp.enabled:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    best_metric = cfg.best_metric or f"top1/{model.default_rule}"
    out = Path(cfg.out)
    if ddp.main:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FGVCError(f"--out {out}: cannot create the run folder ({e.strerror or e})") from None

    evaluated = ema.module if ema is not None else net  # the weights that are selected and shipped

    def checkpoint_fields(epoch_done: int, batches_done: int = 0) -> dict:
        # ``model`` is always the evaluated weights (what eval/export load); with EMA the raw
        # weights the optimizer trains travel beside them for resuming
        weights = {"train_model": model.state_dict(), "ema_n_averaged": int(ema.n_averaged)} if ema is not None else {}
        return dict(
            model=evaluated.state_dict() if ema is not None else model.state_dict(),
            **weights,
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            epoch=epoch_done,
            batches_done=batches_done,
            epoch_progress=progress if batches_done else {},
            rng=rng_state(),
            config=cfg.to_dict(),
            method=cfg.method,
            arch=recipe.arch,
            model_kwargs=model_kwargs,
            classes=list(splits.classes),
            preprocess=pre.to_dict(),
            pretrained=pretrained_src,
            history=history,
            best=best,
            data={"spec": cfg.data, "kind": splits.kind, "n_train": len(splits.train), "n_val": len(splits.val),
                  "n_test": len(splits.test), "val_split": val_record},
        )

    last_metrics: dict = history[-1] if history else {}
    for epoch in range(start_epoch, cfg.epochs):
        seed_everything(cfg.seed * 1_000 + epoch)
        ctx = StepContext(
            criterion=recipe.criterion(options, cfg.label_smoothing, epoch, cfg.epochs),
            generator=torch.Generator().manual_seed(cfg.seed * 7_919 + epoch),
            epoch=epoch,
            options=options,
            autocast=autocast,
            state=state,
            epochs=cfg.epochs,
        )
        frozen = epoch < cfg.freeze_backbone_epochs
        for p in model.backbone.parameters():
            p.requires_grad_(not frozen)
        order = seeded_order(_epoch_order(len(train_ds), cfg.seed, epoch, ddp.rank, ddp.world), cfg.seed, epoch, ddp.rank)
        order = order[: steps_per_epoch * cfg.batch_size][skip_batches * cfg.batch_size :]
        loader = DataLoader(
            train_ds,
            batch_size=cfg.batch_size,
            sampler=order,
            num_workers=cfg.workers,
            drop_last=True,
            generator=torch.Generator().manual_seed(cfg.seed * 31 + epoch),
            pin_memory=device.type == "cuda",
        )
        try:
            with SeededBatches(loader, ctx.generator, cfg.seed, epoch, ddp.rank, skip_batches) as batches:
                train_stats = train_one_epoch(
                    net, recipe, batches, optimizer, scheduler, ctx, device, scaler,
                    cfg.channels_last, None, show_progress and ddp.main, ema=ema, mixer=mixer, progress=progress,
                )
        except KeyboardInterrupt:
            done = scheduler.last_epoch - epoch * steps_per_epoch
            if ddp.main and done > skip_batches:  # a batch finished since the last checkpoint
                save_checkpoint(out / "last.pt", **checkpoint_fields(epoch, done))
                log.warning("interrupted: resumable checkpoint written to %s", out / "last.pt")
            elif ddp.main:
                # no batch finished since last.pt was written: it already is the exact resume point,
                # and the model may hold half a batch (BN statistics, some steps) not to be saved
                log.warning("interrupted before a batch of epoch %d finished; %s", epoch + 1,
                            f"resume from {out / 'last.pt'}" if epoch else "nothing to resume, start again")
            raise
        skip_batches, progress = 0, {}
        row = {"epoch": epoch + 1, "lr_backbone": optimizer.param_groups[0]["lr"], "backbone_frozen": frozen, **train_stats}
        if ddp.main and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            val_loader = DataLoader(val_ds, batch_size=max(cfg.batch_size, 32), num_workers=cfg.workers)
            row.update(evaluate(evaluated, val_loader, device, cfg.channels_last, show_progress, autocast), eval_split="val")
            if best_metric not in row:
                raise FGVCError(f"--best-metric {best_metric}: not among {sorted(k for k in row if '/' in k)}")
            if row[best_metric] > best["value"]:
                best = {"metric": best_metric, "value": row[best_metric], "epoch": epoch + 1, "split": "val"}
        if ddp.main:
            history.append(row)
            last_metrics = row
            save_epoch(out, checkpoint_fields(epoch + 1), best["epoch"] == epoch + 1, history,
                       f"{cfg.method} on {cfg.data}")
            log.info(
                "epoch %d/%d  loss %.4f  %s",
                epoch + 1, cfg.epochs, row["loss/total"],
                "  ".join(f"{k} {v:.2f}" for k, v in row.items() if k.startswith("top1/")),
            )
        ddp.barrier()
    test_metrics = None
    if ddp.main and (out / "best.pt").is_file():
        test_loader = DataLoader(test_ds, batch_size=max(cfg.batch_size, 32), num_workers=cfg.workers)
        test_metrics = _report_test(out, model, test_loader, device, cfg, show_progress, autocast)
    if ddp.enabled:
        dist.destroy_process_group()
    return {"metrics": last_metrics, "best": best, "out": str(out), "history": history, "test": test_metrics}


def _report_test(out: Path, model: nn.Module, loader, device, cfg: TrainConfig, show_progress: bool, autocast) -> dict:
    """Evaluate best.pt's weights on the test split once; record it in best.pt and results.json.

    ``model`` is reused as the container for best.pt's weights (training is over).
    """
    best_ckpt = read_checkpoint(out / "best.pt")
    model.load_state_dict(best_ckpt["model"])
    test = evaluate(model, loader, device, cfg.channels_last, show_progress, autocast)
    best_ckpt["test_metrics"] = test
    save_checkpoint(out / "best.pt", **{k: v for k, v in best_ckpt.items() if k not in ("format", "version")})
    selected = next((h for h in best_ckpt["history"] if h["epoch"] == best_ckpt["best"]["epoch"]), {})
    atomic_write_json(out / "results.json", {
        "method": best_ckpt["method"], "data": best_ckpt["data"], "config": best_ckpt["config"],
        "selected_on": "val", "best": best_ckpt["best"],
        "val": {k: v for k, v in selected.items() if k.split("/")[0] in ("top1", "top5") or k == "n_images"},
        "test": {k: v for k, v in test.items() if k.split("/")[0] in ("top1", "top5") or k == "n_images"},
    })
    rule = cfg.best_metric or f"top1/{model.default_rule}"
    log.info("test (evaluated once, on best.pt from epoch %d): %s %.2f", best_ckpt["best"]["epoch"], rule,
             test.get(rule, float("nan")))
    return test
