"""Do a recipe's losses stay finite and fall? Per-step epoch-mean losses of short real-data runs.

    python -m fgvc_mobile.studies.recipe_stability --data cub:PATH/CUB_200_2011 \
        --pretrained PATH/mobilenet_v2_imagenet.pth \
        --variant cmal-linear=cmal:'{"classifier": "linear"}' --variant cmal-release=cmal:'{"classifier": "release"}'

Each variant trains 2 epochs at 128 px on the first --limit-train training images (about five
cub100 classes; the classifier keeps all classes) with the cub100 CPU setting (SGD, backbone lr
1e-3, new modules x10), in RUNS_DIR/NAME (a finished run is reused). Writes
benchmarks/results/recipe_stability.md + .json: each step's mean loss per epoch and ln(C), the
loss of a uniform guess.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.models.load import read_checkpoint
from fgvc_mobile.studies.results import command_of, write_results
from fgvc_mobile.studies.run import Run


def train_variant(name: str, method: str, model: dict, args) -> list[dict]:
    """The per-epoch history of one variant's run: trained (or resumed) first unless --no-train."""
    out = Path(args.runs_dir) / name
    if not args.no_train:
        Run.train(dict(data=args.data, method=method, out=str(out), pretrained=args.pretrained, img_size=128,
                       resize=146, epochs=args.epochs, batch_size=16, lr=1e-3, head_lr_mult=10.0, workers=0,
                       limit_train=args.limit_train, limit_test=64, val_split=0.2, model=model), show_progress=True)
    last = out / "last.pt"
    return read_checkpoint(last)["history"] if last.is_file() else []  # with --no-train: the epochs it finished


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--pretrained", required=True)
    p.add_argument("--variant", action="append", required=True, metavar="NAME=METHOD:JSON",
                   help="a run: name, method and its --model options as JSON")
    p.add_argument("--limit-train", type=int, default=150)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--runs-dir", default="runs/recipe-stability")
    p.add_argument("--no-train", action="store_true", help="report the epochs existing runs finished; train none")
    p.add_argument("--num-classes", type=int, default=100, help="for ln(C) in the table")
    p.add_argument("--out", default="benchmarks/results/recipe_stability")
    args = p.parse_args(argv)
    rows = []
    for text in args.variant:
        name, _, rest = text.partition("=")
        method, _, model = rest.partition(":")
        history = train_variant(name, method, json.loads(model or "{}"), args)
        for h in history:
            rows.append({"variant": name, "method": method, "model": json.loads(model or "{}"), "epoch": h["epoch"],
                         "losses": {k[5:]: v for k, v in h.items() if k.startswith("loss/") and k != "loss/total"}})
    command = command_of("recipe_stability", argv)
    machine = describe_host(threads=None)
    steps = sorted({s for r in rows for s in r["losses"]}, key=lambda s: (s == "attention", s == "concat", s))
    lines = ["# Short real-data runs: do the losses stay finite and fall?", "", f"Command: `{command}`", "",
             f"Machine: {machine['cpu_model']} ({machine['cores']} cores). {args.epochs} epochs, 128 px, first "
             f"{args.limit_train} cub100 training images, SGD backbone lr 1e-3, new modules x10. Mean loss per step "
             f"and epoch; a uniform guess scores ln({args.num_classes}) = {math.log(args.num_classes):.2f} per "
             "cross-entropy (CMAL's `attention` step sums four).", "",
             "| variant | epoch | " + " | ".join(steps) + " |", "|---|---:|" + "---:|" * len(steps)]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['epoch']} | " + " | ".join(
            f"{r['losses'][s]:.2f}" if s in r["losses"] else "-" for s in steps) + " |")
    write_results(args.out, lines, {"command": command, "machine": machine, "rows": rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
