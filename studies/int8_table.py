"""int8 against fp32 for the models of the accuracy–latency front, every format (issue 17).

    python -m fgvc_mobile.studies.int8_table configs/front_cub100.yaml [--points baseline-128 ...]

Per point (its first seed's run): ``fgvc-mobile export --format all --int8 auto``, so every gate
and the recipe ``auto`` picks are decided on the checkpoint's validation split; then ONE
``fgvc-mobile bench`` run, 1 thread, over every published artifact on the whole test split: the
test top-1 of fp32 and int8 and the int8 model's top-1 agreement with the fp32 PyTorch model are
read once, and latency ratios compare artifacts timed in the same process. CoreML cannot run on
Linux: its row is the exporter's PyTorch simulation on the validation split, and says so. An
int8 artifact that no recipe gets through its gate is a row too (refused, with its val figures).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fgvc_mobile.benchmarks.bench import run_bench
from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.export.pipeline import ExportRequest, run_export
from fgvc_mobile.export.report import size_bytes
from fgvc_mobile.studies.front import load_front_config, load_records
from fgvc_mobile.studies.front_report import pick_rule
from fgvc_mobile.studies.results import command_of, write_results
from fgvc_mobile.studies.run import Run, current_export

log = logging.getLogger("fgvc_mobile.studies.int8_table")

#: format -> (float artifact, int8 artifact) as the exporter names them
PAIRS = {"tflite": ("model_fp32.tflite", "model_int8.tflite"), "onnx": ("model_fp32.onnx", "model_int8.onnx"),
         "coreml": ("model_fp16.mlpackage", "model_w8a8.mlpackage")}
#: issue 17's goal for every int8 artifact (CoreML W8A8: within 1 point, else int8 weights)
GOAL = {"drop": 0.5, "agreement": 98.0, "size_ratio": 0.30, "latency_ratio": 1 / 1.5}


def export_point(run: Run, rule: str, out: Path, formats: str, command: str) -> tuple[list[dict], list[dict]]:
    """(published manifest entries, refusals) of ``--int8 auto``, gated on val; a finished export is reused."""
    done = current_export(out, run.loaded.sha256, rule, formats.split(","), None)
    if done is not None:
        log.info("reusing %s", out)
        return done, []
    res = run_export(ExportRequest(checkpoint=str(run.folder / run.checkpoint), out=str(out), format=formats,
                                   int8="auto", rule=rule, command=command), echo=log.info)
    return res.artifacts, [r.to_dict() for r in res.refused]


def rows_for(name: str, folder: Path, arts: list[dict], refused: list[dict], bench_rows: dict) -> list[dict]:
    """One row per format of point ``name``: test figures from bench where it ran, else the export's."""
    by_file = {a["model_file"]: a for a in arts}
    rows = []
    for fmt, (f32, i8) in PAIRS.items():
        fp, q = by_file.get(f32), by_file.get(i8)
        if fmt == "coreml" and q is None and "model_int8w.mlpackage" in by_file:
            q = by_file["model_int8w.mlpackage"]  # W8A8 refused: int8 weights ship in its place
        gone = next((r for r in refused if r["fmt"] == fmt and r["precision"] != "fp32"), None)
        if fp is None or (q is None and gone is None):
            continue
        row = {"model": name, "format": fmt, "fp32_file": f32, "int8_file": q["model_file"] if q else gone["file"],
               "published": q is not None}
        if q is None:
            row.update(split="val", drop=-gone["drop"] if gone["drop"] is not None else None,
                       agreement=gone["agreement"], note=f"refused: {gone['reason']}")
            rows.append(row)
            continue
        b32, b8 = bench_rows.get(f"{name}/{f32}"), bench_rows.get(f"{name}/{q['model_file']}")
        if b32 and b8 and b8.get("accuracy") and b32.get("accuracy"):
            row.update(split="test", fp32_top1=100 * b32["accuracy"]["top1"], int8_top1=100 * b8["accuracy"]["top1"],
                       agreement=100 * b8["agreement_with_reference"],
                       latency_ratio=b8["latency_ms"]["p50"] / b32["latency_ms"]["p50"],
                       fp32_ms=b32["latency_ms"]["p50"], int8_ms=b8["latency_ms"]["p50"])
        else:  # not runnable here (CoreML on Linux): the exporter's own evaluation on val
            v8, v32 = q["validation"], fp["validation"]
            ev = next((e for e in v8["evaluations"] if e["name"] == v8["gate"]["on"]), {})
            row.update(split=f"val ({ev.get('how', '?')}: {ev.get('name', '?')})", fp32_top1=v32["reference_top1"],
                       int8_top1=v8["top1"], agreement=ev.get("top1_agreement"))
        row["drop"] = row["int8_top1"] - row["fp32_top1"]
        row["size_ratio"] = size_bytes(folder / q["model_file"]) / size_bytes(folder / f32)
        recipe = q.get("int8_recipe") or {}
        row["recipe"] = {"mode": recipe.get("mode"), "options": recipe.get("options"), "rung": recipe.get("rung"),
                         "of": recipe.get("of")}
        row["meets_goal"] = meets_goal(row)
        rows.append(row)
    return rows


def meets_goal(row: dict) -> bool:
    """Issue 17's goal for one published int8 artifact (latency only where it was timed)."""
    if row["format"] == "coreml":
        return row["drop"] >= -1.0 and row["size_ratio"] <= GOAL["size_ratio"] * 2  # fp16 base: 30% of fp32 = 60% of fp16
    return (row["drop"] >= -GOAL["drop"] and (row["agreement"] or 0) >= GOAL["agreement"]
            and row["size_ratio"] <= GOAL["size_ratio"]
            and (row.get("latency_ratio") is None or row["latency_ratio"] <= GOAL["latency_ratio"]))


def render(rows: list[dict], meta: dict) -> list[str]:
    f = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
    lines = ["# int8 vs fp32 on the front's models (issue 17)", "",
             f"Machine: {meta['machine']} (1 thread). Commands: {meta['commands']}", "",
             "Gates and `--int8 auto`'s recipe choice: validation split. Figures: the **test** split, read once by one "
             "bench run (1 thread; latency p50 of int8 / fp32 in that run), except where `split` says otherwise. "
             "`agreement`: top-1 agreement of the int8 artifact with the fp32 PyTorch model. CoreML's fp32 column is "
             "its fp16 package; its size ratio is against that.", "",
             "| model | format | split | fp32 top-1 | int8 top-1 | drop | agreement % | size ratio | int8/fp32 latency "
             "| recipe (auto) | goal |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rec = r.get("recipe") or {}
        recipe = (f"{rec.get('rung')}/{rec.get('of')}: " + ", ".join(f"{k}={v}" for k, v in (rec.get("options") or {}).items()
                  if k not in ("exporter", "opset"))) if rec else r.get("note", "")
        lines.append(f"| {r['model']} | {r['format']} | {r['split']} | {f(r.get('fp32_top1'))} | {f(r.get('int8_top1'))} "
                     f"| {f(r.get('drop'))} | {f(r.get('agreement'), 1)} | {f(r.get('size_ratio'))} "
                     f"| {f(r.get('latency_ratio'))} | {recipe} | {'yes' if r.get('meets_goal') else 'no'} |")
    lines += ["", f"Goal (issue 17): drop >= -{GOAL['drop']} points, agreement >= {GOAL['agreement']}%, size <= "
              f"{GOAL['size_ratio']:.0%} of fp32, TFLite/ONNX int8 >= 1.5x faster than fp32 (1 thread); CoreML W8A8 "
              "within 1 point (simulated), else int8 weights ship.", ""]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="front config (YAML), e.g. configs/front_cub100.yaml")
    p.add_argument("--points", nargs="*", help="only these point names (default: every point with a finished run)")
    p.add_argument("--formats", default="tflite,onnx,coreml")
    p.add_argument("--out", default="runs/int8", help="exports (one folder per point) and the bench report")
    p.add_argument("--results", default="benchmarks/results/int8")
    p.add_argument("--runs", type=int, default=30, help="timed runs per artifact")
    p.add_argument("--limit", type=int, help="bench only this many test images (a quick look; the table says so)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg, command = load_front_config(args.config), command_of("int8_table", argv)
    records = load_records(cfg)
    out, done = Path(args.out), {}
    for point in cfg["points"]:
        recs = sorted((r for r in records if r["name"] == point["name"]), key=lambda r: r["seed"])
        if not recs or (args.points and point["name"] not in args.points):
            continue
        run = Run(Path(recs[0]["run"]))
        if not (run.folder / run.checkpoint).is_file():
            log.warning("%s: %s is not on this machine; left out", point["name"], run.folder / run.checkpoint)
            continue
        done[point["name"]] = export_point(run, pick_rule(point, recs), out / point["name"], args.formats, command)
    if not done:
        raise SystemExit("no point has a finished run on this machine")
    spec = records[0]["config"]["data"]
    report = run_bench(out, spec, out / "bench", threads=1, runs=args.runs, warmup=5, limit=args.limit,
                       cache_dir=out / "cache", command=command)
    bench_rows = {r["artifact"]: r for r in report["results"]}
    rows = [row for name, (arts, refused) in done.items() for row in rows_for(name, out / name, arts, refused, bench_rows)]
    machine = describe_host(threads=1)["cpu_model"]
    n = report["data"]["n_evaluated"]
    meta = {"machine": machine, "commands": f"`{command}` (exports under `{out}`, bench report `{out / 'bench'}`; "
            f"{n} test images{' (--limit)' if args.limit else ''})"}
    write_results(args.results, render(rows, meta), {"command": command, "machine": machine, "test_images": n,
                                                      "goal": GOAL, "rows": rows})
    print(f"wrote {args.results}.md/.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
