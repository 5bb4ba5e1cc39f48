"""The one loader of trained models: ``load_trained(path) -> Trained``.

Every consumer that needs a trained model for inference (eval, export, bench, predict, a
distillation teacher, the studies) gets it here, never from the trainer. A checkpoint is a dict
(model weights, method, arch, model options, classes, preprocessing, metrics, and for resuming
the optimizer, scheduler and RNG states) loaded with ``weights_only=True`` only; a file that
unpickles safely can still lie, so every field used here is checked, each failure one line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models.backbone import FGVC_CHECKPOINT_FORMAT
from fgvc_mobile.models.fgvc import FGVCModel
from fgvc_mobile.models.registry import ARCHS, LEGACY_METHOD_ARCHS, create_model
from fgvc_mobile.serialization import safe_torch_load

CHECKPOINT_FORMAT = FGVC_CHECKPOINT_FORMAT
CHECKPOINT_VERSION = 1
#: fields of the training state, not of the trained model
_TRAINING_STATE = ("model", "train_model", "optimizer", "scheduler", "rng", "qat_state")


@dataclass(frozen=True)
class Trained:
    """A trained model in eval mode and what a consumer needs to run and describe it."""

    model: FGVCModel
    arch: str
    method: str
    preprocess: PreprocessConfig
    labels: tuple[str, ...]
    path: str
    sha256: str
    #: every checkpoint field but the weights and training state (config, data, history, best,
    #: test_metrics, model_kwargs, ...), with ``sha256`` and ``path``: what manifests record
    meta: dict

    @property
    def rules(self) -> dict[str, tuple[str, ...]]:
        """Inference rule -> the heads it sums; the first is the one deployed by default."""
        return dict(self.model.inference_rules)

    @property
    def default_rule(self) -> str:
        return self.model.default_rule

    def reported_metrics(self) -> tuple[dict, str]:
        return reported_metrics(self.meta)


def load_trained(path: str | os.PathLike) -> Trained:
    ckpt = read_checkpoint(path)
    model = build_model(ckpt, str(path)).eval()
    meta = {k: v for k, v in ckpt.items() if k not in _TRAINING_STATE}
    meta.update(arch=arch_of(ckpt), sha256=file_sha256(path), path=os.fspath(path))
    return Trained(model, meta["arch"], ckpt["method"], PreprocessConfig.from_dict(ckpt["preprocess"]),
                   tuple(ckpt["classes"]), meta["path"], meta["sha256"], meta)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dict with every field the loaders use checked (the trainer resumes from it)."""
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


def arch_of(ckpt: dict) -> str:
    """The checkpoint's ``arch``; one written before checkpoints named it, its method's."""
    return ckpt["arch"] if "arch" in ckpt else LEGACY_METHOD_ARCHS[ckpt["method"]]


def _check_fields(path, ckpt: dict) -> None:
    def bad(key: str, want: str):
        raise FGVCError(f"{path}: checkpoint field '{key}' must be {want}, got {ckpt[key]!r}"[:300])

    if "arch" in ckpt:
        if not isinstance(ckpt["arch"], str) or ckpt["arch"] not in ARCHS:
            bad("arch", f"one of {sorted(ARCHS)}")
        if not isinstance(ckpt["method"], str) or not ckpt["method"]:
            bad("method", "a method name")
    elif not isinstance(ckpt["method"], str) or ckpt["method"] not in LEGACY_METHOD_ARCHS:
        bad("method", f"one of {sorted(LEGACY_METHOD_ARCHS)} (the checkpoint names no arch)")
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


def build_model(ckpt: dict, source: str = "checkpoint") -> FGVCModel:
    """The model of a checked checkpoint dict with its weights (train mode, as built)."""
    arch, n, kwargs = arch_of(ckpt), len(ckpt["classes"]), ckpt["model_kwargs"]
    # shapes first, on the meta device: model options that would allocate gigabytes cost nothing
    # here, and the real model is only built when it matches the tensors the file really holds
    with torch.device("meta"):
        skeleton = create_model(arch, n, kwargs, source).state_dict()
    state = ckpt["model"]
    missing, unexpected = sorted(set(skeleton) - set(state)), sorted(set(state) - set(skeleton))
    wrong = [k for k in skeleton if k in state and tuple(state[k].shape) != tuple(skeleton[k].shape)]
    if missing or unexpected or wrong:
        what = (f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}" if unexpected else
                f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, the model {tuple(skeleton[wrong[0]].shape)}")
        raise FGVCError(f"{source}: weights do not match the {ckpt['method']} model ({what})")
    model = create_model(arch, n, kwargs, source)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise FGVCError(f"{source}: weights do not match the {ckpt['method']} model ({first})") from None
    return model


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


# ---- the record of what a run started from (written by train/pretrained.py) ----------------------

def describe(record) -> str:
    """One line for a person: ``imagenet (torchvision:IMAGENET1K_V1, sha256 3f2a…)``.

    Also reads what checkpoints written before the record existed hold: a description string
    (``torchvision:…``, ``file:…``, ``checkpoint:…``) or None (from scratch).
    """
    if not record:
        return "none (trained from scratch)"
    if isinstance(record, str):
        return record
    if not isinstance(record, dict) or record.get("source") in (None, "none"):
        return "none (trained from scratch)"
    sha = record.get("sha256")
    detail = ", ".join(x for x in (record.get("weights"), f"sha256 {sha[:12]}" if sha else None) if x)
    return f"{record['source']} ({detail})" if detail else str(record["source"])


def loaded_weights(record) -> str | None:
    """What was loaded (``torchvision:…``, ``file:…``, ``checkpoint:…``), or None for from scratch."""
    if isinstance(record, dict):
        return record.get("weights")
    return record or None
