"""Reliability figures: run the fault/case suite and count what it really tried.

    python -m fgvc_mobile.studies.reliability_report [--out benchmarks/results/reliability.md]

Runs ``tests/test_reliability_*.py`` (slow tests included) in a subprocess; every test appends
what it tried to a ledger (``FGVC_RELIABILITY_LEDGER``): cases per category, faults injected,
runs resumed, files checked and files lost. This script sums the ledger, reads the pytest
outcome from its JUnit XML, and writes both with the exact command and the machine. It exits
with status 1 when a test failed or a file was lost. Needs a source checkout (the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from fgvc_mobile.benchmarks.machine import describe_host
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.serialization import atomic_write_text
from fgvc_mobile.studies.results import command_of

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "reliability.md"
CATEGORIES = {  # ledger category -> (title, what its tests try)
    "hostile": ("Hostile files", "pickles that would run code (torch zip and legacy) via eval, export, predict, "
                "train --resume/--pretrained/--teacher and bench --reference; checkpoints that unpickle safely but lie; "
                "empty, random, truncated torch files and .onnx/.tflite artifacts in predict and bench; manifests "
                "that contradict themselves or the model (shapes, dtype, labels vs outputs, probabilities)"),
    "images": ("Images", "zero-byte, truncated JPEG/PNG, random bytes, text, decompression bombs (error and "
               "warning level) and alpha, 16-bit, CMYK, palette, EXIF-rotated, 1x1, gray images in training "
               "(with and without --skip-bad, 0 and 1 workers), calibration/validation sets and predict"),
    "faults": ("Faults", "SIGKILL mid-batch, in an epoch's first batch and during a checkpoint write, Ctrl-C "
               "mid-batch, in an epoch's last batch and inside an epoch's first batch (each at a chosen "
               "step), ENOSPC/EROFS/EACCES "
               "on checkpoint writes, a real full and read-only tmpfs for training and export, a file where "
               "the output folder should be, a failed rename at every step of publishing an export"),
    "fuzzing": ("Fuzzing (Hypothesis examples)", "random and mutated image bytes in predict; random and mutated "
                "manifests in both readers and predict; CUB, CSV and aircraft index files with '..', absolute, "
                "NUL, huge and non-UTF-8 entries; random argv from the real options of every command"),
    "paths": ("Paths", "spaces and non-ASCII characters through train, export, predict and bench; index "
              "entries outside the data root through every reader (CUB, CSV, aircraft, Cars devkit and "
              "all-in-one)"),
}
FAULT_COUNTS = {
    "faults_injected": "faults injected",
    "runs_resumed": "runs resumed after a fault",
    "kill_during_write": "SIGKILLs that landed while a checkpoint was being written",
    "mid_epoch_resume": "Ctrl-C checkpoints resumed mid-epoch",
    "files_checked": "previous good files checked after a fault",
    "files_lost": "files lost or changed (must be 0)",
}


def _tests() -> list[str]:
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_reliability_*.py"))
    if not files:
        raise FGVCError(f"{REPO / 'tests'}: no test_reliability_*.py here; run this from a source checkout")
    return files


def run_suite(files: list[str], ledger: Path, junit: Path, slow: bool, fuzz_examples: int | None) -> int:
    env = {**os.environ, "FGVC_RELIABILITY_LEDGER": str(ledger)}
    if fuzz_examples:
        env["FGVC_FUZZ_EXAMPLES"] = str(fuzz_examples)
    cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           "-m", "slow or not slow" if slow else "not slow"]
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


def read_ledger(path: Path) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for k, v in row.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    totals[row["category"]][k] += v
    return {c: dict(v) for c, v in totals.items()}


def read_junit(path: Path) -> dict:
    out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0, "skips": [], "failed": []}
    if not path.is_file():
        return out
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for k in ("tests", "failures", "errors", "skipped"):
            out[k] += int(suite.get(k, 0))
        out["time"] += float(suite.get("time", 0))
        for case in suite.iter("testcase"):
            name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
            skip = case.find("skipped")
            if skip is not None:
                out["skips"].append(f"{name}: {skip.get('message', '')}")
            if case.find("failure") is not None or case.find("error") is not None:
                out["failed"].append(name)
    return out


def render(ledger: dict, junit: dict, command: str, host: dict, seconds: float, slow: bool, fuzz: bool = False) -> str:
    lib = host.get("libraries") or {}
    passed = junit["tests"] - junit["failures"] - junit["errors"] - junit["skipped"]
    lines = [
        "# Reliability: bad input, faults and hostile files",
        "",
        f"Produced by `{command}` on {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} "
        f"in {seconds:.0f} s (wall clock, shared machine).",
        "",
        f"Machine: {host.get('cpu_model')}, {host.get('cores')} usable cores, {host.get('os')}, Python "
        f"{host.get('python')}, torch {lib.get('torch')}, onnxruntime {lib.get('onnxruntime')}, ai-edge-litert "
        f"{lib.get('ai-edge-litert')}, Pillow {lib.get('pillow')}.",
        "",
        f"Suite: `tests/test_reliability_*.py` ({'slow tests included' if slow else 'default suite'}), "
        f"{junit['tests']} tests: {passed} passed, {junit['failures'] + junit['errors']} failed, "
        f"{junit['skipped']} skipped. Faults are injected at chosen steps; fuzz examples are "
        f"{'random (--fuzz-examples)' if fuzz else 'the same every run (derandomized)'}.",
        "",
        "## Cases tried per category",
        "",
        "| category | cases tried | what |",
        "|---|---:|---|",
    ]
    for key, (title, what) in CATEGORIES.items():
        counts = ledger.get(key, {})
        n = counts.get("cases", 0) + (counts.get("faults_injected", 0) if key == "faults" else 0)
        lines.append(f"| {title} | {n} | {what} |")
    faults = ledger.get("faults", {})
    lines += ["", "## Faults", "", "| | count |", "|---|---:|"]
    lines += [f"| {label} | {faults.get(k, 0)} |" for k, label in FAULT_COUNTS.items()]
    if junit["failed"]:
        lines += ["", "## Failed tests", ""] + [f"- {n}" for n in junit["failed"]]
    if junit["skips"]:
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in junit["skips"]]
    lines += ["", "What each guarantee means, and what is refused: [docs/reliability.md](../../docs/reliability.md).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="Markdown file to write (default: %(default)s)")
    ap.add_argument("--no-slow", action="store_true", help="the default suite only (skip tests marked slow)")
    ap.add_argument("--fuzz-examples", type=int, default=None, help="Hypothesis examples per fuzz test")
    args = ap.parse_args(argv)
    command = command_of("reliability_report", argv)
    with tempfile.TemporaryDirectory(prefix="reliability-") as d:
        ledger, junit = Path(d) / "ledger.jsonl", Path(d) / "junit.xml"
        t0 = time.monotonic()
        rc = run_suite(_tests(), ledger, junit, not args.no_slow, args.fuzz_examples)
        seconds = time.monotonic() - t0
        counts, outcome = read_ledger(ledger), read_junit(junit)
    text = render(counts, outcome, command, describe_host(None), seconds, not args.no_slow, bool(args.fuzz_examples))
    atomic_write_text(args.out, text)
    lost = counts.get("faults", {}).get("files_lost", 0)
    print(f"wrote {args.out}: {outcome['tests']} tests, {outcome['failures'] + outcome['errors']} failed, "
          f"files lost {lost}")
    return 1 if rc != 0 or lost else 0


if __name__ == "__main__":
    sys.exit(main())
