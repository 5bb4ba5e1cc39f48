"""PNG plots of a report: accuracy against latency, and latency per artifact grouped by format."""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.patches import Rectangle

from fgvc_mobile.benchmarks.names import display_names
from fgvc_mobile.serialization import figure, save_png

_TARGET_MARKERS = {"host": "o", "cuda": "s", "android": "^"}


def headline_latency(row: dict) -> float | None:
    """The latency a plot shows: p50 when measured, else the mean (benchmark_model gives no p50)."""
    lat = row.get("latency_ms") or {}
    return lat.get("p50") if lat.get("p50") is not None else lat.get("mean")


def accuracy_vs_latency(rows: list[dict], path: str | Path) -> Path | None:
    """The scatter; each point is named in the legend beside the axes (labels on the points overlap
    as soon as two artifacts have similar latency and accuracy)."""
    names = display_names(rows)
    pts = [(headline_latency(r), (r.get("accuracy") or {}).get("top1"), r, n) for r, n in zip(rows, names)]
    pts = [(x, y * 100, r, n) for x, y, r, n in pts if x is not None and y is not None]
    if not pts:
        return None
    fig, ax = figure(figsize=(8, max(5.0, 0.22 * len(pts) + 1.0)))
    colours = matplotlib.colormaps["tab20" if len(pts) > 10 else "tab10"]
    for i, (x, y, r, n) in enumerate(pts, 1):
        ax.scatter(x, y, marker=_TARGET_MARKERS.get(r.get("target"), "o"), s=45, color=colours((i - 1) % colours.N),
                   label=f"{i}. {n}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    xs = [x for x, _, _, _ in pts]
    if min(xs) > 0 and max(xs) / min(xs) > 20:  # host GPU and phone CPU rows differ by orders of magnitude
        ax.set_xscale("log")
    ax.set_xlabel("latency per image, batch 1 (ms, p50; mean where p50 is unknown)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy vs latency (o host CPU, s CUDA, ^ Android)")
    ax.grid(alpha=0.3)
    return save_png(fig, path)


def latency_by_format(rows: list[dict], path: str | Path) -> Path | None:
    """Horizontal bars, one row name per bar (0.35 inch apart: 7-point labels never touch)."""
    named = {id(r): n for r, n in zip(rows, display_names(rows))}
    bars = [(r.get("format") or "?", headline_latency(r), r) for r in rows]
    bars = sorted([b for b in bars if b[1] is not None], key=lambda b: (b[0], b[1]))
    if not bars:
        return None
    formats = sorted({f for f, _, _ in bars})
    colours = {f: matplotlib.colormaps["tab10"](i % 10) for i, f in enumerate(formats)}
    fig, ax = figure(figsize=(8, 1.2 + 0.35 * len(bars)))
    ys = range(len(bars))
    ax.barh(list(ys), [v for _, v, _ in bars], color=[colours[f] for f, _, _ in bars])
    p90 = [((r.get("latency_ms") or {}).get("p90")) for _, _, r in bars]
    for y, (_, v, _), hi in zip(ys, bars, p90):
        if hi is not None and hi > v:
            ax.plot([v, hi], [y, y], color="black", lw=1)
    ax.set_yticks(list(ys), [named[id(r)] for _, _, r in bars], fontsize=7)
    ax.invert_yaxis()
    vals = [v for _, v, _ in bars]
    if min(vals) > 0 and max(vals) / min(vals) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("latency per image, batch 1 (ms; bar p50 or mean, line to p90)")
    ax.set_title("Latency by format")
    handles = [Rectangle((0, 0), 1, 1, color=colours[f]) for f in formats]
    ax.legend(handles, formats, fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return save_png(fig, path)
