"""``fgvc-mobile predict`` on many images: files, folders (recursive) and globs -> text, CSV or JSON.

Images are decoded one by one (an unreadable file is listed with its reason, counted and
skipped; it never stops the run) and run in batches. Output rows: the path, then the top-k
labels and scores (probabilities, 0..1). CSV has one row per input file, unreadable ones with
an ``error`` and no labels; JSON has ``results`` and ``skipped`` lists with their counts.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fgvc_mobile.data.images import IMAGE_EXTENSIONS, image_files
from fgvc_mobile.errors import FGVCError

OUTPUT_FORMATS = ("text", "csv", "json")
_GLOB_CHARS = set("*?[")


@dataclass
class Predictions:
    labels: list[str]
    top_k: int
    results: list[dict] = field(default_factory=list)  # {"path", "labels", "scores"}
    skipped: list[dict] = field(default_factory=list)  # {"path", "error"}
    order: list[str] = field(default_factory=list)  # every input path, in input order


def collect_inputs(args: list[str]) -> tuple[list[str], list[dict]]:
    """(image paths, skipped entries) for files, folders (recursive, image suffixes) and glob patterns.

    A file is taken whatever its suffix (its decoding decides); an argument that matches nothing
    is listed as skipped, with the reason.
    """
    paths, skipped, seen = [], [], set()

    def add(p: str) -> None:
        if p not in seen:
            seen.add(p)
            paths.append(p)

    for arg in args:
        if os.path.isdir(arg):
            found = image_files(arg)
            if not found:
                skipped.append({"path": arg, "error": f"{arg}: a folder with no image files ({', '.join(IMAGE_EXTENSIONS)})"})
            for f in found:
                add(f)
        elif os.path.lexists(arg) or not _GLOB_CHARS & set(arg):
            add(arg)  # a file (or a missing one, which decoding reports)
        else:
            found = sorted(f for f in glob.glob(arg, recursive=True) if os.path.isfile(f))
            if not found:
                skipped.append({"path": arg, "error": f"{arg}: the pattern matches no file"})
            for f in found:
                add(f)
    return paths, skipped


def predict_paths(paths: list[str], predict, pre, labels: list[str], top_k: int, batch_size: int = 32,
                  progress: bool = True, skipped: list[dict] | None = None) -> Predictions:
    """Decode ``paths`` one by one (unreadable ones skipped), run ``predict`` on batches of ``batch_size``."""
    from tqdm import tqdm

    from fgvc_mobile.data.images import load_rgb
    from fgvc_mobile.data.transforms import geometric_eval

    geom = geometric_eval(pre)
    out = Predictions(labels, min(top_k, len(labels)), skipped=list(skipped or []))
    out.order = [s["path"] for s in out.skipped]
    batch, batch_paths = [], []

    def flush() -> None:
        if not batch:
            return
        probs = predict(np.stack(batch))
        for path, row in zip(batch_paths, probs):
            top = np.argsort(-row, kind="stable")[: out.top_k]
            out.results.append({"path": path, "labels": [labels[c] for c in top],
                                "scores": [float(row[c]) for c in top]})
        batch.clear()
        batch_paths.clear()

    with tqdm(total=len(paths), unit="img", desc="predict", disable=not progress, leave=False) as bar:
        for path in paths:
            out.order.append(path)
            try:
                image = np.asarray(geom(load_rgb(path)), dtype=np.uint8)
            except (FGVCError, OSError, ValueError) as e:
                msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
                out.skipped.append({"path": path, "error": msg})
            else:
                batch.append(image)
                batch_paths.append(path)
                if len(batch) >= batch_size:
                    flush()
            bar.update(1)
        flush()
    return out


def render(p: Predictions, fmt: str, model: str) -> str:
    """The predictions as text (the classic per-image listing), CSV or JSON."""
    if fmt == "json":
        return json.dumps({"model": model, "top_k": p.top_k, "n_images": len(p.results) + len(p.skipped),
                           "n_predicted": len(p.results), "n_skipped": len(p.skipped),
                           "results": p.results, "skipped": p.skipped}, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["path", *[f"{c}_{i}" for i in range(1, p.top_k + 1) for c in ("label", "score")], "error"])
        by_path = {r["path"]: r for r in p.results}
        errors = {s["path"]: s["error"] for s in p.skipped}
        for path in p.order:
            r = by_path.get(path)
            cells = [v for lab, s in zip(r["labels"], r["scores"]) for v in (lab, f"{s:.6f}")] if r else \
                [""] * (2 * p.top_k)
            w.writerow([path, *cells, errors.get(path, "")])
        return buf.getvalue()
    lines = []
    for r in p.results:
        lines.append(r["path"])
        for rank, (lab, s) in enumerate(zip(r["labels"], r["scores"]), 1):
            lines.append(f"  {rank}. {lab:<30} {s * 100:6.2f}%")
    return "\n".join(lines) + ("\n" if lines else "")


def output_format(out: str | None, fmt: str | None) -> str:
    """The format from ``--format`` or ``--out``'s suffix; checked before any work."""
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise FGVCError(f"--format {fmt!r}: choose one of {', '.join(OUTPUT_FORMATS)}")
    if out is None:
        return fmt or "text"
    suffix = Path(out).suffix.lower().lstrip(".")
    if fmt is None:
        if suffix not in ("csv", "json"):
            raise FGVCError(f"--out {out}: give a .csv or .json file (or --format csv|json)")
        fmt = suffix
    parent = Path(out).parent
    if Path(out).is_dir():
        raise FGVCError(f"--out {out}: is a folder; give a file name")
    if not parent.is_dir():
        raise FGVCError(f"--out {out}: its folder {parent} does not exist")
    return fmt
