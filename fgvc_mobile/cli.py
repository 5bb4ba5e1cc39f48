"""``fgvc-mobile``: one command per pipeline stage (train, eval, export, predict, bench, demo).

Each subcommand lives in its own module and registers ``add_arguments`` + ``run``; this file
only dispatches and turns user errors into one-line messages (exit code 2).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.extras import install_hint, missing_message

# name -> module providing add_arguments(parser) and run(args); imported lazily so that
# `fgvc-mobile train` never imports the exporters' heavy dependencies.
COMMANDS = {
    "train": ("fgvc_mobile.commands.train", "train a model (rmg-pmsi, baseline, ...)"),
    "eval": ("fgvc_mobile.commands.evaluate", "evaluate a checkpoint on a data set's test split"),
    "demo": ("fgvc_mobile.commands.demo", "the whole pipeline on the embedded synthetic data set"),
    "export": ("fgvc_mobile.export.cli", "export a checkpoint to ONNX / TFLite / CoreML (fp32, int8)"),
    "predict": ("fgvc_mobile.export.predict_cli", "top-5 for images from any artifact or checkpoint"),
    "bench": ("fgvc_mobile.benchmarks.cli", "latency and accuracy of exported artifacts"),
}


def one_line(e: BaseException) -> str:
    """A user-facing one-liner; unwraps errors re-raised from DataLoader worker processes."""
    msg = str(e).strip()
    if msg.startswith("Caught ") and "Original Traceback" in msg:
        last = [ln for ln in msg.splitlines() if ln.strip()][-1]
        msg = last.split(": ", 1)[1] if ": " in last else last
    return msg.splitlines()[0] if msg else e.__class__.__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fgvc-mobile", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            p.set_defaults(_unavailable=missing_message(name, e)
                           or f"fgvc-mobile {name}: unavailable ({one_line(e)}); {install_hint('export')}")
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the parser imports torch and the commands, before any work
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    if not args.command:
        parser.print_help(sys.stderr)  # a usage error (exit 2): the help goes where errors go
        return 2
    if getattr(args, "_unavailable", None):
        print(f"error: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        rc = args._run(args)
        return int(rc or 0)
    except FGVCError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except ImportError as e:  # an optional dependency (an extra) is not installed
        msg = missing_message(args.command, e)
        if msg is None:
            raise
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
