"""Shared fixtures of the reliability suite: a tiny data set, checkpoint and exported artifacts,
the CLI runner that tells one-line errors from tracebacks, and the ledger the report counts.

Import the fixtures into a test module (``from reliability_fixtures import rel_data, ...``);
they are session-scoped, so the export runs once however many modules use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench_helpers import make_checkpoint
from conftest import make_image_folder
from fgvc_mobile.cli import main

#: studies/reliability_report.py sets this to a file; each ``record`` appends one JSON line
LEDGER_ENV = "FGVC_RELIABILITY_LEDGER"
CLASSES = ["class_0", "class_1", "class_2"]
_PROGRESS = re.compile(r"\d+/\d+ \[[\d:<?]+|^\s+$")  # a tqdm bar: "3/8 [00:01<00:02"


def record(category: str, **counts: int) -> None:
    """Count what a test really tried (cases, faults injected, runs resumed, files checked/lost)."""
    path = os.environ.get(LEDGER_ENV)
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"category": category, "test": test, **counts}) + "\n")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``fgvc-mobile ARGV`` in-process: (exit code, stdout, stderr).

    Anything but a return code or argparse's SystemExit propagates, so a traceback fails the test.
    """
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 2
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def one_line_error(capsys, *argv: str) -> str:
    """Run the CLI, expect exit 2 with exactly one ``error:`` line on stderr; return that line."""
    rc, _, err = cli(capsys, *argv)
    # progress bars end in a carriage return: on a terminal the error overwrites them
    lines = [ln for ln in err.splitlines() if ln.strip() and not _PROGRESS.search(ln)]
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="session")
def rel_data(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("rel_data"), classes=len(CLASSES), train=6, test=3)


@pytest.fixture(scope="session")
def rel_checkpoint(tmp_path_factory, rel_data) -> Path:
    """A tiny baseline checkpoint whose predictions depend on the image (no training loop)."""
    path = tmp_path_factory.mktemp("rel_ckpt") / "best.pt"
    make_checkpoint(path, CLASSES, rel_data)
    return path


@pytest.fixture(scope="session")
def rel_dist(tmp_path_factory, rel_checkpoint, rel_data) -> Path:
    """fp32 ONNX and TFLite artifacts of ``rel_checkpoint`` made by the real exporter."""
    from fgvc_mobile.export.pipeline import ExportRequest, run_export

    out = tmp_path_factory.mktemp("rel_dist") / "dist"
    run_export(ExportRequest(checkpoint=str(rel_checkpoint), out=str(out), format="onnx,tflite",
                             val_data=f"folder:{rel_data}"), echo=lambda *_: None)
    return out


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int):
    """A real, tiny filesystem at ``path`` (root only): full-disk and read-only faults for real.

    Skips the calling test where mounting is not allowed; the monkeypatched fault tests cover
    the same code paths there.
    """
    path.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount_read_only(path: Path) -> None:
    """Make a mounted tmpfs read-only: writes fail with EROFS even for root."""
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove nothing changed or was lost."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def files_lost(before: dict[str, bytes], folder: Path) -> int:
    """How many files of ``before`` are missing from ``folder`` or changed."""
    after = snapshot(folder) if folder.exists() else {}
    return sum(1 for k, v in before.items() if after.get(k) != v)
