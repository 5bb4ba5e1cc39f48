"""``fgvc-mobile predict``: top-k labels for images from any artifact or checkpoint.

    fgvc-mobile predict --model dist/model_int8.tflite bird1.jpg bird2.jpg --top-k 5

.onnx and .tflite run anywhere (their manifest, or the copy embedded in the file, says how to
feed them); .pt checkpoints run through the deploy graph; .mlpackage runs only on macOS.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="an exported artifact (.onnx, .tflite, .mlpackage) or a .pt checkpoint")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--top-k", type=int, default=5, help="how many classes to print per image (default 5)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from fgvc_mobile.errors import FGVCError
    from fgvc_mobile.export.runtime import decode, load_artifact, preprocess_of

    if args.top_k < 1:
        raise FGVCError(f"--top-k {args.top_k}: must be at least 1")
    manifest, predict = load_artifact(args.model)
    labels = manifest["labels"]
    images = decode(args.images, preprocess_of(manifest))
    probs = predict(images)
    k = min(args.top_k, len(labels))
    for path, row in zip(args.images, probs):
        print(path)
        for rank, c in enumerate(np.argsort(-row, kind="stable")[:k], 1):
            print(f"  {rank}. {labels[c]:<30} {row[c] * 100:6.2f}%")
    return 0
