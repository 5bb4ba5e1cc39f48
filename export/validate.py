"""Parity and accuracy gates against the fp32 PyTorch deploy graph.

Each format module declares per precision how it is judged (``Format.tolerances``; optimum's
lesson: every export states its tolerance and is validated before it is called done):

* float artifacts: max |logit - reference| / max(1, largest |reference logit|) must stay within
  the declared tolerance, and top-1 must agree with the reference on EVERY image. 1e-3 leaves
  room for fp32 rounding (a barely trained model amplifies a 1e-7 input difference to ~1e-4)
  while a real bug (wrong normalisation, layout, rule) is off by 1e-1 or more;
* int8 artifacts: top-1 accuracy on the validation images may drop at most ``max_int8_drop``
  points (default 1.0) below the fp32 PyTorch reference, unless the user accepts the drop;
* artifacts that cannot run on this host (CoreML on Linux) are judged by structural checks and,
  for quantized ones, by a PyTorch simulation of their quantization.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from fgvc_mobile.export.contract import softmax

DEFAULT_MAX_INT8_DROP = 1.0


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(axis=1) == labels).mean() * 100.0) if len(labels) else 0.0


@dataclass
class Evaluation:
    """One way of running (or simulating) an artifact on the validation images."""

    name: str  # e.g. "onnxruntime", "ort-int8-kernels", "qdq-float", "litert", "torch-sim", "structural"
    how: str  # "run" (the artifact itself), "simulated" (PyTorch model of its numerics) or "structural"
    n: int = 0
    top1: float | None = None
    top1_agreement: float | None = None  # % of images whose top-1 equals the reference's
    disagreements: int | None = None
    max_abs_error: float | None = None
    rel_error: float | None = None
    note: str = ""
    preds: np.ndarray | None = field(default=None, repr=False, compare=False)  # top-1 per image (per-class report)

    def to_dict(self) -> dict:
        values = ((f.name, getattr(self, f.name)) for f in fields(self) if f.name != "preds")
        return {k: v for k, v in values if v is not None and v != ""}


def evaluate(name: str, how: str, scores: np.ndarray, ref_logits: np.ndarray, labels: np.ndarray,
             probabilities: bool = False, note: str = "") -> Evaluation:
    """Compare ``scores`` (logits, or probabilities when ``probabilities``) with the reference."""
    ref = softmax(ref_logits) if probabilities else ref_logits
    if scores.shape != ref.shape:
        raise ValueError(f"{name}: output shape {scores.shape} differs from the reference's {ref.shape}")
    err = np.abs(scores.astype(np.float64) - ref)
    agree = scores.argmax(axis=1) == ref.argmax(axis=1)
    peak = max(float(np.abs(ref).max()), 1.0)  # relative to the logit scale, absolute below 1
    return Evaluation(
        name=name, how=how, n=len(labels), top1=top1_accuracy(scores, labels),
        top1_agreement=float(agree.mean() * 100.0), disagreements=int((~agree).sum()),
        max_abs_error=float(err.max()), rel_error=float(err.max() / peak), note=note, preds=scores.argmax(axis=1),
    )
