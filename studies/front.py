"""The accuracy–latency front: every family at several input sizes and seeds, selected on val.

    python -m fgvc_mobile.studies.front train configs/front_cub100.yaml [--only NAME ...] [--seeds 0 1]
    python -m fgvc_mobile.studies.front bench configs/front_cub100.yaml    # int8 export + latency, one run
    python -m fgvc_mobile.studies.front report configs/front_cub100.yaml   # .md/.json/.png from stored JSON

``train`` trains (or resumes, or skips) each point x seed with ``fgvc-mobile train``'s ``fit`` and
stores one JSON per finished run in ``<results>_runs/`` (committed): validation and test top-1 of
every rule, MACs of every rule's deploy graph, training time, config, machine. Runs accumulate over
sessions and machines; ``report`` redraws the front from those files alone. ``bench`` exports each
point's int8 TFLite (first seed, the rule the report picks) and times all points, the reference
MobileNetV2 at 224 px included, at 1 and 2 threads in one process, so latencies are comparable.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import yaml

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.serialization import atomic_write_json
from fgvc_mobile.studies.front_report import (build_points, budget_table, pareto_front, pick_rule, plot, render,
                                              render_search, search_decision)
from fgvc_mobile.studies.results import command_of, write_results
from fgvc_mobile.studies.run import Run, time_artifact

log = logging.getLogger("fgvc_mobile.studies.front")


def load_front_config(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FGVCError(f"{path}: no such front config")
    cfg = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    for key in ("base", "points", "reference", "results", "runs_dir", "seeds"):
        if key not in cfg:
            raise FGVCError(f"{path}: missing '{key}'")
    names = [pt["name"] for pt in cfg["points"]]
    if len(set(names)) != len(names) or cfg["reference"] not in names:
        raise FGVCError(f"{path}: point names must be unique and include the reference {cfg['reference']!r}")
    return cfg


def run_name(point: dict, seed: int) -> str:
    return f"{point['name']}-s{seed}"


def records_dir(cfg: dict) -> Path:
    return Path(f"{cfg['results']}_runs")


def train_point(cfg: dict, point: dict, seed: int) -> Path:
    """Train, resume or skip one run; returns its stored record's path."""
    record = records_dir(cfg) / f"{run_name(point, seed)}.json"
    if record.is_file():
        return record
    opts = {**cfg["base"], "method": point["method"], "img_size": point["img_size"], "seed": seed,
            "out": str(Path(cfg["runs_dir"]) / run_name(point, seed)), **point.get("train", {})}
    if "resize" not in point.get("train", {}):
        opts.pop("resize", None)  # the default img_size * 8/7 at every size
    t0 = time.time()
    log.info("training %s (seed %d) into %s", point["name"], seed, opts["out"])
    run = Run.train(opts, source=f"point {point['name']}", show_progress=True)
    atomic_write_json(record, make_record(point, seed, run, time.time() - t0))
    return record


def make_record(point: dict, seed: int, run: Run, wall_seconds: float) -> dict:
    """What ``report`` needs of a finished run, stored so the front can be redrawn without it."""
    meta, rules = run.loaded.meta, list(run.loaded.rules)
    selected = next(h for h in meta["history"] if h["epoch"] == meta["best"]["epoch"])
    trained = [h for h in meta["history"] if "train_seconds" in h]
    return {
        "name": point["name"], "family": point["family"], "method": meta["method"], "img_size": run.size, "seed": seed,
        "run": str(run.folder), "default_rule": run.loaded.default_rule, "selected_on": meta["best"]["split"],
        "best_epoch": meta["best"]["epoch"], "epochs": meta["config"]["epochs"],
        "val": {r: selected[f"top1/{r}"] for r in rules}, "test": {r: meta["test_metrics"][f"top1/{r}"] for r in rules},
        "n_val": selected["n_images"], "n_test": meta["test_metrics"]["n_images"],
        "macs_g": {r: run.cost(run.graph(r))["deploy_macs"] / 1e9 for r in rules},
        "train_seconds": sum(h["train_seconds"] for h in trained), "wall_seconds": wall_seconds,
        "config": meta["config"], "machine": describe_host(threads=None)["cpu_model"],
    }


def load_records(cfg: dict) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(records_dir(cfg).glob("*.json"))]


def bench(cfg: dict, args) -> dict:
    """int8 TFLite of every point with a finished run, all timed at 1 and 2 threads in this one process."""
    records = load_records(cfg)
    out = {"points": {}}
    for point in cfg["points"]:
        recs = sorted((r for r in records if r["name"] == point["name"]), key=lambda r: r["seed"])
        if not recs:
            continue
        rule, run = pick_rule(point, recs), Run(Path(recs[0]["run"]))
        if not (run.folder / "best.pt").is_file():
            log.warning("%s: %s is not on this machine; not timed", point["name"], run.folder / "best.pt")
            continue
        export = run.folder / "front-export" / rule
        art = run.int8_tflite(export, rule, val_images=args.val_images)
        entry = {"rule": rule, "checkpoint": str(run.folder / "best.pt"),
                 "int8_top1_val_images": (art.get("validation") or {}).get("top1")}
        for threads in (1, 2):
            entry[f"int8_ms_{threads}t"] = None if "note" in art else \
                time_artifact(export, art, threads, args.runs, args.warmup).latency_ms["p50"]
        if "note" in art:
            entry["note"] = art["note"]
        out["points"][point["name"]] = entry
    return out


def report(cfg: dict, latency: dict, commands: str) -> dict:
    records = load_records(cfg)
    points = build_points(cfg, records, latency)
    ref = next((p for p in points if p["name"] == cfg["reference"]), None)
    ref_ms = ref and ref["int8_ms_1t"]
    front = pareto_front(points)
    budgets = budget_table(points, ref_ms) if ref_ms else []
    done = {(r["name"], r["seed"]) for r in records}
    not_run = [f"{pt['name']} seed {s}" for pt in cfg["points"] for s in pt.get("seeds", cfg["seeds"])
               if (pt["name"], s) not in done]
    trained_on = ", ".join(sorted({r.get("machine", "?") for r in records})) or "none yet"
    meta = {"commands": commands,
            "machine": f"training: {trained_on}; latency: {(latency.get('machine') or {}).get('cpu_model', 'not measured')}",
            "not_run": not_run, "reference": cfg["reference"]}
    out = cfg["results"]
    if cfg.get("kind") == "search":  # a recipe search: decided on val, test read for the chosen one only
        decision = search_decision(points)
        hidden = [{k: v for k, v in p.items() if k not in ("top1", "top1_mean", "top1_std")} for p in points]
        doc = {"commands": commands, "kind": "search", "decision": decision, "points": hidden, "not_run": not_run}
        write_results(out, render_search(points, decision, meta), doc)
        return doc
    doc = {"commands": commands, "machine": latency.get("machine"), "reference": cfg["reference"],
           "reference_int8_ms_1t": ref_ms, "pareto_front": front, "budgets": budgets, "points": points,
           "not_run": not_run}
    write_results(out, render(points, budgets, ref or {}, front, meta), doc)
    plot(points, front, ref_ms, f"{out}.png")
    return doc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["train", "bench", "report"])
    p.add_argument("config", help="front config (YAML), e.g. configs/front_cub100.yaml")
    p.add_argument("--only", nargs="*", help="train: only these point names")
    p.add_argument("--seeds", nargs="*", type=int, help="train: only these seeds")
    p.add_argument("--runs", type=int, default=50, help="bench: timed runs per latency")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--val-images", type=int, default=500, help="bench: int8 validation images of each export")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_front_config(args.config)
    command = command_of("front", argv)
    latency_file = Path(f"{cfg['results']}_latency.json")
    if args.action == "train":
        for point in cfg["points"]:
            if args.only and point["name"] not in args.only:
                continue
            for seed in point.get("seeds", cfg["seeds"]):
                if args.seeds is None or seed in args.seeds:
                    print(train_point(cfg, point, seed))
    elif args.action == "bench":
        lat = bench(cfg, args)
        lat.update(command=command, machine=describe_host(threads=1))
        atomic_write_json(latency_file, lat)
        print(f"wrote {latency_file}")
    else:
        latency = json.loads(latency_file.read_text(encoding="utf-8")) if latency_file.is_file() else {}
        commands = (f"`python -m fgvc_mobile.studies.front train {args.config}` (per run: "
                    f"`{records_dir(cfg)}/NAME-sSEED.json`), `{latency.get('command', 'bench: not run yet')}`, `{command}`")
        report(cfg, latency, commands)
        print(f"wrote {cfg['results']}.md/.json" + ("" if cfg.get("kind") == "search" else "/.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
