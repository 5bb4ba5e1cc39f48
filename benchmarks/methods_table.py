"""Every method on cub100 at one CPU-feasible setting and equal epochs: one table, one command.

    python -m fgvc_mobile.benchmarks.methods_table                 # writes benchmarks/results/cub100_methods.md
    python -m fgvc_mobile.benchmarks.methods_table --quick         # tiny subset, 1 epoch: proves the pipeline

Each method trains into RUNS/<method> (a finished run is reused, a partial one resumed). The table
reports, per method: top-1 of the deploy rule (and the other rules) at the best epoch, top-1 of the
int8 TFLite export on the test split (when ``fgvc_mobile.export`` is installed and can convert the
model), parameters and MACs of the deploy graph at batch 1, and PyTorch CPU latency at batch 1.
CMAL-Net deploys as two passes (raw image, then the attention crop) inside one graph: its MACs,
latency and int8 export are those of both passes and the crop between them.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import get_method
from fgvc_mobile.models.complexity import count_macs, count_params
from fgvc_mobile.models.load import load_trained, read_checkpoint, reported_metrics
from fgvc_mobile.serialization import atomic_write_json, atomic_write_text
from fgvc_mobile.train.config import TrainConfig, load_config
from fgvc_mobile.train.trainer import fit

log = logging.getLogger("fgvc_mobile.benchmarks.methods_table")

METHODS = ("baseline", "rmg-pmsi", "pmg", "cmal", "elope", "db-gce")

#: the one setting every method trains with: configs/cub100_cpu.yaml, the same file the
#: baseline-vs-RMG-PMSI table uses (so their runs can be shared); --config picks another
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cub100_cpu.yaml"
SETTING: dict = {}
#: --quick: a few images, one epoch, small inputs; proves every stage runs, measures nothing
QUICK = dict(img_size=64, resize=72, epochs=1, batch_size=8, limit_train=32, limit_test=24, freeze_backbone_epochs=0, workers=0)


def setting(args) -> dict:
    """Training options: built-in SETTING < --config YAML < QUICK (--quick) < explicit flags."""
    merged = dict(SETTING)
    if args.config:  # only the keys the YAML sets (load_config validates them)
        load_config(args.config, {})
        merged.update({k.replace("-", "_"): v for k, v in (yaml.safe_load(Path(args.config).read_text()) or {}).items()})
    if args.quick:
        merged.update(QUICK)
    merged.update({k: v for k, v in (("data", args.data), ("pretrained", args.pretrained)) if v is not None})
    if not merged.get("data"):
        raise FGVCError("--data: no data set given (nor in --config)")
    if args.epochs:
        merged["epochs"] = args.epochs
    return merged


def train_or_reuse(method: str, run: Path, options: dict) -> Path:
    """Train ``method`` into ``run``; reuse a finished run, resume a partial one."""
    cfg = TrainConfig.from_dict({**options, "method": method, "out": str(run)})
    last = run / "last.pt"
    if last.exists():
        if read_checkpoint(last)["epoch"] >= cfg.epochs:
            return run
        cfg = TrainConfig.from_dict({**cfg.to_dict(), "resume": str(last)})
    fit(cfg, show_progress=False)
    return run


def cpu_latency_ms(module: torch.nn.Module, size: int, threads: int, reps: int, warmup: int = 3) -> float:
    """Median process CPU time of one batch-1 forward with ``threads`` intra-op threads.

    CPU time, not wall time: on a shared machine wall time mostly measures waiting for a core
    (see benchmarks/results/latency_runtimes.md); with one thread CPU time is the compute latency.
    """
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = torch.randn(1, 3, size, size)
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + reps):
                t0 = time.process_time()
                module(x)
                if i >= warmup:
                    times.append((time.process_time() - t0) * 1e3)
    finally:
        torch.set_num_threads(prev)
    return statistics.median(times)


def deploy_graph(model: torch.nn.Module, size: int) -> tuple[torch.nn.Module, str]:
    """The graph a phone would run: the exporter's ``DeployModel`` when the exporter is installed.

    CMAL-Net's graph holds both passes and the crop between them, so its MACs and latency are
    those of the whole two-pass pipeline.
    """
    try:
        from fgvc_mobile.export.deploy import DeployModel
    except ImportError:
        return model, "eval forward (exporter not installed)"
    return DeployModel(model, input_size=size), "export DeployModel"


def int8_tflite_top1(ckpt: Path, sha256: str, rule: str, out: Path, data: str, val_images: int, calib_images: int,
                     fresh: bool = False) -> tuple[float | None, str]:
    """Top-1 of the int8 TFLite artifact via the exporter's Python API, or (None, why not).

    An export already in ``out`` from the checkpoint with this ``sha256`` and ``rule``, validated
    on as many images, is reused (``fresh`` re-exports).
    """
    from fgvc_mobile.benchmarks.manifests import existing_int8_tflite

    art = None if fresh else existing_int8_tflite(out, sha256, rule, val_images)
    if art is not None:
        v = art["validation"]
        return v["top1"], f"fp32 reference {v['reference_top1']:.2f} on {v['images']}"
    try:
        from fgvc_mobile.export.pipeline import ExportRequest, run_export
    except ImportError as e:
        return None, f"exporter not installed ({e.name})"
    req = ExportRequest(
        checkpoint=str(ckpt), out=str(out), format="tflite", int8=True, val_data=data, val_images=val_images,
        calib_data=data, calib_images=calib_images, accept_drop=True, command="methods_table",
    )
    try:
        result = run_export(req, echo=log.info)
    except Exception as e:  # an unconvertible op, a 2-pass model, ...: reported in the table, not fatal
        return None, f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}"
    for a in result.artifacts:
        if a.get("format") == "tflite" and a.get("precision") == "int8":
            v = a["validation"]
            return v["top1"], f"fp32 reference {v['reference_top1']:.2f} on {v['images']}"
    return None, "no int8 tflite artifact produced"


def summarize(method: str, run: Path, args, data: str) -> dict:
    ckpt, recipe = run / "best.pt", get_method(method)
    loaded = load_trained(ckpt)
    model, meta = loaded.model, loaded.meta
    size = meta["preprocess"]["input_size"]
    best_epoch = meta["best"]["epoch"]
    row, selected_on = reported_metrics(meta)
    graph, how = deploy_graph(model, size)
    trained = [h for h in meta["history"] if "train_seconds" in h]
    out = {
        "method": method,
        "rule": model.default_rule,
        "passes": model.backbone_passes(model.default_rule),
        "top1": row[f"top1/{model.default_rule}"],
        "other_rules": {r: row[f"top1/{r}"] for r in model.inference_rules if r != model.default_rule},
        "best_epoch": best_epoch,
        "epochs": len(meta["history"]),
        "n_test": row["n_images"],
        "selected_on": selected_on,
        "params": count_params(graph),
        "macs": count_macs(graph, size),
        "graph": how,
        "latency_ms": cpu_latency_ms(graph, size, args.threads, args.reps),
        "seconds_per_epoch": sum(h["train_seconds"] for h in trained) / max(1, len(trained)),
        "steps_per_batch": len(recipe.step_names(recipe.resolve_options(meta["config"]["method_options"]))),
        "config": meta["config"],
    }
    out["int8_top1"], out["int8_note"] = (None, "skipped (--no-export)")
    if not args.no_export:
        out["int8_top1"], out["int8_note"] = int8_tflite_top1(
            ckpt, meta["sha256"], model.default_rule, run / "export", data, args.val_images, args.calib_images, args.fresh_exports
        )
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
    lines += ["", "| method | best epoch | steps / batch | train s / epoch | deploy graph measured | int8 note |",
              "|---|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['best_epoch']}/{r['epochs']} | {r['steps_per_batch']} | {r['seconds_per_epoch']:.0f} | "
            f"{r['graph']} | {r['int8_note'] or '-'} |"
        )
    missing = [m for m in METHODS if m not in {r["method"] for r in rows}]
    if missing:
        lines += [
            "",
            f"Not in this table: {', '.join(missing)} (left out with --methods; "
            "`python -m fgvc_mobile.benchmarks.methods_table` trains and measures all six).",
        ]
    lines += [
        "",
        "The int8 TFLite top-1 is measured on the export's validation subset (see the int8 note for the fp32",
        "top-1 on the same images); fp32 top-1 is on the whole test split.",
        "",
        "Notes: top-1 is on the test split at the epoch with the best deploy-rule top-1. Training time counts every",
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
        run = train_or_reuse(method, runs / method, options)
        rows.append(summarize(method, run, args, options["data"]))
    command = "python -m fgvc_mobile.benchmarks.methods_table " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    machine = describe_host(threads=args.threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(f"{out}.md", render(rows, command.strip(), machine, args.threads))
    atomic_write_json(f"{out}.json", {"command": command.strip(), "machine": machine, "results": rows})
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
