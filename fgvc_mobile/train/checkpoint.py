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
from fgvc_mobile.methods import METHODS, get_method
from fgvc_mobile.models.backbone import FGVC_CHECKPOINT_FORMAT
from fgvc_mobile.models.fgvc import FGVCModel
from fgvc_mobile.serialization import atomic_torch_save, safe_torch_load

CHECKPOINT_FORMAT = FGVC_CHECKPOINT_FORMAT
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
    """Load and validate a checkpoint dict (never executes pickled code).

    A file that unpickles safely can still lie (wrong types, a string for the classes, an
    impossible model): every field the loaders use is checked here, each failure one line.
    """
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise FGVCError(f"{path}: not an fgvc-mobile checkpoint")
    version = ckpt.get("version", 0)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise FGVCError(f"{path}: checkpoint version {version!r} is newer than this fgvc-mobile supports")
    for key in ("model", "method", "classes", "preprocess", "model_kwargs"):
        if key not in ckpt:
            raise FGVCError(f"{path}: checkpoint lacks '{key}'")
    _check_fields(path, ckpt)
    return ckpt


def _check_fields(path, ckpt: dict) -> None:
    def bad(key: str, want: str):
        raise FGVCError(f"{path}: checkpoint field '{key}' must be {want}, got {ckpt[key]!r}"[:300])

    if not isinstance(ckpt["method"], str) or ckpt["method"] not in METHODS:
        bad("method", f"one of {sorted(METHODS)}")
    classes = ckpt["classes"]
    if not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) for c in classes):
        bad("classes", "a non-empty list of class names")
    if not isinstance(ckpt["model_kwargs"], dict) or not all(isinstance(k, str) for k in ckpt["model_kwargs"]):
        bad("model_kwargs", "a mapping of model options")
    model = ckpt["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in model.items()):
        raise FGVCError(f"{path}: checkpoint field 'model' must map parameter names to tensors")
    for key in ("epoch", "batches_done"):
        if key in ckpt and (not isinstance(ckpt[key], int) or isinstance(ckpt[key], bool) or ckpt[key] < 0):
            bad(key, "a count >= 0")
    try:
        PreprocessConfig.from_dict(ckpt["preprocess"])
    except FGVCError as e:
        raise FGVCError(f"{path}: {e}") from None


def build_model(recipe, num_classes: int, model_kwargs: dict, where: str) -> FGVCModel:
    """``recipe.build_model`` with model options that do not fit it reported as one line."""
    try:
        return recipe.build_model(num_classes, **model_kwargs)
    except FGVCError:
        raise
    except (TypeError, ValueError, RuntimeError, KeyError, IndexError, AssertionError, OverflowError) as e:
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:200]
        raise FGVCError(f"{where}: model options {model_kwargs} do not fit --method {recipe.name} ({first})"[:400]) \
            from None


def build_model_from_checkpoint(ckpt: dict, source: str = "checkpoint") -> FGVCModel:
    recipe = get_method(ckpt["method"])
    n = len(ckpt["classes"])
    # shapes first, on the meta device: model options that would allocate gigabytes cost nothing
    # here, and the real model is only built when it matches the tensors the file really holds
    with torch.device("meta"):
        skeleton = build_model(recipe, n, ckpt["model_kwargs"], source).state_dict()
    state = ckpt["model"]
    missing, unexpected = sorted(set(skeleton) - set(state)), sorted(set(state) - set(skeleton))
    wrong = [k for k in skeleton if k in state and tuple(state[k].shape) != tuple(skeleton[k].shape)]
    if missing or unexpected or wrong:
        what = (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}" if unexpected else
                f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, the model {tuple(skeleton[wrong[0]].shape)}")
        raise FGVCError(f"{source}: weights do not match the {ckpt['method']} model ({what})")
    model = build_model(recipe, n, ckpt["model_kwargs"], source)
    try:
        model.load_state_dict(state, strict=True)
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


def reported_metrics(meta: dict) -> tuple[dict, str]:
    """(test metrics of a best.pt, the split its epoch was selected on).

    A run now selects on val and evaluates test once (``test_metrics``); a checkpoint from before
    validation splits evaluated test every epoch and selected on it, which this reports as such.
    """
    if isinstance(meta.get("test_metrics"), dict):
        return meta["test_metrics"], (meta.get("best") or {}).get("split", "val")
    epoch = (meta.get("best") or {}).get("epoch")
    row = next((h for h in meta.get("history") or [] if h.get("epoch") == epoch and "n_test" in h), None)
    if row is None:
        raise FGVCError(f"{meta.get('path', 'checkpoint')}: records no test evaluation of its best epoch {epoch}")
    return {**row, "n_images": row["n_test"]}, "test"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
