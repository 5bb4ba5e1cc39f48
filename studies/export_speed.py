"""How long ``fgvc-mobile export --format all --int8`` takes, stage by stage, per checkpoint.

    python -m fgvc_mobile.studies.export_speed --checkpoint runs/front/baseline-224-s0/best.pt \\
        --data cub:../shared/datasets/cub100/CUB_200_2011

Each checkpoint is exported once with every format, fp32 and int8, all gates (the default 500
validation and 100 calibration images) into a temporary folder that is removed afterwards; the
export's own stage timer (``export/stages.py``, the table at the end of ``validation_report.md``)
gives wall and CPU seconds per stage. The process's CPU time (user + system, every thread,
``resource.getrusage``) is reported beside the wall time: on a shared machine wall time grows
while the export waits for a core, CPU time does not. Writes benchmarks/results/export_speed.md + .json.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.studies.results import command_of, write_results

#: the issue's goal for one cub100 model, every format with its gates
GOAL_S = 60.0


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def time_export(checkpoint: str, data: str, work: Path, int8: bool = True) -> dict:
    """One export of every format (and int8) of ``checkpoint``; its totals and stage timings."""
    from fgvc_mobile.export.pipeline import ExportRequest, run_export

    out = Path(tempfile.mkdtemp(prefix="export-speed-", dir=work)) / "dist"
    w0, c0 = time.perf_counter(), _cpu_s()
    try:
        res = run_export(ExportRequest(checkpoint=checkpoint, out=str(out), format="all", int8=int8,
                                       val_data=data, calib_data=data, command="(studies.export_speed)"),
                         echo=lambda *_: None)
    finally:
        wall, cpu = time.perf_counter() - w0, _cpu_s() - c0
        shutil.rmtree(out.parent, ignore_errors=True)
    return {"checkpoint": checkpoint, "wall_s": wall, "cpu_s": cpu, "published": [a["model_file"] for a in res.artifacts],
            "refused": [r.file for r in res.refused], "stages": res.timings["stages"]}


def markdown(runs: list[dict], command: str, machine: dict) -> list[str]:
    lines = ["# Export speed: `--format all --int8`, every gate, per checkpoint", "", f"Command: `{command}`", "",
             f"Machine: {machine['cpu_model']} ({machine['cores']} usable cores), torch "
             f"{machine['libraries'].get('torch')}. Wall and CPU seconds (CPU: user + system, every thread of the "
             f"process). The goal is {GOAL_S:.0f} s per cub100 model.", "",
             "| checkpoint | wall s | CPU s | published | refused |", "|---|---:|---:|---:|---|"]
    lines += [f"| `{r['checkpoint']}` | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {len(r['published'])} | "
              f"{', '.join(r['refused']) or '–'} |" for r in runs]
    for r in runs:
        lines += ["", f"## `{r['checkpoint']}`: where the time went", "", "| stage | wall s | CPU s |", "|---|---:|---:|"]
        lines += [f"| {s['name']} | {s['wall_s']:.2f} | {s['cpu_s']:.2f} |" for s in r["stages"]]
        rest_w = r["wall_s"] - sum(s["wall_s"] for s in r["stages"])
        rest_c = r["cpu_s"] - sum(s["cpu_s"] for s in r["stages"])
        lines.append(f"| other (outside the stages above) | {rest_w:.2f} | {rest_c:.2f} |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", required=True, help="a best.pt (repeatable)")
    p.add_argument("--data", required=True, help="KIND:PATH of the calibration and validation images")
    p.add_argument("--no-int8", action="store_true", help="float artifacts only")
    p.add_argument("--work", default=None, help="where the temporary exports go (default: the system's temp folder)")
    p.add_argument("--out", default="benchmarks/results/export_speed")
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.gettempdir())
    work.mkdir(parents=True, exist_ok=True)
    runs = [time_export(c, args.data, work, not args.no_int8) for c in args.checkpoint]
    command = command_of("export_speed", argv)
    machine = describe_host(threads=None)
    lines = markdown(runs, command, machine)
    write_results(args.out, lines, {"command": command, "machine": machine, "goal_s": GOAL_S, "runs": runs})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
