"""Where int8 loses accuracy: per-tensor error against fp32, and per-class top-1 against fp32.

The per-tensor numbers come from each library's own tool (``onnxruntime.quantization.
qdq_loss_debug`` for ONNX, ai_edge_quantizer's ``model_validator`` for TFLite; see the format
modules), as SQNR in dB: 10 log10(signal power / error power) of the int8 model's tensor
against the fp32 model's, on a few validation images. Each int8 artifact gets
``<file>.layers.json`` (every tensor in graph order, the worst ones, the per-class top-1 delta)
and ``<file>.layers.png`` beside it; a refusal names the worst tensors, the first candidates for
``-O FORMAT.exclude``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from fgvc_mobile.diagnostics import confusion_matrix, per_class_delta, per_class_top1
from fgvc_mobile.serialization import atomic_write_text, figure, save_png

WORST = 3  # tensors a refusal names


def worst(layers: list[dict], k: int = WORST) -> list[dict]:
    """The ``k`` tensors with the lowest SQNR (a tensor equal in both models, SQNR inf, is never worst)."""
    finite = [t for t in layers if math.isfinite(t["sqnr_db"])]
    return sorted(finite, key=lambda t: (t["sqnr_db"], t["name"]))[:k]


def short(name: str) -> str:
    """A readable tensor name: of litert-torch's module paths, the last three modules' class parts."""
    parts = name.split("/")
    return "/".join(p.rsplit(".", 1)[-1] for p in parts[-3:]) if len(parts) > 3 else name


def name_pattern(names: list[str]) -> str:
    """A regex (searched, as ``-O FORMAT.exclude`` uses it) that matches each of ``names``, short to type."""
    def one(n: str) -> str:
        parts = short(n).split("/")
        if len(parts) == 1:
            return f"^{re.escape(n)}$"
        return f"{re.escape(parts[0])}/.*{re.escape(parts[-1])}$"

    return "|".join(one(n) for n in names)


def per_class(labels: np.ndarray, preds: np.ndarray, classes: list[str]) -> list[dict]:
    """Per-class rows ({"class", "n", "top1"}) in the form ``fgvc_mobile.diagnostics.per_class_delta`` takes."""
    n, top1 = per_class_top1(confusion_matrix(labels, preds, len(classes)))
    return [{"class": c, "n": int(n[i]), "top1": None if np.isnan(top1[i]) else float(top1[i])}
            for i, c in enumerate(classes)]


def class_delta(labels: np.ndarray, ref_preds: np.ndarray, preds: np.ndarray, classes: list[str],
                k: int = 5) -> list[dict]:
    """The ``k`` classes whose top-1 the artifact lowers most against the fp32 reference (same images)."""
    return per_class_delta(per_class(labels, ref_preds, classes), per_class(labels, preds, classes), k)


def write(folder: Path, artifact: str, layers: list[dict], delta: list[dict]) -> list[str]:
    """``<artifact>.layers.json`` and ``.layers.png`` in ``folder``; returns the file names."""
    stem = f"{artifact}.layers"
    doc = {"artifact": artifact, "metric": "SQNR dB of the int8 tensor vs the fp32 tensor (higher is closer)",
           "worst": [t["name"] for t in worst(layers)], "classes_hurt_most": delta,
           "tensors": [{k: _finite(v) for k, v in t.items()} for t in layers]}  # inf (identical) -> null
    atomic_write_text(folder / f"{stem}.json", json.dumps(doc, indent=1, allow_nan=False) + "\n")
    _plot(layers, folder / f"{stem}.png", artifact)
    return [f"{stem}.json", f"{stem}.png"]


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _plot(layers: list[dict], path: Path, title: str) -> None:
    db = np.array([t["sqnr_db"] if math.isfinite(t["sqnr_db"]) else np.nan for t in layers], dtype=np.float64)
    fig, ax = figure(figsize=(max(6.0, min(18.0, 0.12 * len(db))), 3.6))
    ax.bar(range(len(db)), np.nan_to_num(db, nan=0.0), color="tab:blue", width=0.8)
    for t in worst(layers):
        i = layers.index(t)
        ax.bar([i], [t["sqnr_db"]], color="tab:red", width=0.8)
        ax.annotate(short(t["name"]), (i, t["sqnr_db"]), fontsize=6, rotation=60, ha="left", va="bottom")
    ax.set_xlabel("tensor (graph order)")
    ax.set_ylabel("SQNR vs fp32 (dB)")
    ax.set_title(f"{title}: per-tensor int8 error (red: worst)", fontsize=9)
    save_png(fig, path, dpi=100)
