"""Every method on cub100 at one CPU-feasible setting and equal epochs: one table, one command.

    python -m fgvc_mobile.studies.methods_table                 # writes benchmarks/results/cub100_methods.md
    python -m fgvc_mobile.studies.methods_table --quick         # tiny subset, 1 epoch: proves the pipeline

Each method trains into RUNS/<method> (a finished run is reused, a partial one resumed). The table
reports, per method: top-1 of the deploy rule (and the other rules) at the best epoch, top-1 of the
int8 TFLite export on the test split, parameters and MACs of the deploy graph at batch 1, and
PyTorch CPU time at batch 1. CMAL-Net deploys as two passes (raw image, then the attention crop)
inside one graph: its MACs, latency and int8 export are those of both passes and the crop between
them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.methods import get_method
from fgvc_mobile.studies.results import command_of, write_results
from fgvc_mobile.studies.run import Run
from fgvc_mobile.train.config import load_config

log = logging.getLogger("fgvc_mobile.studies.methods_table")

METHODS = ("baseline", "rmg-pmsi", "pmg", "cmal", "elope", "db-gce")

#: the one setting every method trains with: configs/cub100_cpu.yaml, the same file the
#: baseline-vs-RMG-PMSI table uses (so their runs can be shared); --config picks another
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cub100_cpu.yaml"
#: --quick: a few images, one epoch, small inputs; proves every stage runs, measures nothing
QUICK = dict(img_size=64, resize=72, epochs=1, batch_size=8, limit_train=32, limit_test=24, freeze_backbone_epochs=0, workers=0)


def setting(args) -> dict:
    """Training options: --config YAML < QUICK (--quick) < explicit flags."""
    return load_config(args.config, {**(QUICK if args.quick else {}), "data": args.data,
                                     "pretrained": args.pretrained, "epochs": args.epochs}).to_dict()


def summarize(method: str, run: Run, args, data: str) -> dict:
    """One row: the run's reported top-1 per rule, its deploy graph's cost and CPU time, its int8 TFLite top-1."""
    loaded, recipe = run.loaded, get_method(method)
    meta, model, rule = loaded.meta, loaded.model, loaded.default_rule
    row, selected_on = loaded.reported_metrics()
    graph, lat = run.torch_latency(rule, args.threads, args.reps, warmup=3)
    cost = run.cost(graph)
    trained = [h for h in meta["history"] if "train_seconds" in h]
    out = {
        "method": method, "rule": rule, "passes": model.backbone_passes(rule), "top1": row[f"top1/{rule}"],
        "other_rules": {r: row[f"top1/{r}"] for r in loaded.rules if r != rule},
        "best_epoch": meta["best"]["epoch"], "epochs": len(meta["history"]), "n_test": row["n_images"],
        "selected_on": selected_on, "params": cost["deploy_params"], "macs": cost["deploy_macs"],
        # CPU time, not wall time: on a shared machine wall time mostly measures waiting for a core
        # (see benchmarks/results/latency_runtimes.md); with one thread CPU time is the compute latency
        "latency_ms": lat.cpu_time_ms["p50"],
        "seconds_per_epoch": sum(h["train_seconds"] for h in trained) / max(1, len(trained)),
        "steps_per_batch": len(recipe.step_names(recipe.resolve_options(meta["config"]["method_options"]))),
        "config": meta["config"], "int8_top1": None, "int8_note": "skipped (--no-export)",
    }
    if not args.no_export:
        art = run.int8_tflite(run.folder / "export", rule, data=data, val_images=args.val_images,
                              calib_images=args.calib_images, fresh=args.fresh_exports, command="methods_table")
        v = art.get("validation") or {}
        out["int8_top1"] = v.get("top1")
        out["int8_note"] = art.get("note") or f"fp32 reference {v['reference_top1']:.2f} on {v['images']}"
    return out


def render(rows: list[dict], command: str, machine: dict, threads: int) -> str:
    cfg = rows[0]["config"]
    lines = [
        "# cub100: every method on MobileNetV2 (ImageNet-pretrained), one setting, equal epochs",
        "",
        f"Command: `{command}`",
        "",
        f"Setting (same for all): {cfg['img_size']} px (resize {cfg['resize']}), {cfg['epochs']} epochs, batch "
        f"{cfg['batch_size']}, SGD lr {cfg['lr']} backbone / x{cfg['head_lr_mult']} new modules, cosine, backbone "
        f"frozen {cfg['freeze_backbone_epochs']} epoch(s), seed {cfg['seed']}; each method's default model and "
        f"options. Best epoch selected on the {'/'.join(sorted({r.get('selected_on', 'test') for r in rows}))} "
        f"split; test split: {rows[0]['n_test']} images"
        + (f" (first {cfg['limit_test']})" if cfg.get("limit_test") else "") + ".",
        "",
        f"Machine: {machine.get('cpu_model')} ({machine.get('cores')} cores), torch {machine['libraries'].get('torch')}; "
        f"CPU time = median process CPU time of one PyTorch fp32 forward at batch 1, {threads} thread(s) (wall time on this shared machine mostly measures waiting for a core).",
        "",
        "| method | deploy rule | top-1 fp32 % | top-1 int8 TFLite % | params (M) | MACs (G) | CPU time / image (ms) | passes | other rules (top-1 %) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        int8 = f"{r['int8_top1']:.2f}" if r["int8_top1"] is not None else "n/a"
        others = ", ".join(f"{k} {v:.2f}" for k, v in r["other_rules"].items()) or "-"
        lines.append(
            f"| {r['method']} | {r['rule']} | {r['top1']:.2f} | {int8} | {r['params'] / 1e6:.2f} | "
            f"{r['macs'] / 1e9:.3f} | {r['latency_ms']:.1f} | {r['passes']} | {others} |"
        )
    lines += ["", "| method | best epoch | steps / batch | train s / epoch | int8 note |", "|---|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['best_epoch']}/{r['epochs']} | {r['steps_per_batch']} | {r['seconds_per_epoch']:.0f} | "
            f"{r['int8_note'] or '-'} |"
        )
    missing = [m for m in METHODS if m not in {r["method"] for r in rows}]
    if missing:
        lines += [
            "",
            f"Not in this table: {', '.join(missing)} (left out with --methods; "
            "`python -m fgvc_mobile.studies.methods_table` trains and measures all six).",
        ]
    lines += [
        "",
        "The int8 TFLite top-1 is measured on the export's validation subset (see the int8 note for the fp32",
        "top-1 on the same images); fp32 top-1 is on the whole test split.",
        "",
        "Notes: top-1 is on the test split, evaluated once on the epoch selected as stated above. Training time counts every",
        "step of a batch (RMG-PMSI/PMG 4, CMAL-Net 5, ELoPE 2 forward/backward passes). CMAL-Net's deploy rule fuses",
        "the raw image and its attention crop: two backbone passes in one exported graph (`passes` = 2; its MACs, latency and int8",
        "TFLite cover both). ELoPE crops before the backbone inside one graph (one pass).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML of training options (default: %(default)s)")
    p.add_argument("--data", help="data set spec (default: the --config's data)")
    p.add_argument("--pretrained", help="what every method starts from (default: the --config's, else imagenet)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--epochs", type=int, help="override the setting's epochs (the same for every method)")
    p.add_argument("--runs", help="run folder (default runs/methods, or runs/methods-quick with --quick)")
    p.add_argument("--out", help="table path without suffix (default benchmarks/results/cub100_methods)")
    p.add_argument("--quick", action="store_true", help="tiny subset, 1 epoch, 64 px: a check, not a measurement")
    p.add_argument("--no-export", action="store_true", help="skip the int8 TFLite column")
    p.add_argument("--fresh-exports", action="store_true", help="re-export even where RUN/export is current")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the latency column")
    p.add_argument("--reps", type=int, help="timed forwards per model (default 30, 3 with --quick)")
    p.add_argument("--val-images", type=int, help="test images for the int8 top-1 (default 0 = all; 16 with --quick)")
    p.add_argument("--calib-images", type=int, help="training images for int8 calibration (default 100; 8 with --quick)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    options = setting(args)
    runs = Path(args.runs or ("runs/methods-quick" if args.quick else "runs/methods"))
    out = Path(args.out or (runs / "cub100_methods_quick" if args.quick else "benchmarks/results/cub100_methods"))
    args.reps = args.reps or (3 if args.quick else 30)
    args.val_images = args.val_images if args.val_images is not None else (16 if args.quick else 0)
    args.calib_images = args.calib_images or (8 if args.quick else 100)

    rows = []
    for method in args.methods:
        log.info("== %s", method)
        run = Run.train({**options, "method": method, "out": str(runs / method)})
        rows.append(summarize(method, run, args, options["data"]))
    command, machine = command_of("methods_table", argv), describe_host(threads=args.threads)
    write_results(out, render(rows, command, machine, args.threads), {"command": command, "machine": machine,
                                                                     "results": rows})
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
