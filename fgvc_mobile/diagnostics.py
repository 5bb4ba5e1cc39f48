"""Per-class diagnostics of one model on labelled images: what ``eval`` and ``bench`` write.

* per-class top-1 (images, correct, top-1) -> ``per_class.csv``;
* the confusion matrix (rows: true class, columns: predicted) with the classes ordered so that
  confusable ones sit together -> ``confusion.csv`` and ``confusion.png``. The order is the leaf
  order of an average-linkage hierarchical clustering (scipy, optimal leaf ordering) of the
  classes under the distance ``1 - (R[i, j] + R[j, i]) / 2``, R the row-normalised confusion
  matrix: two classes mistaken for each other often are close;
* the most confused (true, predicted) pairs with their counts -> ``top_confused.csv``;
* for two models on the same images (int8 vs fp32), the per-class top-1 delta, worst first.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from fgvc_mobile.serialization import atomic_write_text, figure, save_png

#: class names are drawn on the confusion PNG up to this many classes (beyond, they would overlap)
MAX_TICK_LABELS = 60


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 [C, C]: ``cm[t, p]`` = images of true class t predicted as p (predictions outside 0..C-1 dropped)."""
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    ok = (preds >= 0) & (preds < n_classes)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels[ok], preds[ok]), 1)
    return cm


def per_class_top1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(images per true class, top-1 per class in 0..1; NaN for a class without images)."""
    n = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n, np.where(n > 0, np.diag(cm) / np.maximum(n, 1), np.nan)


def cluster_order(cm: np.ndarray) -> list[int]:
    """Class order that puts mutually confused classes next to each other (see the module doc)."""
    c = cm.shape[0]
    if c <= 2:
        return list(range(c))
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    rows = cm.sum(axis=1, keepdims=True).astype(np.float64)
    r = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    dist = 1.0 - (r + r.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(np.clip(dist, 0.0, None), checks=False)
    z = linkage(condensed, method="average")
    return [int(i) for i in leaves_list(optimal_leaf_ordering(z, condensed))]


def top_confused_pairs(cm: np.ndarray, classes: list[str], k: int = 10) -> list[dict]:
    """The ``k`` largest off-diagonal cells: {"true", "predicted", "count"}, ties by class index."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    t, p = np.nonzero(off)
    order = sorted(zip(-off[t, p], t, p))[:k]
    return [{"true": classes[i], "predicted": classes[j], "count": int(-neg)} for neg, i, j in order]


def per_class_delta(base: list[dict], other: list[dict], worst: int = 10) -> list[dict]:
    """Per-class top-1 of ``other`` minus ``base`` (e.g. int8 - fp32), matched by class, most negative first."""
    by_class = {r["class"]: r for r in base}
    rows = []
    for r in other:
        b = by_class.get(r["class"])
        if b is None or b["top1"] is None or r["top1"] is None:
            continue
        rows.append({"class": r["class"], "n": r["n"], "base_top1": b["top1"], "top1": r["top1"],
                     "delta": r["top1"] - b["top1"]})
    rows.sort(key=lambda x: (x["delta"], x["class"]))
    return rows[:worst]


class Diagnostics:
    """Everything above for one model, from true and predicted class indices."""

    def __init__(self, labels, preds, classes: list[str], top_pairs: int = 10):
        self.classes = list(classes)
        self.cm = confusion_matrix(labels, preds, len(self.classes))
        # a prediction outside the classes (a label the data set lacks) is wrong, not absent
        self.n = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(self.classes))[: len(self.classes)]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.top1 = np.where(self.n > 0, np.diag(self.cm) / np.maximum(self.n, 1), np.nan)
        self.order = cluster_order(self.cm)
        self.pairs = top_confused_pairs(self.cm, self.classes, top_pairs)

    def per_class(self) -> list[dict]:
        return [{"class": c, "n": int(self.n[i]), "correct": int(self.cm[i, i]),
                 "top1": None if np.isnan(self.top1[i]) else float(self.top1[i])} for i, c in enumerate(self.classes)]

    def summary(self, files: dict | None = None) -> dict:
        return {"per_class": self.per_class(), "top_confused": self.pairs,
                "order": [self.classes[i] for i in self.order], "files": files or {}}

    def write(self, out_dir: str | Path, prefix: str = "", title: str = "") -> dict:
        """per_class.csv, confusion.csv, confusion.png, top_confused.csv in ``out_dir``; returns the summary."""
        out = Path(out_dir)
        files = {k: f"{prefix}{k}" for k in ("per_class.csv", "confusion.csv", "confusion.png", "top_confused.csv")}
        atomic_write_text(out / files["per_class.csv"], _csv(
            ["class", "images", "correct", "top1"],
            [[r["class"], r["n"], r["correct"], "" if r["top1"] is None else f"{r['top1']:.4f}"]
             for r in self.per_class()]))
        names = [self.classes[i] for i in self.order]
        atomic_write_text(out / files["confusion.csv"], _csv(
            ["true \\ predicted", *names], [[names[a], *self.cm[i, self.order].tolist()] for a, i in enumerate(self.order)]))
        atomic_write_text(out / files["top_confused.csv"], _csv(
            ["true", "predicted", "count"], [[p["true"], p["predicted"], p["count"]] for p in self.pairs]))
        confusion_png(self.cm, self.classes, self.order, out / files["confusion.png"], title)
        return self.summary(files)


def _csv(header: list, rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def confusion_png(cm: np.ndarray, classes: list[str], order: list[int], path: Path, title: str = "") -> Path:
    """The row-normalised confusion matrix in cluster order; names drawn up to MAX_TICK_LABELS classes."""
    c = len(classes)
    rows = cm.sum(axis=1, keepdims=True)
    r = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)[np.ix_(order, order)]
    side = min(16.0, 3.0 + 0.16 * c) if c <= MAX_TICK_LABELS else 9.0
    fig, ax = figure(figsize=(side + 1.5, side))
    im = ax.imshow(r, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if c <= MAX_TICK_LABELS:
        names = [classes[i] for i in order]
        fs = max(4, min(9, int(400 / max(c, 1) / 2)))
        ax.set_xticks(range(c), names, rotation=90, fontsize=fs)
        ax.set_yticks(range(c), names, fontsize=fs)
        ax.set_xlabel("predicted class")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{c} classes in cluster order (names: confusion.csv)")
    ax.set_ylabel("true class")
    ax.set_title((title + "\n" if title else "") + "confusion (row-normalised; confusable classes adjacent)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return save_png(fig, path)


def model_predictions(model, loader, device, rule: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(true labels, top-1 of ``rule`` (default: the model's first, the one it deploys with), rule)."""
    import torch

    rules = model.inference_rules
    rule = rule or next(iter(rules))
    labels, preds = [], []
    model.eval()
    with torch.no_grad():
        for images, y in loader:
            preds.append(model.forward_rule(images.to(device), rule).float().argmax(1).cpu().numpy())
            labels.append(np.asarray(y))
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
    return cat(labels), cat(preds), rule


def eval_diagnostics(model, loader, device, classes: list[str], out_dir: str, title: str = "", echo=print) -> dict:
    """``fgvc-mobile eval --diagnostics DIR``: the files above for the checkpoint's deploy rule."""
    labels, preds, rule = model_predictions(model, loader, device)
    summary = Diagnostics(labels, preds, classes).write(out_dir, title=f"{title} rule {rule}".strip())
    echo(f"per-class diagnostics (rule {rule}) -> {out_dir}: per_class.csv, confusion.csv, confusion.png, "
         "top_confused.csv")
    for p in summary["top_confused"][:5]:
        echo(f"  {p['true']} -> {p['predicted']}: {p['count']}")
    return {"rule": rule, **summary}
