"""Accuracy against deploy cost: baseline, RMG-PMSI (concat, combined), lighter heads, distilled student.

    python -m fgvc_mobile.benchmarks.pareto RUN [RUN ...] [--doc docs/deploy_cost.md]
    python -m fgvc_mobile.benchmarks.pareto --quick       # tiny synthetic runs, 1 epoch: proves the pipeline

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
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from fgvc_mobile.benchmarks.latency import measure
from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.benchmarks.manifests import existing_int8_tflite
from fgvc_mobile.benchmarks.pareto_report import plot, recommend, render, update_doc
from fgvc_mobile.benchmarks.runners.base import Session
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models.complexity import count_macs, count_params
from fgvc_mobile.models.fgvc import BaselineMobileNetV2
from fgvc_mobile.models.load import load_trained, loaded_weights, read_checkpoint, reported_metrics
from fgvc_mobile.models.presets import PMSI_HEAD_PRESETS, RuleGraph
from fgvc_mobile.serialization import atomic_write_json, atomic_write_text

log = logging.getLogger("fgvc_mobile.benchmarks.pareto")

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


def deploy_graph(model, rule: str, size: int):
    """The exporter's DeployModel (what ships); the unfolded rule graph where the exporter is absent."""
    try:
        from fgvc_mobile.export.deploy import DeployModel
    except ImportError:
        return RuleGraph(model, rule).eval(), "rule graph (exporter not installed)"
    return DeployModel(model, rule, input_size=size), "export DeployModel"


class _GraphSession(Session):
    def __init__(self, graph):
        self.graph = graph

    def run(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.graph(torch.from_numpy(x)).numpy()


def torch_latency(graph, size: int, threads: int, runs: int, warmup: int) -> dict:
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
        _, lat = measure(lambda: _GraphSession(graph), lambda s: x, warmup, runs)
    finally:
        torch.set_num_threads(prev)
    return lat.latency_ms


def tflite_int8(ckpt: Path, meta: dict, rule: str, out: Path, args) -> dict:
    """Export (or reuse) the int8 TFLite artifact of ``rule``; its LiteRT latency and validated top-1."""
    from fgvc_mobile.benchmarks.runners import runners_for

    (runner,) = runners_for("tflite", "cpu")
    reason = runner.unavailable_reason()
    if reason:
        return {"note": reason}
    art = None if args.fresh_exports else existing_int8_tflite(out, meta["sha256"], rule, args.val_images)
    if art is None:
        try:
            from fgvc_mobile.export.pipeline import ExportRequest, run_export
        except ImportError as e:
            return {"note": f"exporter not installed ({e.name})"}
        req = ExportRequest(checkpoint=str(ckpt), out=str(out), format="tflite", int8=True, rule=rule,
                            val_data=args.data, val_images=args.val_images, calib_data=args.data,
                            calib_images=args.calib_images, accept_drop=True, command="benchmarks.pareto")
        try:
            result = run_export(req, echo=log.info)
        except Exception as e:  # an unconvertible graph is a row note, not the end of the table
            return {"note": f"export failed: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:160]}"}
        art = next((a for a in result.artifacts if a["format"] == "tflite" and a["precision"] == "int8"), None)
        if art is None:
            return {"note": "the exporter produced no int8 TFLite artifact"}
    size = int(art["preprocess"]["input_size"])
    u8 = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)

    def make_input(session):
        return session.contract.prepare(u8, art["model_file"])

    session, lat = measure(lambda: runner.load(out / art["model_file"], args.threads, art), make_input,
                           args.warmup, args.runs)
    session.close()
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
    label, run = parse_run(text)
    ckpt = run / "best.pt"
    if not ckpt.is_file():
        raise FGVCError(f"{run}: no best.pt (train it first with fgvc-mobile train --out {run})")
    loaded = load_trained(ckpt)
    model, meta = loaded.model, loaded.meta
    size = int(meta["preprocess"]["input_size"])
    best_epoch = meta["best"]["epoch"]
    evaluated, selected_on = reported_metrics(meta)
    base_macs = count_macs(RuleGraph(BaselineMobileNetV2(len(meta["classes"]))), size)
    starts_from, epochs_total = lineage(meta)
    rows = []
    for rule in model.inference_rules:
        log.info("%s: rule %s", run, rule)
        graph, how = deploy_graph(model, rule, size)
        macs = count_macs(graph, size)
        row = {
            "label": label or run.name, "run": str(run), "method": meta["method"], "head": head_name(meta, rule),
            "rule": rule, "deploy_rule": rule == model.default_rule, "input_size": size,
            "top1": evaluated.get(f"top1/{rule}"), "n_test": evaluated["n_images"], "best_epoch": best_epoch,
            "selected_on": selected_on,
            "params": count_params(graph), "macs": macs, "mac_ratio": macs / base_macs, "graph": how,
            "torch_latency_ms": torch_latency(graph, size, args.threads, args.runs, args.warmup),
            "teacher": (meta["config"].get("distill") or {}).get("teacher"),
        }
        row["starts_from"], row["epochs_total"] = starts_from, epochs_total
        row["int8"] = {"note": "skipped (--no-tflite)"} if args.no_tflite else \
            tflite_int8(ckpt, meta, rule, run / "pareto-export" / rule, args)
        rows.append(row)
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
        lat = (r["int8"].get("latency_ms") or {}).get("p50")
        r["pareto_macs"] = _non_dominated(r, rows, lambda x: x["macs"])
        r["pareto_latency"] = lat is not None and _non_dominated(r, rows, lambda x: (x["int8"].get("latency_ms") or {}).get("p50"))
    return ref


def _non_dominated(r: dict, rows: list[dict], cost) -> bool:
    if r["top1"] is None or cost(r) is None:
        return False
    return not any(
        o is not r and o["top1"] is not None and cost(o) is not None
        and o["top1"] >= r["top1"] and cost(o) <= cost(r) and (o["top1"] > r["top1"] or cost(o) < cost(r))
        for o in rows
    )


def train_quick(work: Path) -> list[str]:
    """Train (or reuse) the tiny --quick runs; returns their folders."""
    from fgvc_mobile.train.config import TrainConfig
    from fgvc_mobile.train.trainer import fit

    folders = []
    for name, method, model in QUICK_RUNS:
        run = work / name
        if not (run / "best.pt").is_file():
            cfg = TrainConfig(data=QUICK_DATA, method=method, out=str(run), img_size=32, resize=36, epochs=1,
                              batch_size=8, workers=0, lr=0.01, model=model, pretrained="none",
                              distill={"teacher": str(work / "rmg-pmsi" / "best.pt")} if method == "distill" else {})
            fit(cfg, show_progress=False)
        folders.append(str(run))
    return folders


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
    command = "python -m fgvc_mobile.benchmarks.pareto " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    machine = describe_host(threads=args.threads)
    md = render(rows, ref, rec, command.strip(), machine, args)
    atomic_write_text(f"{out}.md", md + "\n")
    atomic_write_json(f"{out}.json", {"command": command.strip(), "machine": machine, "references": ref,
                                      "recommendation": rec and {"label": rec["label"], "rule": rec["rule"]},
                                      "rows": rows})
    png = plot(rows, f"{out}.png", ref)
    if args.doc:
        update_doc(args.doc, md)
    print(f"wrote {out}.md, {out}.json" + (f", {png}" if png else "") + (f"; filled {args.doc}" if args.doc else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
