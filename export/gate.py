"""The publication gate of one artifact: float formats within their declared tolerance, int8
within the allowed top-1 drop (``--max-int8-drop``, or accepted with ``--accept-drop``).

Separate from ``validate.py`` (which measures) because it reads each format's declared tolerance
from the format registry, and the formats themselves measure with ``validate.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fgvc_mobile.export.formats import FORMATS
from fgvc_mobile.export.validate import Evaluation


@dataclass
class Verdict:
    passed: bool
    reason: str = ""
    drop: float | None = None  # top-1 points below the fp32 PyTorch reference
    tolerance: dict = field(default_factory=dict)


def judge(fmt: str, precision: str, ev: Evaluation, ref_top1: float, max_int8_drop: float,
          accept_drop: bool) -> Verdict:
    """The gate for one artifact, judged on its gating evaluation ``ev``."""
    if ev.how == "structural":
        return Verdict(True, tolerance={"structural": True})
    drop = ref_top1 - ev.top1 if ev.top1 is not None else None
    tol = FORMATS[fmt].tolerances.get(precision)
    if tol is not None:
        spec = {"max_rel_logit_error": tol, "top1_agreement": "every image"}
        if ev.rel_error is not None and ev.rel_error > tol:
            return Verdict(False, f"relative logit error {ev.rel_error:.2g} exceeds the declared {tol:g}", drop, spec)
        if ev.disagreements:
            return Verdict(False, f"top-1 differs from the fp32 PyTorch reference on {ev.disagreements} of {ev.n} "
                                  "validation images", drop, spec)
        return Verdict(True, drop=drop, tolerance=spec)
    spec = {"max_top1_drop_points": max_int8_drop}
    if drop is not None and drop > max_int8_drop + 1e-9:
        reason = f"top-1 drops {drop:.2f} points ({ref_top1:.2f} -> {ev.top1:.2f}) over the {max_int8_drop:g}-point budget"
        if accept_drop:
            return Verdict(True, f"accepted: {reason}", drop, {**spec, "accepted_drop": True})
        return Verdict(False, reason, drop, spec)
    return Verdict(True, drop=drop, tolerance=spec)
