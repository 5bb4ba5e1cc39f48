"""``fgvc-mobile bench``: arguments and command; the main CLI only registers the subcommand.

    fgvc-mobile bench --artifacts dist/ --data cub:/data/CUB_200_2011 --out reports/cub100/
    fgvc-mobile bench --artifacts dist/ --target adb --benchmark-model ./benchmark_model --out reports/phone/
    fgvc-mobile bench --import phone_report.json --out reports/phone/
"""

from __future__ import annotations

import argparse
import shlex
import sys

from fgvc_mobile.errors import FGVCError

TARGET_HELP = "host: CPU runtimes plus CUDA ones when a GPU is present; cpu / cuda: one side only; adb: a phone"


def add_bench_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--artifacts", help="folder of exported artifacts with their manifests (searched recursively), or one manifest file")
    parser.add_argument("--data", help="data set for accuracy, KIND:PATH (e.g. cub:/data/CUB_200_2011); its test split is used")
    parser.add_argument("--out", default="reports/bench", help="folder for report.json, report.md, the PNG plots and report.html (default: %(default)s)")
    parser.add_argument("--target", default="host", help=f"where to run ({TARGET_HELP}; default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per runtime (default: min(4, usable cores)); recorded in the report")
    parser.add_argument("--runs", type=int, default=50, help="timed runs at batch 1 after the warmup (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs after the first inference (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only this many test images, spread evenly over the split")
    parser.add_argument("--reference", default=None, help="fp32 checkpoint to compare against (default: each manifest's source.checkpoint)")
    parser.add_argument("--eval-batch", type=int, default=32, help="batch size of the accuracy pass where the model allows it (default: %(default)s)")
    parser.add_argument("--cache-dir", default=None, help="keep the decoded test crops here (a .npy per input size) and reuse them on later runs")
    parser.add_argument("--benchmark-model", default=None, help="--target adb: LiteRT's benchmark_model binary built for the phone")
    parser.add_argument("--delegates", default="xnnpack", help="--target adb: comma-separated, of cpu,xnnpack,gpu,nnapi (default: %(default)s)")
    parser.add_argument("--serial", default=None, help="--target adb: device serial when several are connected")
    parser.add_argument("--adb", default=None, help="--target adb: path to the adb client (default: adb on PATH)")
    parser.add_argument("--import", dest="import_path", default=None, help="render a report JSON written elsewhere (e.g. by the Android app) instead of measuring")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def bench_command(args: argparse.Namespace) -> int:
    """Run or import a benchmark; FGVCError propagates for the main CLI to print as one line."""
    from fgvc_mobile.benchmarks.bench import import_report, run_bench

    if args.import_path:
        if args.artifacts:
            raise FGVCError("--import renders an existing report: drop --artifacts (or drop --import to measure)")
        report = import_report(args.import_path, args.out)
    else:
        if not args.artifacts:
            raise FGVCError("--artifacts is required (a folder of exported models with manifests), or use --import REPORT.json")
        delegates = tuple(d.strip() for d in (args.delegates or "").split(",") if d.strip())
        report = run_bench(
            args.artifacts, args.data, args.out, threads=args.threads, runs=args.runs, warmup=args.warmup,
            limit=args.limit, target=args.target, benchmark_model=args.benchmark_model,
            reference_checkpoint=args.reference, delegates=delegates, serial=args.serial, adb=args.adb,
            eval_batch=args.eval_batch, cache_dir=args.cache_dir, progress=not args.no_progress,
            command=shlex.join(["fgvc-mobile", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else None,
        )
    n_ok = sum(1 for r in report["results"] if not r.get("skipped_reason"))
    print(f"{n_ok} measured, {len(report['results']) - n_ok} skipped rows -> {args.out}/report.json, report.md, report.html")
    return 0


# the names fgvc_mobile.cli looks for in every subcommand module
add_arguments = add_bench_arguments
run = bench_command
