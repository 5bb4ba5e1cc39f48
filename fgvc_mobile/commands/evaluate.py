"""``fgvc-mobile eval``: top-1/top-5 of every head and inference rule of a checkpoint."""

from __future__ import annotations

import argparse
import json

import torch
from torch.utils.data import DataLoader

from fgvc_mobile.data.dataset import ImageListDataset
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.data.transforms import EVAL_CROPS, eval_transform
from fgvc_mobile.data.validation import with_validation
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models.load import load_trained
from fgvc_mobile.train.engine import evaluate
from fgvc_mobile.models.load import describe
from fgvc_mobile.train.trainer import pick_device


def _int_in(lo: int, hi: int):
    """An argparse type: an integer in lo..hi (a usage error otherwise, not a DataLoader traceback)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {v}")
        return v

    return parse


def add_arguments(p) -> None:
    p.add_argument("--checkpoint", required=True, help="a best.pt / last.pt written by fgvc-mobile train")
    p.add_argument("--data", required=True, help="data set spec (same classes as the checkpoint)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="train and val are the checkpoint's own (val carved as in training)")
    p.add_argument("--crops", default="center", choices=list(EVAL_CROPS),
                   help="center: the deployed single crop; five: mean logits of the 4 corner + centre crops of the "
                        "resized image (an evaluation only: artifacts stay single-crop)")
    p.add_argument("--batch-size", type=_int_in(1, 1 << 20), default=64)
    p.add_argument("--workers", type=_int_in(0, 256), default=2)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.add_argument("--diagnostics", metavar="DIR", help="write per-class top-1, the confusion matrix (CSV, PNG) "
                   "and the top confused pairs of the deploy rule into DIR")


def run(args) -> int:
    trained = load_trained(args.checkpoint)
    model, meta = trained.model, trained.meta
    splits = load_splits(args.data)
    if args.split != "test":  # the same carve as training, so val is the split best.pt was selected on
        record = (meta.get("data") or {}).get("val_split") or {}
        splits, _ = with_validation(splits, record.get("fraction"), record.get("seed", 0))
    if list(splits.classes) != list(trained.labels):
        raise FGVCError(
            f"--data {args.data}: its {len(splits.classes)} classes differ from the checkpoint's {len(trained.labels)}"
        )
    device = pick_device(args.device)
    ds = ImageListDataset(splits.split(args.split), eval_transform(trained.preprocess, args.crops))
    metrics = evaluate(model.to(device), DataLoader(ds, batch_size=args.batch_size, num_workers=args.workers), device)
    selected = (meta.get("best") or {}).get("split", "test (a checkpoint from before validation splits)")
    crops = "" if args.crops == "center" else f", {args.crops} crops"
    print(f"{trained.method} on {args.data}: reporting the {args.split} split ({metrics['n_images']} images{crops}); "
          f"epoch selected on {selected}")
    print(f"started from: {describe(meta.get('pretrained'))}")
    print(f"{'head / rule':<16}{'top-1':>8}{'top-5':>8}")
    for k in sorted(k for k in metrics if k.startswith("top1/")):
        name = k[5:]
        print(f"{name:<16}{metrics[k]:8.2f}{metrics['top5/' + name]:8.2f}")
    if args.diagnostics:
        from fgvc_mobile.diagnostics import eval_diagnostics

        if args.crops != "center":  # the diagnostics describe the deployed model: one centre crop
            ds = ImageListDataset(splits.split(args.split), eval_transform(trained.preprocess))
        eval_diagnostics(model, DataLoader(ds, batch_size=args.batch_size, num_workers=args.workers), device,
                         list(trained.labels), args.diagnostics, title=f"{trained.method} {args.split}")
    if args.json:
        from fgvc_mobile.serialization import atomic_write_json

        atomic_write_json(args.json, {"checkpoint": args.checkpoint, "data": args.data, "split": args.split,
                                      "selected_on": selected, "crops": args.crops, **metrics})
    return 0
