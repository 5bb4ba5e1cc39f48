"""Per-epoch metrics on disk (JSONL + CSV) and a PNG of the loss/accuracy curves."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

from fgvc_mobile.serialization import atomic_path, atomic_write_text, figure, save_png


def write_history(out_dir: str | Path, history: list[dict]) -> None:
    """Rewrite metrics.jsonl and metrics.csv from the full history (so resume never duplicates rows)."""
    out = Path(out_dir)
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
    keys: list[str] = []
    for r in history:
        keys += [k for k in r if k not in keys]
    with atomic_path(out / "metrics.csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(history)


def plot_history(out_dir: str | Path, history: list[dict], title: str = "") -> Path | None:
    """training_curves.png: losses on the left, top-1 of each head/rule on the right."""
    if not history:
        return None
    epochs = [r["epoch"] for r in history]
    fig, (ax_l, ax_a) = figure(1, 2, figsize=(11, 4))
    for k in sorted({k for r in history for k in r if k.startswith("loss/")}):
        ax_l.plot(epochs, [r.get(k) for r in history], marker="o", label=k[5:])
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("training loss")
    ax_l.legend(fontsize=8)
    for k in sorted({k for r in history for k in r if k.startswith("top1/")}):
        pts = [(r["epoch"], r[k]) for r in history if k in r]
        ax_a.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=k[5:])
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("validation top-1 (%)")
    ax_a.legend(fontsize=8)
    fig.suptitle(title)
    path = Path(out_dir) / "training_curves.png"
    with warnings.catch_warnings():  # a data path in a script the font lacks (CJK, ...) only loses glyphs
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        return save_png(fig, path, dpi=100)
