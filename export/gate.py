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


@dataclass
class Refusal:
    """An artifact that missed its gate and was not published, and what may fix it."""

    file: str
    fmt: str
    precision: str
    reason: str
    drop: float | None
    agreement: float | None  # % top-1 agreement with the fp32 PyTorch reference
    worst_layers: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)  # concrete options, most promising first
    fallback: str | None = None  # the published artifact that ships in its place

    def line(self) -> str:
        drop = f"drop {self.drop:.2f} points, " if self.drop is not None else ""
        agree = f"agreement {self.agreement:.1f}%" if self.agreement is not None else "not run here"
        parts = [f"{self.file}: refused ({self.reason}; {drop}{agree})"]
        if self.fallback:
            parts.append(f"{self.fallback} ships in its place")
        if self.worst_layers:
            parts.append(f"worst layers {', '.join(self.worst_layers)} (see {self.file}.layers.json)")
        if self.fixes:
            parts.append("may fix: " + " | ".join(self.fixes))
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def refusal(a, v: Verdict, opts: dict, auto: bool, published: list) -> Refusal:
    """The refusal of artifact ``a`` judged ``v``, built with options ``opts`` (``auto``: by ``--int8 auto``)."""
    from fgvc_mobile.export.layer_errors import name_pattern, short, worst

    fmt, ev = FORMATS[a.fmt], a.gating()
    if not a.int8:
        fixes = ["a float artifact that differs from PyTorch is a conversion bug: report it with "
                 "validation_report.md (the other formats are unaffected)"]
        return Refusal(a.file, a.fmt, a.precision, v.reason, v.drop, ev.top1_agreement, fixes=fixes)
    bad = worst(a.layers)
    fixes = [] if auto else fmt.int8_fixes(opts)
    if bad and any(o.name == "exclude" for o in fmt.options):  # ONNX excludes nodes: the tensors' producers
        pattern = name_pattern([t.get("node") or t["name"] for t in bad])
        fixes.append(f"-O {a.fmt}.exclude='{pattern}' (keep the worst layers float)")
    fixes += ([] if auto else ["--int8 auto"]) + ["--accept-drop"]
    fallback = next((p.file for p in published if p.fmt == a.fmt and p.precision == fmt.fallback.get(a.precision)),
                    None)
    return Refusal(a.file, a.fmt, a.precision, v.reason, v.drop, ev.top1_agreement, [short(t["name"]) for t in bad],
                   fixes, fallback)
