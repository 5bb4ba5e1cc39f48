"""Latency across runtimes: MobileNetV2 baseline vs RMG-PMSI deploy graphs (benchmarks/results/latency_runtimes.md).

    python -m fgvc_mobile.studies.latency_table --data cub:PATH/CUB_200_2011 --weights PATH/mobilenet_v2.pth
    python -m fgvc_mobile.studies.latency_table --sizes 224          # one size
    python -m fgvc_mobile.studies.latency_table --quick              # 64 px, 3 runs: a pipeline check

Latency does not depend on trained weights, so each model is built untrained (the ImageNet
backbone where the weights file exists, random heads) and saved as a checkpoint. The exporter
(``export/pipeline.py``) writes ONNX and TFLite fp32 + int8 artifacts from it (int8 calibrated on
a few images, the accuracy gate waived) and ``bench.run_bench`` times every artifact and the
PyTorch eager checkpoint. The eager *deploy graph* (BN folded, only the rule's heads) is timed
here with the same ``latency.measure``. Accuracy of untrained models means nothing: the table
shows latency only. Each step is cached in ``--work``, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

import torch

from fgvc_mobile.benchmarks.bench import run_bench
from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.benchmarks.plots import latency_by_format
from fgvc_mobile.benchmarks.render import context_lines
from fgvc_mobile.benchmarks.report import load_report, make_row, new_report, save_report
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.formats import FORMATS
from fgvc_mobile.methods import get_method
from fgvc_mobile.models.backbone import load_pretrained
from fgvc_mobile.serialization import atomic_write_json, atomic_write_text
from fgvc_mobile.studies.results import command_of
from fgvc_mobile.studies.run import Run, current_export
from fgvc_mobile.train.checkpoint import save_checkpoint

log = logging.getLogger("fgvc_mobile.studies.latency_table")

#: key -> (method, --model options, deploy rule, label)
MODELS = {
    "baseline": ("baseline", {}, None, "MobileNetV2 baseline"),
    "rmg-pmsi": ("rmg-pmsi", {}, "concat", "RMG-PMSI (released heads)"),
    "rmg-pmsi-light": ("rmg-pmsi", {"preset": "light"}, "concat", "RMG-PMSI light preset"),
}
#: (runtime, format, precision, note) in the order the table shows them
RUNTIMES = (
    ("torch-eager", "pytorch-deploy", "fp32", "PyTorch eager, deploy graph"),
    ("torch-eager", "pytorch", "fp32", "PyTorch eager, checkpoint eval forward"),
    ("onnxruntime", "onnx", "fp32", "ONNX Runtime fp32"),
    ("onnxruntime", "onnx", "int8", "ONNX Runtime int8 (QDQ)"),
    ("litert", "tflite", "fp32", "LiteRT XNNPACK fp32"),
    ("litert", "tflite", "int8", "LiteRT XNNPACK int8"),
    ("coreml", "coreml", None, "CoreML"),
)
UNTRAINED = "untrained heads: accuracy not reported"


def default_data(num_classes: int) -> str:
    n = min(num_classes, 64)  # the synthetic set has at most 64 classes
    log.warning("no --data: calibrating and validating on the synthetic set with %d classes", n)
    return f"synthetic?num_classes={n}&train_per_class=1&test_per_class=1&size=64"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# ---- checkpoints without training --------------------------------------------------------------

def make_checkpoint(path: Path, key: str, size: int, classes: list[str], data_spec: str, weights: str | None) -> Path:
    """An untrained checkpoint loadable by ``load_trained`` (the fields ``fit`` writes that loaders use)."""
    if path.is_file():
        return path
    method, model_opts, _, _ = MODELS[key]
    recipe = get_method(method)
    kwargs = recipe.resolve_model_kwargs(model_opts)
    torch.manual_seed(0)
    model = recipe.build_model(len(classes), **kwargs)
    pretrained = load_pretrained(model.backbone, weights) if weights else None
    pre = PreprocessConfig.for_size(size)
    save_checkpoint(
        path, model=model.state_dict(), epoch=0, batches_done=0, method=method, arch=recipe.arch, model_kwargs=kwargs,
        classes=list(classes), preprocess=pre.to_dict(), pretrained=pretrained, history=[], best={},
        config={"method": method, "model": model_opts, "img_size": size, "data": data_spec, "epochs": 0,
                "note": "built untrained by studies/latency_table.py for latency measurements"},
        data={"spec": data_spec, "kind": data_spec.split(":")[0].split("?")[0]},
    )
    log.info("built %s (%s, %d classes, backbone %s)", path, method, len(classes), pretrained or "random")
    return path


# ---- export and bench, each cached -------------------------------------------------------------

def export(run: Run, out: Path, key: str, data_spec: str, args, command: str) -> bool:
    """Export unless ``out`` already holds this checkpoint's artifacts; True when it exported."""
    rule = MODELS[key][2] or run.loaded.default_rule
    fresh = args.force or current_export(out, run.loaded.sha256, rule, args.formats.split(","), args.val_images) is None
    run.export(out, args.formats, rule, data=data_spec, val_images=args.val_images, calib_images=args.calib_images,
               fresh=fresh, command=command)
    return fresh


def bench(dist: Path, out: Path, data_spec: str, args, command: str, fresh: bool) -> dict:
    """``run_bench`` on one export folder, reusing a report made with the same settings."""
    want = {"threads": args.threads, "runs": args.runs, "warmup": args.warmup, "limit": args.limit, "target": "cpu"}
    report_f = out / "report.json"
    if report_f.is_file() and not (fresh or args.force):
        report = load_report(report_f)
        timed = [r for r in report["results"] if r.get("latency_ms")]
        if all((report.get("settings") or {}).get(k) == v for k, v in want.items()) and \
                all(r.get("cpu_time_ms") for r in timed):  # reports from before CPU time was recorded
            log.info("reusing %s", report_f)
            return report
    return run_bench(dist, data_spec, out, threads=args.threads, runs=args.runs, warmup=args.warmup,
                     limit=args.limit, target="cpu", eval_batch=4, progress=False, command=command)


def eager_deploy_row(run: Run, key: str, size: int, args, cache: Path, fresh: bool) -> tuple[dict, dict]:
    """PyTorch eager timing of the exporter's DeployModel; returns (row, deploy complexity), cached."""
    want = {"threads": args.threads, "runs": args.runs, "warmup": args.warmup, "checkpoint": run.loaded.sha256,
            "version": 2}
    if cache.is_file() and not (fresh or args.force):
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("settings") == want:
            log.info("reusing %s", cache)
            return {**saved["row"], "graph": "deploy"}, saved["cost"]
    graph, lat = run.torch_latency(MODELS[key][2], args.threads, args.runs, args.warmup)
    cost = run.cost(graph)
    row = make_row(
        artifact=f"{key}@{size}/deploy graph", format="pytorch", precision="fp32", method=MODELS[key][0],
        target="host", runtime="torch-eager", delegate="cpu", threads=args.threads, batch=1, input_size=size,
        params=cost["deploy_params"], macs=cost["deploy_macs"],
        load_ms=lat.load_ms, first_inference_ms=lat.first_inference_ms, warmup_runs=lat.warmup_runs,
        runs=lat.runs, latency_ms=lat.latency_ms, cpu_time_ms=lat.cpu_time_ms, peak_rss_mb=lat.peak_rss_mb,
        rss_delta_mb=lat.rss_delta_mb,
        notes=f"deploy graph (BN folded, rule {graph.rule} heads only), float NCHW input",
    )
    row.update(graph="deploy", measured_at=_now())
    atomic_write_json(cache, {"settings": want, "row": row, "cost": cost})
    return row, cost


# ---- one table from every report ---------------------------------------------------------------

def tag(row: dict, key: str, size: int, cost: dict, measured_at: str | None = None) -> dict:
    """A run_bench row labelled with its model and size; artifacts get the deploy graph's params/MACs."""
    row = dict(row, model=key, model_label=MODELS[key][3], rule=MODELS[key][2] or "classifier")
    if measured_at:
        row["measured_at"] = measured_at
    if not row["artifact"].startswith(f"{key}@"):
        row["artifact"] = f"{key}@{size}/{row['artifact']}"
    if row["format"] in ("onnx", "tflite", "coreml"):
        row["params"], row["macs"] = cost["deploy_params"], cost["deploy_macs"]
    elif row["format"] == "pytorch" and row.get("graph") != "deploy":
        row["graph"] = "checkpoint"
        why = "checkpoint eval forward (all heads, BN unfolded), float NCHW input"
        row["notes"] = f"{why}; {row['notes']}" if row.get("notes") else why
    for k in ("accuracy", "agreement_with_reference", "top1_delta_vs_reference"):
        row[k] = None  # untrained weights: accuracy would mislead
    return row


def runtime_slot(row: dict) -> int:
    fmt = "pytorch-deploy" if row.get("graph") == "deploy" else row["format"]
    for i, (rt, f, prec, _) in enumerate(RUNTIMES):
        if f == fmt and (prec is None or prec == row.get("precision")):
            return i
    return len(RUNTIMES)


def _f(v, digits=1, scale=1.0) -> str:
    return "–" if v is None else f"{v * scale:.{digits}f}"


def _delta(r: dict) -> str:
    return "" if r.get("rss_delta_mb") is None else f" (+{r['rss_delta_mb']:.0f})"


def render(report: dict, sizes: list[int], extra: list[str]) -> str:
    rows = report["results"]
    lines = ["# Latency across runtimes: MobileNetV2 baseline vs RMG-PMSI deploy graphs", ""]
    lines += [f"- {c}" for c in context_lines(report)] + [f"- {e}" for e in extra]
    lines += ["", "## Deploy graphs", "", "| model | rule | input px | params (M) | MACs (G) | MACs vs baseline |",
              "|---|---|---:|---:|---:|---:|"]
    for size in sizes:
        costs = report["graphs"][str(size)]
        base = costs.get("baseline", {}).get("deploy_macs")
        for key, c in costs.items():
            ratio = f"{c['deploy_macs'] / base:.2f}x" if base else "–"
            lines.append(f"| {MODELS[key][3]} | {MODELS[key][2] or 'classifier'} | {size} | "
                         f"{c['deploy_params'] / 1e6:.2f} | {c['deploy_macs'] / 1e9:.3f} | {ratio} |")
    head = ("| model | runtime | precision | threads | artifact MB | load ms | first ms | p50 ms | p90 ms | p99 ms "
            "| mean ms | CPU p50 ms | CPU p50 vs baseline | peak RSS MB (+Δ) | params (M) | MACs (G) | note |")
    for size in sizes:
        lines += ["", f"## {size} px, batch 1", "", head, "|---|---|---|" + "---:|" * 13 + "---|"]
        sel = sorted((r for r in rows if r["input_size"] == size),
                     key=lambda r: (runtime_slot(r), list(MODELS).index(r["model"])))
        for r in sel:
            lat, cpu = r.get("latency_ms") or {}, r.get("cpu_time_ms") or {}
            slot = runtime_slot(r)
            base = next((b for b in sel if b["model"] == "baseline" and runtime_slot(b) == slot), None)
            bp50 = ((base or {}).get("cpu_time_ms") or {}).get("p50")
            vs = f"{cpu['p50'] / bp50:.2f}x" if cpu.get("p50") and bp50 else "–"
            name = RUNTIMES[slot][3] if slot < len(RUNTIMES) else r["runtime"]
            note = f"skipped: {r['skipped_reason']}" if r.get("skipped_reason") else ""
            lines.append(
                f"| {r['model_label']} | {name} | {r.get('precision') or '–'} | {_f(r.get('threads'), 0)} | "
                f"{_f(r.get('size_bytes'), 2, 1 / 2**20)} | {_f(r.get('load_ms'))} | "
                f"{_f(r.get('first_inference_ms'))} | {_f(lat.get('p50'), 2)} | {_f(lat.get('p90'), 2)} | "
                f"{_f(lat.get('p99'), 2)} | {_f(lat.get('mean'), 2)} | {_f(cpu.get('p50'), 2)} | {vs} | "
                f"{_f(r.get('peak_rss_mb'))}{_delta(r)} | {_f(r.get('params'), 2, 1e-6)} | "
                f"{_f(r.get('macs'), 3, 1e-9)} | {note.replace('|', '/')} |")
    lines += ["", "p50/p90/p99/mean are wall time per run (`perf_counter_ns`); CPU p50 is the process CPU time of "
              "the same runs (`process_time_ns`, all threads), which at 1 thread is the compute time: on this shared, "
              "niced machine wall time mostly measures waiting for a core, so compare models by the CPU column. "
              "PyTorch eager, deploy graph: the exporter's DeployModel (BN folded, only the rule's heads); "
              "checkpoint eval forward: the training model as saved (all heads computed, BN unfolded). "
              "Artifacts take uint8 NHWC crops (normalisation inside the graph); the PyTorch rows take float "
              "NCHW. Params/MACs of artifact rows are the deploy graph's; the checkpoint row counts the training "
              "graph it runs (all heads). Peak RSS is the harness process's peak (it holds torch, ~0.7 GB) while "
              "loading and timing that model, (+Δ) its growth over the RSS before loading. Load ms for the deploy "
              "graph is building it from the loaded model (BN folding, pruning check). The machine is shared: "
              "compare rows as ratios.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", help="input sizes (default 224 448; 64 with --quick)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--runs", type=int, help="timed runs per row (default 30; 3 with --quick)")
    p.add_argument("--warmup", type=int, help="untimed runs before timing (default 5; 1 with --quick)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of every runtime (default 1)")
    p.add_argument("--num-classes", type=int, default=100, help="classes when --data is not given (cub100: 100)")
    p.add_argument("--data", help="data set for calibration/validation images, e.g. cub:PATH/CUB_200_2011 "
                                  "(default: a small synthetic set)")
    p.add_argument("--weights", default="none", help="ImageNet MobileNetV2 state_dict (default none: random)")
    p.add_argument("--work", help="cache folder (default runs/latency, runs/latency-quick with --quick)")
    p.add_argument("--out", help="results path without suffix (default benchmarks/results/latency_runtimes)")
    p.add_argument("--limit", type=int, default=4, help="test images run_bench scores per artifact (unused)")
    p.add_argument("--val-images", type=int, default=8, help="images the export validates on")
    p.add_argument("--calib-images", type=int, default=8, help="int8 calibration images")
    p.add_argument("--coreml", action="store_true", default=sys.platform == "darwin",
                   help="also export and time CoreML (default on macOS only)")
    p.add_argument("--force", action="store_true", help="rebuild artifacts and re-measure everything")
    p.add_argument("--quick", action="store_true", help="64 px, 3 runs: proves the pipeline, not a measurement")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("fgvc_mobile.export", "fgvc_mobile.studies"):
        logging.getLogger(name).setLevel(logging.INFO)

    sizes = args.sizes or ([64] if args.quick else [224, 448])
    args.runs = args.runs or (3 if args.quick else 30)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    args.formats = "onnx,tflite" + (",coreml" if args.coreml else "")
    work = Path(args.work or ("runs/latency-quick" if args.quick else "runs/latency"))
    out = Path(args.out or (work / "latency_runtimes" if args.quick else "benchmarks/results/latency_runtimes"))
    if args.weights != "none" and not Path(args.weights).is_file():
        p.error(f"--weights {args.weights}: no such file")
    weights = None if args.weights == "none" else args.weights
    data_spec = args.data or default_data(args.num_classes)
    command = command_of("latency_table", argv)
    torch.set_num_threads(args.threads)
    load_before, started = os.getloadavg(), _now()

    try:
        classes = list(load_splits(data_spec).classes)
        rows, graphs = [], {}
        for size in sizes:
            graphs[str(size)] = {}
            for key in args.models:
                folder = work / f"{key}-{size}px-c{len(classes)}"
                log.info("== %s at %d px", key, size)
                run = Run(folder, "checkpoint.pt")
                make_checkpoint(folder / run.checkpoint, key, size, classes, data_spec, weights)
                exported = export(run, folder / "dist", key, data_spec, args, command)
                deploy_row, cost = eager_deploy_row(run, key, size, args, folder / "eager_deploy.json", exported)
                graphs[str(size)][key] = cost
                report = bench(folder / "dist", folder / "bench", data_spec, args, command, fresh=exported)
                rows.append(tag(deploy_row, key, size, cost))
                rows += [tag(r, key, size, cost, report.get("created")) for r in report["results"]]
                if not args.coreml:
                    why = FORMATS["coreml"].unavailable_reason() or "not exported (pass --coreml)"
                    rows.append(tag(make_row(artifact=f"{key}@{size}/model.mlpackage", format="coreml", target="host",
                                             runtime="coreml", input_size=size, threads=args.threads,
                                             skipped_reason=why), key, size, cost))
    except FGVCError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    machine = {**describe_host(args.threads), "load_average_1_5_15": {"start": list(load_before),
                                                                       "end": list(os.getloadavg())}}
    settings = {"target": "cpu", "threads": args.threads, "runs": args.runs, "warmup": args.warmup, "batch": 1,
                "sizes": sizes, "models": args.models, "formats": args.formats}
    report = new_report(machine, rows, settings=settings, command=command, tool="studies/latency_table.py",
                        calibration_data={"spec": data_spec, "n_classes": len(classes), "images": args.calib_images},
                        graphs=graphs, weights="ImageNet backbone, random heads" if weights else "random")
    extra = [f"Load average (1/5/15 min) when this command started "
             f"{', '.join(f'{v:.1f}' for v in load_before)}, at end "
             f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} on {machine.get('cores')} cores.",
             f"Weights: {report['weights']} ({UNTRAINED}); {len(classes)} classes; int8 calibrated on "
             f"{args.calib_images} training images of `{data_spec}`."]
    stamps = sorted(r["measured_at"] for r in rows if r.get("measured_at"))
    if stamps:
        cached = sum(s < started for s in stamps)
        extra.append(f"Measured between {stamps[0]} and {stamps[-1]} UTC; {cached} of {len(stamps)} timed rows were "
                     f"measured by an earlier run of this command (cached in `{work}`; --force re-measures).")
    missing = [s for s in (224, 448) if s not in sizes]
    if missing and not args.quick:
        extra.append(f"Not measured in this run: {', '.join(map(str, missing))} px (too slow for this shared machine); "
                     f"for them: `python -m fgvc_mobile.studies.latency_table --sizes 224 448`.")
    extra.append(f"Plots: `{out.name}.png` per-run CPU time (p50 bar, line to p90), `{out.name}_wall.png` wall time.")
    if args.quick:
        extra.append("--quick: a pipeline check, not a measurement.")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_report(report, f"{out}.json")
    atomic_write_text(f"{out}.md", render(report, sizes, extra))
    timed = [r for r in rows if r.get("latency_ms")]
    latency_by_format([dict(r, latency_ms=r["cpu_time_ms"]) for r in timed if r.get("cpu_time_ms")], f"{out}.png")
    latency_by_format(timed, f"{out}_wall.png")
    print(f"wrote {out}.md, {out}.json, {out}.png (CPU time), {out}_wall.png (wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
