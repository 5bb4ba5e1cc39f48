"""Accuracy against deploy cost: baseline, RMG-PMSI (concat, combined), lighter heads, distilled student.

    python -m fgvc_mobile.studies.pareto RUN [RUN ...] [--doc docs/deploy_cost.md]
    python -m fgvc_mobile.studies.pareto --quick       # tiny synthetic runs, 1 epoch: proves the pipeline

RUN is a run folder of ``fgvc-mobile train`` (its best.pt), optionally ``LABEL=FOLDER``. For every
run and every inference rule of its model the table gives: top-1 on the test split as evaluated by
training at the best epoch; params and MACs of the deploy graph (the exporter's DeployModel: unused
heads pruned, BatchNorm folded) at the checkpoint's input size, and the MACs as a multiple of
MobileNetV2's; PyTorch fp32 CPU latency of that graph; LiteRT (XNNPACK) latency and top-1 of its int8
TFLite export (exporter's Python API; the top-1 is its validation on the test split). Latencies are
batch 1, the median of --runs timed runs after --warmup, with --threads threads.

"Gain kept" is (top-1 - baseline) / (RMG-PMSI - baseline) at equal epochs: the references are the
baseline and released-heads RMG-PMSI runs (best rule) trained as long as the row's whole chain
(own epochs + its teacher's or init run's), see ``annotate``; give a baseline run per schedule you
compare at. The recommendation is the fastest row within 1.3x MobileNetV2's MACs keeping
>= 80%. Writes OUT.md, OUT.json and OUT.png; --doc also fills the marked table in that Markdown
file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models.load import loaded_weights, read_checkpoint
from fgvc_mobile.models.presets import PMSI_HEAD_PRESETS
from fgvc_mobile.studies.front_report import non_dominated
from fgvc_mobile.studies.pareto_report import plot, recommend, render, update_doc
from fgvc_mobile.studies.results import command_of, write_results
from fgvc_mobile.studies.run import Run, time_artifact

log = logging.getLogger("fgvc_mobile.studies.pareto")

QUICK_DATA = "synthetic?size=32&num_classes=4&train_per_class=8&test_per_class=4"
#: --quick: (folder name, method, model options); the distilled student learns from "rmg-pmsi"
QUICK_RUNS = [
    ("baseline", "baseline", {}),
    ("rmg-pmsi", "rmg-pmsi", {}),
    *[(f"rmg-pmsi-{p}", "rmg-pmsi", {"preset": p}) for p in PMSI_HEAD_PRESETS if p != "released"],
    ("rmg-pmsi-twin-light", "rmg-pmsi", {"twin": "light"}),
    ("distill", "distill", {}),
]


def head_name(meta: dict, rule: str | None = None) -> str:
    """The preset a run used (by name, or recognised from its kwargs), else the differing kwargs.

    A model with a twin head set names the twin for ``twin_*`` rules ("light twin") and marks its
    released heads as trained beside one, so they are not taken for a plain RMG-PMSI reference.
    """
    if meta["method"] not in ("rmg-pmsi", "pmg"):
        return "MobileNetV2 head" if meta["method"] in ("baseline", "distill") else "-"
    kw = meta["model_kwargs"]
    twin = kw.get("twin")
    if twin and rule is not None and rule.startswith("twin_"):
        return f"{_preset_of(twin)} twin"
    named = (meta.get("config") or {}).get("model", {}).get("preset")
    own = named or _preset_of(kw)
    return f"{own} (beside a {_preset_of(twin)} twin)" if twin else own


def _preset_of(kw: dict) -> str:
    for name, preset in PMSI_HEAD_PRESETS.items():
        if all(_same(kw.get(k), v) for k, v in preset.items()):
            return name
    return "custom " + ",".join(f"{k}={kw[k]}" for k in ("feature_size", "descriptor", "smooth", "tap_stride") if k in kw)


def _same(a, b) -> bool:
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return norm(a) == norm(b)


def tflite_int8(run: Run, rule: str, args) -> dict:
    """Export (or reuse) the int8 TFLite artifact of ``rule``; its LiteRT latency and validated top-1."""
    out = run.folder / "pareto-export" / rule
    art = run.int8_tflite(out, rule, data=args.data, val_images=args.val_images, calib_images=args.calib_images,
                          fresh=args.fresh_exports, command="studies.pareto")
    if "note" in art:
        return art
    lat = time_artifact(out, art, args.threads, args.runs, args.warmup)
    v = art.get("validation") or {}
    return {"latency_ms": lat.latency_ms, "top1": v.get("top1"), "images": v.get("images"),
            "size_bytes": art.get("size_bytes"), "file": str(out / art["model_file"]), "note": ""}


def parse_run(text: str) -> tuple[str | None, Path]:
    label, sep, folder = text.partition("=")
    return (label, Path(folder)) if sep else (None, Path(text))


def lineage(meta: dict) -> tuple[str, int]:
    """What a run started from (ImageNet, another run's backbone, a teacher) and the epochs of the
    whole chain: a student's accuracy also paid for its teacher's or its init run's training."""
    cfg = meta.get("config") or {}
    own = int(cfg.get("epochs") or meta.get("epoch") or 0)  # the schedule it ran (best.pt may be an earlier epoch)
    teacher = (cfg.get("distill") or {}).get("teacher")
    weights = loaded_weights(meta.get("pretrained"))
    parent = teacher or (cfg.get("pretrained") if str(weights or "").startswith("checkpoint:") else None)
    if not parent:
        return "ImageNet" if weights else "scratch", own
    try:
        parent_meta = read_checkpoint(parent)
    except (FGVCError, OSError):
        return f"{'teacher' if teacher else 'backbone of'} {parent} (unreadable)", own
    before = lineage({**parent_meta, "model": None})[1]
    return f"{'teacher' if teacher else 'backbone of'} {Path(parent).parent.name} ({parent_meta['method']})", own + before


def measure_run(text: str, args) -> list[dict]:
    label, folder = parse_run(text)
    run = Run(folder)
    meta, size = run.loaded.meta, run.size
    evaluated, selected_on = run.loaded.reported_metrics()
    starts_from, epochs_total = lineage(meta)
    rows = []
    for rule in run.loaded.rules:
        log.info("%s: rule %s", folder, rule)
        graph, lat = run.torch_latency(rule, args.threads, args.runs, args.warmup)
        cost = run.cost(graph)
        rows.append({
            "label": label or folder.name, "run": str(folder), "method": meta["method"], "head": head_name(meta, rule),
            "rule": rule, "deploy_rule": rule == run.loaded.default_rule, "input_size": size,
            "top1": evaluated.get(f"top1/{rule}"), "n_test": evaluated["n_images"], "best_epoch": meta["best"]["epoch"],
            "selected_on": selected_on, "params": cost["deploy_params"], "macs": cost["deploy_macs"],
            "mac_ratio": cost["x_mobilenet_v2"], "torch_latency_ms": lat.latency_ms,
            "teacher": (meta["config"].get("distill") or {}).get("teacher"),
            "starts_from": starts_from, "epochs_total": epochs_total,
            "int8": {"note": "skipped (--no-tflite)"} if args.no_tflite else tflite_int8(run, rule, args),
        })
    return rows


def annotate(rows: list[dict]) -> dict:
    """Add gain kept, the references it used and Pareto flags in place; returns the references.

    The issue's gain is measured at equal epochs, so each row is compared with the references
    trained as long as its whole chain (own epochs + its teacher's or init run's): gain kept =
    (top-1 - baseline of that length) / (RMG-PMSI of that length - that baseline). Where no
    RMG-PMSI run of that length is given, the main gain (best released-heads run vs the baseline
    trained as long) is the denominator; where no baseline of that length is given, the row is
    judged against the main references only if its chain is no longer than theirs (more epochs
    alone raise the baseline), else it gets no gain kept.
    """
    full = [r for r in rows if r["method"] == "rmg-pmsi" and r["head"] == "released" and r["top1"] is not None]
    bases = [r for r in rows if r["method"] == "baseline" and r["top1"] is not None]
    base_at, full_at = {}, {}
    for r in bases:  # the first baseline given for a schedule is its reference
        base_at.setdefault(r.get("epochs_total"), r)
    for r in full:  # the best rule of the released-heads runs of a schedule
        if r.get("epochs_total") not in full_at or r["top1"] > full_at[r.get("epochs_total")]["top1"]:
            full_at[r.get("epochs_total")] = r
    best = max(full, key=lambda r: r["top1"], default=None)
    main_base = (base_at.get(best.get("epochs_total")) if best else None) or (bases[0] if bases else None)
    ref = {"rmg_pmsi": best and best["top1"], "rmg_pmsi_rule": best and best["rule"],
           "rmg_pmsi_label": best and best["label"], "epochs": best and best.get("epochs_total"),
           "baseline": main_base and main_base["top1"], "baseline_label": main_base and main_base["label"]}
    gain = (ref["rmg_pmsi"] - ref["baseline"]) if None not in (ref["baseline"], ref["rmg_pmsi"]) else None
    ref["gain"] = gain
    for r in rows:
        chain = r.get("epochs_total")
        b, f = base_at.get(chain), full_at.get(chain)
        if b is None and (ref["epochs"] is None or chain is None or chain <= ref["epochs"]):
            b = main_base
        if b is not None and f is not None and f["top1"] > b["top1"]:
            denom, rl = f["top1"] - b["top1"], f
        else:
            denom, rl = gain, best
        ok = b is not None and denom is not None and denom > 0 and r["top1"] is not None
        r["gain_kept"] = 100.0 * (r["top1"] - b["top1"]) / denom if ok else None
        r["compared_with"] = f"{b['label']} / {rl['label']}" if ok else None
    top1 = lambda r: r["top1"]  # noqa: E731
    by_macs = {id(r) for r in non_dominated(rows, top1, lambda r: r["macs"])}
    by_latency = {id(r) for r in non_dominated(rows, top1, lambda r: (r["int8"].get("latency_ms") or {}).get("p50"))}
    for r in rows:
        r["pareto_macs"], r["pareto_latency"] = id(r) in by_macs, id(r) in by_latency
    return ref


def train_quick(work: Path) -> list[str]:
    """Train (or reuse) the tiny --quick runs; returns their folders."""
    return [str(Run.train(dict(
        data=QUICK_DATA, method=method, out=str(work / name), img_size=32, resize=36, epochs=1, batch_size=8,
        workers=0, lr=0.01, model=model, pretrained="none",
        distill={"teacher": str(work / "rmg-pmsi" / "best.pt")} if method == "distill" else {})).folder)
        for name, method, model in QUICK_RUNS]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="*", metavar="RUN", help="run folders (LABEL=FOLDER to name a row)")
    p.add_argument("--data", help="data set for the int8 export's calibration and validation "
                                  "(default: the one each checkpoint was trained on)")
    p.add_argument("--out", help="output path without extension (default benchmarks/results/cub100_pareto; "
                                 "--quick: WORK/pareto)")
    p.add_argument("--doc", help="also fill the table between the pareto markers of this Markdown file")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for both runtimes (default 1)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per latency (default 50)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--val-images", type=int, default=None, help="int8 validation images (exporter default)")
    p.add_argument("--calib-images", type=int, default=None, help="int8 calibration images (exporter default)")
    p.add_argument("--no-tflite", action="store_true", help="skip the int8 TFLite export and its latency")
    p.add_argument("--fresh-exports", action="store_true", help="re-export even where RUN/pareto-export is current")
    p.add_argument("--quick", action="store_true", help="train tiny synthetic runs for 1 epoch into --work first")
    p.add_argument("--work", default="runs/pareto-quick", help="--quick: folder of its runs")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folders, out = list(args.folders), args.out or "benchmarks/results/cub100_pareto"
    if args.quick:
        folders = folders or train_quick(Path(args.work))
        args.runs, args.warmup = min(args.runs, 5), min(args.warmup, 1)
        out = args.out or str(Path(args.work) / "pareto")
    if not folders:
        p.error("give run folders, or --quick")
    rows = [row for text in folders for row in measure_run(text, args)]
    ref = annotate(rows)
    rec = recommend(rows)
    command, machine = command_of("pareto", argv), describe_host(threads=args.threads)
    md = render(rows, ref, rec, command, machine, args)
    write_results(out, md, {"command": command, "machine": machine, "references": ref,
                            "recommendation": rec and {"label": rec["label"], "rule": rec["rule"]}, "rows": rows})
    png = plot(rows, f"{out}.png", ref)
    if args.doc:
        update_doc(args.doc, md)
    print(f"wrote {out}.md, {out}.json" + (f", {png}" if png else "") + (f"; filled {args.doc}" if args.doc else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
