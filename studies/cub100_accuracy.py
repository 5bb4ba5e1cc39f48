"""Accuracy of baseline vs RMG-PMSI on cub100: trains both (or resumes/reuses their runs) at one
setting and writes benchmarks/results/cub100_accuracy.{md,json}.

    python -m fgvc_mobile.studies.cub100_accuracy --config configs/cub100_cpu.yaml --runs runs

Each method trains into RUNS/cub100-<method>; a finished run is reused, a partial one resumed.
Top-1/top-5 per head are the test metrics the run recorded for its best.pt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.studies.results import command_of, write_results
from fgvc_mobile.studies.run import Run
from fgvc_mobile.train.config import load_config

HEADS = ("classifier", "aux_stage1", "aux_stage2", "aux_stage3", "concat", "combined")


def summarize(run: Run) -> dict:
    meta = run.loaded.meta
    metrics, selected_on = run.loaded.reported_metrics()
    train_rows = [h for h in meta["history"] if "train_seconds" in h]
    return {
        "method": meta["method"],
        "run": str(run.folder),
        "best_epoch": meta["best"]["epoch"],
        "selected_on": selected_on,
        "epochs": len(meta["history"]),
        "metrics": metrics,
        "seconds_per_epoch": sum(h["train_seconds"] for h in train_rows) / max(1, len(train_rows)),
        "train_images_per_s": sum(h["train_images_per_s"] for h in train_rows) / max(1, len(train_rows)),
        "config": meta["config"],
    }


def render(rows: list[dict], command: str, machine: dict) -> str:
    lines = [
        "# cub100: baseline vs RMG-PMSI (MobileNetV2, ImageNet-pretrained)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine.get('cpu_model')} ({machine.get('cores')} cores), torch {machine['libraries'].get('torch')}"
        + (f", GPU {machine['gpu']}" if machine.get("gpu") else ", no GPU"),
        "",
    ]
    cfg = rows[0]["config"]
    lines += [
        f"Setting (same for both): {cfg['img_size']} px (resize {cfg['resize']}), {cfg['epochs']} epochs, batch "
        f"{cfg['batch_size']}, SGD lr {cfg['lr']} backbone / x{cfg['head_lr_mult']} heads, cosine, backbone frozen "
        f"{cfg['freeze_backbone_epochs']} epoch(s), seed {cfg['seed']}. Test split: {rows[0]['metrics']['n_images']} images; best epoch selected on the {rows[0]['selected_on']} split.",
        "",
        "| method | head / rule | top-1 % | top-5 % |",
        "|---|---|---:|---:|",
    ]
    for r in rows:
        m = r["metrics"]
        for h in HEADS:
            if f"top1/{h}" in m:
                lines.append(f"| {r['method']} | {h} | {m[f'top1/{h}']:.2f} | {m[f'top5/{h}']:.2f} |")
    lines += ["", "| method | best epoch | s / epoch | train images / s |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['best_epoch']}/{r['epochs']} | {r['seconds_per_epoch']:.0f} | {r['train_images_per_s']:.1f} |"
        )
    lines += [
        "",
        "Training throughput counts every phase (RMG-PMSI does 4 forward/backward passes per batch). The",
        "machine is shared, so throughput figures are indicative; compare methods as a ratio.",
        "",
    ]
    if not machine.get("gpu"):
        lines += [
            "The paper's setting (448 px, 150 epochs: `configs/cub_rmg_pmsi.yaml`) needs a GPU; none was",
            "available for this run, so it is not reported here.",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/cub100_cpu.yaml")
    p.add_argument("--runs", default="runs")
    p.add_argument("--data", help="data set spec (default: the --config's data)")
    p.add_argument("--pretrained", help="what both methods start from (default: the --config's, else imagenet)")
    p.add_argument("--methods", nargs="+", default=["baseline", "rmg-pmsi"])
    p.add_argument("--out", default="benchmarks/results/cub100_accuracy")
    args = p.parse_args(argv)
    options = load_config(args.config, {"data": args.data, "pretrained": args.pretrained}).to_dict()
    rows = [summarize(Run.train({**options, "method": m, "out": str(Path(args.runs) / f"cub100-{m}")},
                                show_progress=True)) for m in args.methods]
    command, machine = command_of("cub100_accuracy", argv), describe_host(threads=None)
    write_results(args.out, render(rows, command, machine), {"command": command, "machine": machine, "results": rows})
    print(f"wrote {args.out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
