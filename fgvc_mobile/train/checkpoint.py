"""What the trainer writes to save and resume a run: the checkpoint file and the RNG states.

A checkpoint is one dict with model, optimizer, scheduler, epoch, RNG states, config, arch,
classes, preprocessing and metrics, written atomically. Reading one (checked, for resuming or
inference) is ``fgvc_mobile.models.load``'s job.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from fgvc_mobile.models.load import CHECKPOINT_FORMAT, CHECKPOINT_VERSION
from fgvc_mobile.serialization import atomic_torch_save
from fgvc_mobile.train.history import plot_history, write_history


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


def save_epoch(out: Path, fields: dict, is_best: bool, history: list[dict], title: str) -> None:
    """The end of an epoch of any run (training or QAT): last.pt, best.pt when this epoch is the best
    on val, and the metrics and curves of the whole history."""
    save_checkpoint(out / "last.pt", **fields)
    if is_best:
        save_checkpoint(out / "best.pt", **fields)
    write_history(out, history)
    plot_history(out, history, title=title)
