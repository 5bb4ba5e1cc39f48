"""Checkpoints: one dict with model, optimizer, scheduler, epoch, RNG states, config, classes,
preprocessing and metrics; written atomically and loaded with ``weights_only=True`` only."""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import get_method
from fgvc_mobile.models.fgvc import FGVCModel
from fgvc_mobile.serialization import atomic_torch_save, safe_torch_load

CHECKPOINT_FORMAT = "fgvc-mobile-checkpoint"
CHECKPOINT_VERSION = 1


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), *n[2:]))
    random.setstate(state["python"])


def save_checkpoint(path: str | os.PathLike, **fields) -> None:
    """Atomic write: a crash or full disk leaves the previous file at ``path`` intact."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **fields}
    atomic_torch_save(payload, path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate a checkpoint dict (never executes pickled code)."""
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise FGVCError(f"{path}: not an fgvc-mobile checkpoint")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise FGVCError(f"{path}: checkpoint version {ckpt['version']} is newer than this fgvc-mobile supports")
    for key in ("model", "method", "classes", "preprocess", "model_kwargs"):
        if key not in ckpt:
            raise FGVCError(f"{path}: checkpoint lacks '{key}'")
    return ckpt


def build_model_from_checkpoint(ckpt: dict, source: str = "checkpoint") -> FGVCModel:
    recipe = get_method(ckpt["method"])
    model = recipe.build_model(len(ckpt["classes"]), **ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise FGVCError(f"{source}: weights do not match the {ckpt['method']} model ({first})") from None
    return model


def load_checkpoint_model(path: str | os.PathLike) -> tuple[FGVCModel, dict]:
    """(model in eval mode, meta) where meta has classes, preprocess (dict), method, sha256, ..."""
    ckpt = load_checkpoint(path)
    model = build_model_from_checkpoint(ckpt, str(path)).eval()
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "optimizer", "scheduler", "rng")}
    meta["sha256"] = file_sha256(path)
    meta["path"] = os.fspath(path)
    PreprocessConfig.from_dict(meta["preprocess"])  # validates
    return model, meta


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
