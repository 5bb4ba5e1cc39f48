"""``train_one_epoch`` and ``evaluate``: plain functions other scripts reuse (torchvision style)."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict

import torch
from torch import nn
from tqdm import tqdm

from fgvc_mobile.methods.base import Recipe, StepContext, unwrap


def train_one_epoch(
    model: nn.Module,
    recipe: Recipe,
    loader,
    optimizer: torch.optim.Optimizer,
    scheduler,
    ctx: StepContext,
    device: torch.device,
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    max_steps: int | None = None,
    show_progress: bool = True,
    ema: torch.optim.swa_utils.AveragedModel | None = None,
    mixer=None,
    progress: dict | None = None,
) -> dict:
    """One pass over ``loader``; each recipe step gets its own backward and optimizer step.

    ``mixer`` (mixup/cutmix) turns a batch's labels into soft targets before the recipe sees it;
    ``ema`` averages the weights once per batch, after all of its steps. ``progress`` holds the
    running loss sums and counts, updated after every batch: the trainer saves it with a
    mid-epoch checkpoint and hands it back on resume, so the epoch's metrics equal an
    uninterrupted epoch's.
    """
    model.train()
    progress = {} if progress is None else progress
    sums: dict[str, float] = progress.setdefault("sums", {})
    n_batches, n_images = progress.get("batches", 0), progress.get("images", 0)
    t0 = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {ctx.epoch + 1} train", leave=False, disable=not show_progress, mininterval=1.0)
    for images, labels in bar:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if mixer is not None:
            images, labels = mixer(images, labels)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        for name, loss in recipe.training_steps(model, images, labels, ctx):
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            sums[name] = sums.get(name, 0.0) + float(loss.detach())
        scheduler.step()
        if ema is not None:
            ema.update_parameters(unwrap(model))
        n_batches += 1
        n_images += images.shape[0]
        progress.update(batches=n_batches, images=n_images)
        bar.set_postfix(loss=f"{sum(sums.values()) / n_batches:.3f}")
        if max_steps is not None and n_batches >= max_steps:
            break
    seconds = time.perf_counter() - t0
    out = {f"loss/{k}": v / max(n_batches, 1) for k, v in sums.items()}
    out["loss/total"] = sum(out.values())
    out["train_seconds"] = seconds
    out["train_images_per_s"] = n_images / seconds if seconds > 0 else 0.0
    return out


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> dict[int, int]:
    k_max = min(max(ks), logits.shape[1])
    pred = logits.topk(k_max, dim=1).indices
    hit = pred.eq(labels.view(-1, 1))
    return {k: int(hit[:, : min(k, k_max)].any(dim=1).sum()) for k in ks}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device,
    channels_last: bool = False,
    show_progress: bool = True,
    autocast=contextlib.nullcontext,
) -> dict:
    """Top-1/top-5 (%) of every head and of every inference rule (e.g. concat, combined).

    Batches of several crops per image ([B, n, C, H, W], ``data.transforms.eval_transform``)
    are scored by the mean of each head's logits over the crops.
    """
    net = unwrap(model)
    net.eval()
    correct: dict[str, dict[int, int]] = defaultdict(lambda: {1: 0, 5: 0})
    n = 0
    t0 = time.perf_counter()
    for images, labels in tqdm(loader, desc="eval", leave=False, disable=not show_progress, mininterval=1.0):
        images, labels = images.to(device), labels.to(device)
        crops = images.shape[1] if images.dim() == 5 else 0
        if crops:
            images = images.flatten(0, 1)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast():
            outputs = {k: v.float() for k, v in net.forward_heads(images).items()}
        if crops:
            outputs = {k: v.unflatten(0, (-1, crops)).mean(dim=1) for k, v in outputs.items()}
        scored = dict(outputs)
        for rule in net.inference_rules:
            if rule not in scored:
                scored[rule] = net.combine(outputs, rule)
        for name, logits in scored.items():
            for k, c in topk_correct(logits, labels).items():
                correct[name][k] += c
        n += labels.shape[0]
    metrics = {"n_images": n, "eval_seconds": time.perf_counter() - t0}
    for name, c in correct.items():
        metrics[f"top1/{name}"] = 100.0 * c[1] / max(n, 1)
        metrics[f"top5/{name}"] = 100.0 * c[5] / max(n, 1)
    return metrics
