"""``fgvc-mobile predict``: top-k labels for images from any artifact or checkpoint.

    fgvc-mobile predict --model dist/model_int8.tflite bird1.jpg bird2.jpg --top-k 5
    fgvc-mobile predict --model dist/model_int8.tflite photos/ 'more/**/*.jpg' --out preds.csv

Inputs are image files, folders (searched recursively) and glob patterns; the output is the
per-image listing on stdout, or CSV / JSON (``--out FILE.csv|.json`` or ``--format``): path,
top-k labels and scores. Unreadable files are listed, counted and skipped; they never stop the
run (when none of the inputs can be read, there is nothing to write: a one-line error names the
first). .onnx and .tflite run anywhere (their manifest, or the copy embedded in the file, says how
to feed them); .pt checkpoints run through the deploy graph; .mlpackage runs only on macOS.
``--cam DIR`` (checkpoints only) also writes where each head looks (fgvc_mobile/cam.py).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="an exported artifact (.onnx, .tflite, .mlpackage) or a .pt checkpoint")
    p.add_argument("images", nargs="+", help="image files, folders (recursive) or glob patterns (quote them)")
    p.add_argument("--top-k", type=int, default=5, help="how many classes per image (default 5)")
    p.add_argument("--out", help="write the predictions to this .csv or .json file (default: listing on stdout)")
    p.add_argument("--format", dest="out_format", choices=["text", "csv", "json"],
                   help="output format (default: from --out's suffix, else text)")
    p.add_argument("--batch-size", type=int, default=32, help="images per inference batch (default 32)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--cam", metavar="DIR", help="also write, per image, a PNG of where each head looks (Grad-CAM "
                   "of the predicted class: RMG-PMSI's stage heads and rules) into DIR; .pt checkpoints only")


def run(args: argparse.Namespace) -> int:
    from fgvc_mobile.errors import FGVCError
    from fgvc_mobile.export.predict_batch import collect_inputs, output_format, predict_paths, render
    from fgvc_mobile.export.contract import preprocess_of
    from fgvc_mobile.export.runtime import load_artifact
    from fgvc_mobile.serialization import atomic_write_text

    if args.top_k < 1:
        raise FGVCError(f"--top-k {args.top_k}: must be at least 1")
    if args.batch_size < 1:
        raise FGVCError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.cam and not str(args.model).endswith(".pt"):
        raise FGVCError(f"--cam: {args.model} is an exported artifact, which keeps no gradients; pass the .pt "
                        "checkpoint it was exported from")
    fmt = output_format(args.out, args.out_format)
    paths, skipped = collect_inputs(args.images)
    manifest, predict = load_artifact(args.model)
    preds = predict_paths(paths, predict, preprocess_of(manifest), manifest["labels"], args.top_k,
                          args.batch_size, progress=not args.no_progress and sys.stderr.isatty(), skipped=skipped)
    if not preds.results:  # nothing to report: a one-line error naming the (first) unreadable file
        first = preds.skipped[0]["error"]
        n = len(preds.skipped)
        raise FGVCError(first if n == 1 else f"none of the {n} inputs could be read; first: {first}")
    text = render(preds, fmt, str(args.model))
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    if args.cam:
        from fgvc_mobile.cam import write_cams

        written = write_cams(args.model, [r["path"] for r in preds.results], args.cam)
        print(f"{len(written)} Grad-CAM panel(s) -> {args.cam}", file=sys.stderr)
    for s in preds.skipped:
        print(f"skipped: {s['error']}", file=sys.stderr)
    n = len(preds.results) + len(preds.skipped)
    if preds.skipped or args.out:
        where = f" -> {args.out}" if args.out else ""
        print(f"{len(preds.results)} of {n} image(s) predicted, {len(preds.skipped)} unreadable skipped{where}",
              file=sys.stderr)
    return 0
