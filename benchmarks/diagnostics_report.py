"""Per-class diagnostics in a bench report: one set of files per measured row, int8 vs fp32 deltas.

For every row with accuracy, ``<out>/per_class/<row>_{per_class,confusion,top_confused}.csv``
and ``_confusion.png`` (:mod:`fgvc_mobile.diagnostics`); the report's ``diagnostics`` block
holds, per row name, the per-class top-1, the top confused pairs and the file names, and for
each int8 row the classes whose top-1 fell most against its float counterpart: the float row of
the same run, format, target and runtime, else the run's fp32 PyTorch reference row.
"""

from __future__ import annotations

import re
from pathlib import Path

from fgvc_mobile.diagnostics import Diagnostics, per_class_delta

FOLDER = "per_class"
INT8_PRECISIONS = ("int8", "w8a8", "int8-weights")
FLOAT_PRECISIONS = ("fp32", "fp16")
WORST = 10


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:120] or "row"


def _float_partner(row: dict, rows: list[dict]) -> dict | None:
    same_run = [r for r in rows if r.get("reference") == row.get("reference") and r.get("precision") in FLOAT_PRECISIONS]
    for keys in (("format", "target", "runtime", "delegate"), ("format",)):
        hit = [r for r in same_run if all(r.get(k) == row.get(k) for k in keys)]
        if hit:
            return hit[0]
    return next((r for r in same_run if r.get("format") == "pytorch"), None)


def bench_diagnostics(measured: list[tuple[dict, Diagnostics]], names: dict[int, str], out_dir: str | Path,
                      worst: int = WORST) -> dict:
    """Write the files of every measured row; return the report's ``diagnostics`` block.

    ``measured``: (row, its Diagnostics); ``names``: id(row) -> the row's display name.
    """
    out = Path(out_dir) / FOLDER
    per_row, summaries = {}, {}
    for row, diag in measured:
        name = names[id(row)]
        s = diag.write(out, prefix=_slug(name) + "_", title=name)
        s["files"] = {k: f"{FOLDER}/{v}" for k, v in s["files"].items()}
        summaries[id(row)] = s
        per_row[name] = {"per_class": s["per_class"], "top_confused": s["top_confused"], "files": s["files"]}
    rows = [r for r, _ in measured]
    deltas = []
    for row in rows:
        if row.get("precision") not in INT8_PRECISIONS:
            continue
        base = _float_partner(row, rows)
        if base is None:
            continue
        deltas.append({"row": names[id(row)], "versus": names[id(base)],
                       "worst": per_class_delta(summaries[id(base)]["per_class"], summaries[id(row)]["per_class"],
                                                worst)})
    return {"rows": per_row, "int8_vs_float": deltas}


def markdown_lines(report: dict, pairs: int = 5) -> list[str]:
    """The report.md section: per-class int8 - float deltas (worst classes) and top confused pairs."""
    d = report.get("diagnostics")
    if not d:
        return []
    lines = ["## Per-class diagnostics", "",
             f"Files per row in `{FOLDER}/`: per-class top-1, the confusion matrix (CSV, and PNG with confusable "
             "classes adjacent) and the top confused pairs.", ""]
    for delta in d.get("int8_vs_float") or []:
        lines += [f"### {delta['row']} vs {delta['versus']}: worst classes", "",
                  "| class | images | float top-1 % | int8 top-1 % | Δ pp |", "|---|---|---|---|---|"]
        lines += [f"| {w['class']} | {w['n']} | {w['base_top1'] * 100:.1f} | {w['top1'] * 100:.1f} | "
                  f"{w['delta'] * 100:+.1f} |" for w in delta["worst"]]
        lines.append("")
    for name, r in (d.get("rows") or {}).items():
        top = r["top_confused"][:pairs]
        if top:
            lines.append(f"- {name}, most confused: " + "; ".join(
                f"{p['true']} → {p['predicted']} ({p['count']})" for p in top))
    return lines + [""]
