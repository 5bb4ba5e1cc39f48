"""Export every artifact of trained checkpoints and tabulate them (benchmarks/results/cub100_export.md).

    python -m fgvc_mobile.studies.export_matrix \\
        --checkpoint runs/cub100-baseline/best.pt --checkpoint runs/cub100-rmg/best.pt

For each checkpoint: ``fgvc-mobile export --format all --int8`` validated on the WHOLE test split
of the checkpoint's data set (``--val-images 0``), then one table row per artifact (and per extra
evaluation, e.g. ONNX int8 with ORT's int8 kernels vs the QDQ graph in float): size, parity vs
the fp32 PyTorch deploy graph, top-1, drop vs fp32, conversion time. The exact command and the
machine are written with the table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.studies.results import command_of

#: the two cub100 runs; the RMG-PMSI run is looked for under both names the project has used
DEFAULT_CHECKPOINTS = [("runs/cub100-baseline/best.pt",), ("runs/cub100-rmg/best.pt", "runs/cub100-rmg-pmsi/best.pt")]


def default_checkpoints() -> list[str]:
    return [next((c for c in cands if Path(c).is_file()), cands[0]) for cands in DEFAULT_CHECKPOINTS]


def _parity(ev: dict) -> str:
    if ev.get("how") == "structural":
        return "structural only (CoreML, not run on Linux)"
    sim = " (PyTorch simulation)" if ev.get("how") == "simulated" else ""
    return f"rel {ev['rel_error']:.1e}, agree {ev['top1_agreement']:.2f}%{sim}"


def rows_for(label: str, index: dict) -> list[str]:
    rows = []
    for a in index["artifacts"]:
        v = a["validation"]
        evs = {e["name"]: e for e in v["evaluations"]}
        gate = evs[v["gate"]["on"]]
        ref = v["reference_top1"]
        top1 = f"{gate['top1']:.2f}" if "top1" in gate else "n/a"
        drop = f"{gate['top1'] - ref:+.2f}" if "top1" in gate else "n/a"
        rows.append(f"| {label} | {a['model_file']} | {a['size_bytes'] / 2**20:.2f} MB | {_parity(gate)} | {top1} "
                    f"| {drop} | {a['convert_seconds']:.1f} s |")
        for name, e in evs.items():
            if name != gate["name"] and e.get("how") != "structural":
                rows.append(f"| {label} | {a['model_file']} [{name}] | | {_parity(e)} | {e['top1']:.2f} "
                            f"| {e['top1'] - ref:+.2f} | |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", help="checkpoints (default: the two cub100 runs)")
    p.add_argument("--out", default="dist/cub100", help="artifacts go to OUT/<run name>/")
    p.add_argument("--results", default="benchmarks/results/cub100_export.md")
    p.add_argument("--val-images", type=int, default=0, help="0 = the whole test split")
    p.add_argument("--calib-images", type=int, default=None)
    p.add_argument("--format", default="all")
    args = p.parse_args(argv)

    from fgvc_mobile.export.pipeline import ExportRequest, run_export
    from fgvc_mobile.export.report import host

    checkpoints = args.checkpoint or default_checkpoints()
    missing = [c for c in checkpoints if not Path(c).is_file()]
    if missing:
        print(f"error: checkpoint(s) not found: {', '.join(missing)} (train them first)", file=sys.stderr)
        return 2
    command = command_of("export_matrix", argv)
    lines = [
        "# Export matrix: every artifact of the cub100 checkpoints",
        "",
        f"- command: `{command}`",
        f"- machine: {host()}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "- parity: against the fp32 PyTorch deploy graph on the same images; top-1 on the whole test split "
        "unless --val-images says otherwise; drop = artifact top-1 minus fp32 PyTorch top-1 (points).",
        "",
    ]
    table = ["| checkpoint | artifact | size | parity vs fp32 PyTorch | top-1 % | vs fp32 | conversion |",
             "|---|---|---:|---|---:|---:|---:|"]
    for ck in checkpoints:
        label = Path(ck).parent.name or Path(ck).stem
        t0 = time.perf_counter()
        try:
            res = run_export(ExportRequest(
                checkpoint=ck, out=str(Path(args.out) / label), format=args.format, int8=True,
                val_images=args.val_images, calib_images=args.calib_images, command=command,
                accept_drop=True,  # a benchmark reports every int8 drop; the 1-point gate is for shipping
            ))
        except FGVCError as e:
            print(f"error: {label}: {e}", file=sys.stderr)
            return 2
        index = {"artifacts": res.artifacts}
        ref = res.artifacts[0]["validation"]
        lines.append(f"- `{ck}`: {ref['images']}, fp32 PyTorch top-1 {ref['reference_top1']:.2f}%, "
                     f"export took {time.perf_counter() - t0:.0f} s; report `{Path(args.out) / label}/validation_report.md`")
        table += rows_for(label, index)
    lines += ["", *table, "",
              "ONNX int8 appears twice: `ort-int8-kernels` is onnxruntime's fused int8 CPU kernels on this machine "
              "(what a session runs, and what the gate judges); `qdq-float` is the QDQ graph evaluated in float "
              "(the model's own int8 accuracy). CoreML artifacts cannot "
              "run on Linux: fp16 is validated structurally, int8 ones by a PyTorch simulation of their numerics.", ""]
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    from fgvc_mobile.serialization import atomic_write_text

    atomic_write_text(out, "\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
