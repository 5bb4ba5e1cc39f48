"""Accuracy of one session on the decoded test images, and agreement with the reference."""

from __future__ import annotations

from typing import Callable

import numpy as np
from tqdm import tqdm

from fgvc_mobile.benchmarks.image_cache import DecodedImages
from fgvc_mobile.benchmarks.runners.base import Session
from fgvc_mobile.errors import FGVCError


def class_index_map(model_labels: list[str] | None, data_classes: list[str], where: str) -> np.ndarray | None:
    """data label index -> model output index, matched by class name.

    None means identity (same names in the same order, or the model carries no names).
    """
    if model_labels is None or list(model_labels) == list(data_classes):
        return None
    pos = {name: i for i, name in enumerate(model_labels)}
    missing = [c for c in data_classes if c not in pos]
    if missing:
        raise FGVCError(
            f"{where}: the model's labels lack {len(missing)} of the data's classes "
            f"(first: {missing[0]!r}); was it trained on this data set?"
        )
    return np.asarray([pos[c] for c in data_classes], dtype=np.int64)


def predict(
    session: Session,
    data: DecodedImages,
    to_input: Callable[[np.ndarray], np.ndarray],
    batch: int = 32,
    progress: bool = True,
    desc: str = "eval",
) -> np.ndarray:
    """Float logits (n_valid, C) for the decodable images, in data order."""
    idx = np.flatnonzero(data.valid)
    bs = max(1, session.set_batch(max(1, batch)))
    chunks = []
    for start in tqdm(range(0, len(idx), bs), desc=desc, disable=not progress, leave=False, unit="batch"):
        sel = idx[start : start + bs]
        chunks.append(session.run(to_input(np.asarray(data.images[sel]))))
    if not chunks:
        raise FGVCError("no decodable test images to evaluate")
    return np.concatenate(chunks).astype(np.float32, copy=False)


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, index_map: np.ndarray | None = None) -> dict:
    """top-1 and top-5 (top-C when fewer than 5 classes) as fractions, and n."""
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} predictions for {labels.shape[0]} labels")
    target = labels if index_map is None else index_map[labels]
    k = min(5, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return {
        "top1": float(np.mean(top[:, 0] == target)),
        "top5": float(np.mean((top == target[:, None]).any(axis=1))),
        "n": int(labels.shape[0]),
    }


def top1(logits: np.ndarray) -> np.ndarray:
    return np.argmax(logits, axis=1)


def agreement(pred: np.ndarray, ref_pred: np.ndarray) -> float:
    """Fraction of images where two models name the same top-1 class."""
    if pred.shape != ref_pred.shape:
        raise ValueError(f"prediction shapes differ: {pred.shape} vs {ref_pred.shape}")
    return float(np.mean(pred == ref_pred))
