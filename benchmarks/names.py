"""Row names a reader can tell apart: run name + format + precision, made unique per report.

Two rows of one report can share an artifact file name (``best.pt`` of two runs, ``model_int8.tflite``
of two export folders) or an artifact (one row per runtime / delegate). A row's ``name`` is
``"<run> <format> <precision>"``, the run being the folder of the checkpoint it was exported
from (or the artifact's own folder); :func:`display_names` adds the runtime, delegate and
target only where names would repeat, then a counter as a last resort.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def run_name(path: str | Path | None, fallback: str = "") -> str:
    """The run a checkpoint or artifact belongs to: its folder's name."""
    if not path:
        return fallback
    return Path(path).resolve().parent.name or fallback


def row_name(run: str, fmt: str | None, precision: str | None) -> str:
    return " ".join(b for b in (run, fmt or "", precision or "") if b)


def _with_runtime(r: dict, base: str) -> str:
    bits = [r.get("runtime") or "?"] + ([str(r["delegate"])] if r.get("delegate") else [])
    return f"{base} [{'/'.join(bits)}, {r.get('target')}]"


def display_names(rows: list[dict]) -> list[str]:
    """One distinct label per row, in row order (rows without a ``name`` use their artifact)."""
    names = [r.get("name") or str(r.get("artifact")) for r in rows]
    for step in (_with_runtime, lambda r, base: f"{base} ({r.get('artifact')})"):
        counts = Counter(names)
        names = [step(r, n) if counts[n] > 1 else n for r, n in zip(rows, names)]
    counts, seen = Counter(names), Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(f"{n} #{seen[n]}" if counts[n] > 1 else n)
    return out
