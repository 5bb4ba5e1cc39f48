"""Faults for real: a training process SIGKILLed or Ctrl-C'd at a random point resumes to the
same result; a full disk or read-only folder during checkpointing leaves the previous good files
intact (a tiny tmpfs where we may mount one, monkeypatched errors everywhere). The same faults
during export: tests/test_reliability_export_faults.py.

The kill points are random; the seed is printed in every failure message (set
FGVC_FAULT_SEED to replay one).
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import make_image_folder
from fgvc_mobile.train.checkpoint import load_checkpoint
from reliability_fixtures import (  # noqa: F401
    cli, files_lost, one_line_error, record, rel_checkpoint, rel_data, rel_dist, remount_read_only, snapshot, tmpfs,
)

EPOCHS = 4
TRAIN = ["--method", "rmg-pmsi", "--model", '{"feature_size": 16, "descriptor": 32, "width_mult": 0.35}', "--img-size", "32",
         "--resize", "36", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--seed", "7", "--lr", "0.01"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SEED = int(os.environ.get("FGVC_FAULT_SEED") or random.SystemRandom().randrange(2**31))


def _untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if "seconds" not in k and not k.endswith("_per_s")}


def _train(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fgvc_mobile.cli", "train", *map(str, argv)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _epoch_of(path: Path) -> int:
    try:
        return load_checkpoint(path)["epoch"]
    except Exception:  # not written yet
        return -1


def _wait_for_epoch(proc: subprocess.Popen, last: Path, epoch: int, timeout: float = 600) -> None:
    t0 = time.monotonic()
    while _epoch_of(last) < epoch:
        assert proc.poll() is None, f"training ended early (seed {SEED}): {proc.stderr.read()[-2000:]}"
        assert time.monotonic() - t0 < timeout
        time.sleep(0.05)


def _same_run(a: Path, b: Path, why: str) -> None:
    """Bit-identical weights and identical metrics (timings aside) of two runs' last.pt."""
    ca, cb = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    assert ca["epoch"] == cb["epoch"] == EPOCHS, why
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), f"{k} differs ({why})"
    assert [_untimed(r) for r in ca["history"]] == [_untimed(r) for r in cb["history"]], why
    assert (b / "metrics.csv").read_text().count("\n") == EPOCHS + 1, why  # no duplicated rows


@pytest.fixture(scope="module")
def fault_data(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("fault_data"), train=8, test=4)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fault_data) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    rc, err = _finish(_train("--data", f"folder:{fault_data}", "--out", out, "--epochs", EPOCHS, *TRAIN))
    assert rc == 0, err
    return out


@pytest.mark.parametrize("where", ["random point", pytest.param("during a checkpoint write", marks=pytest.mark.slow)])
def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path, fault_data, uninterrupted, where):
    rng = random.Random(f"{SEED}-{where}")
    out = tmp_path / "run"
    proc = _train("--data", f"folder:{fault_data}", "--out", out, "--epochs", EPOCHS, *TRAIN)
    after = rng.randint(1, EPOCHS - 2)
    _wait_for_epoch(proc, out / "last.pt", after)
    caught_write = False
    if where == "random point":  # time one epoch, then kill at a random moment of the next
        t0 = time.monotonic()
        _wait_for_epoch(proc, out / "last.pt", after + 1)
        time.sleep((time.monotonic() - t0) * rng.uniform(0.0, 0.8))
    else:  # kill the moment a temporary checkpoint file appears (atomic_path's .last.pt.*.tmp)
        seen = (out / "last.pt").stat().st_mtime_ns
        while proc.poll() is None:
            if any(n.startswith(".last.pt.") for n in os.listdir(out)):
                caught_write = True
                break
            if (out / "last.pt").stat().st_mtime_ns != seen:  # missed this write: kill now, mid-epoch
                break
    assert proc.poll() is None, f"the run ended before the kill (seed {SEED})"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # the last checkpoint is whole (the old one if the kill hit its replacement mid-write)
    killed_at = _epoch_of(out / "last.pt")
    record("faults", faults_injected=1, kill_during_write=int(caught_write), files_checked=1,
           files_lost=int(killed_at < 0))
    assert after <= killed_at < EPOCHS, f"seed {SEED}"
    # resume with nothing but the checkpoint: its own epochs, folder and settings
    rc, err = _finish(_train("--resume", out / "last.pt"))
    assert rc == 0, f"seed {SEED}: {err[-2000:]}"
    _same_run(uninterrupted, out, f"seed {SEED}, killed after epoch {killed_at} ({where})")
    record("faults", runs_resumed=1)


class _Stderr(threading.Thread):
    """Collects a child's stderr as it arrives, so a test can act on its progress bars."""

    def __init__(self, proc: subprocess.Popen):
        super().__init__(daemon=True)
        self.proc, self.buf = proc, bytearray()
        self.start()

    def run(self) -> None:
        while chunk := os.read(self.proc.stderr.fileno(), 4096):
            self.buf += chunk

    def text(self) -> str:
        return self.buf.decode("utf-8", errors="replace")


@pytest.mark.parametrize("when", ["mid-epoch", pytest.param("random point", marks=pytest.mark.slow)])
def test_ctrl_c_writes_a_resumable_checkpoint(tmp_path, fault_data, uninterrupted, when):
    rng = random.Random(f"{SEED}-sigint-{when}")
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "fgvc_mobile.cli", "train", "--data", f"folder:{fault_data}",
                             "--out", str(out), "--epochs", str(EPOCHS), *TRAIN], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = _Stderr(proc)
    if when == "random point":
        after = rng.randint(1, EPOCHS - 2)
        _wait_for_epoch(proc, out / "last.pt", after)
        time.sleep(rng.uniform(0.0, 1.0))
    else:  # time one epoch, then interrupt the next one part-way through its batches
        after = EPOCHS - 2
        _wait_for_epoch(proc, out / "last.pt", after - 1)
        t0 = time.monotonic()
        _wait_for_epoch(proc, out / "last.pt", after)
        epoch_seconds = time.monotonic() - t0
        while f"epoch {after + 1} train" not in stderr.text() and proc.poll() is None:  # its progress bar
            time.sleep(0.01)
        time.sleep(epoch_seconds * rng.uniform(0.1, 0.3))
    assert proc.poll() is None, f"the run ended before Ctrl-C (seed {SEED})"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=600)
    stderr.join(timeout=60)
    err = stderr.text()
    record("faults", faults_injected=1, files_checked=1, files_lost=int(_epoch_of(out / "last.pt") < 0))
    ckpt = load_checkpoint(out / "last.pt")
    if ckpt["epoch"] == EPOCHS:  # the signal landed after the last epoch (while exiting): a finished run
        assert proc.returncode in (0, 130, -signal.SIGINT), f"seed {SEED}: {err[-2000:]}"
        _same_run(uninterrupted, out, f"seed {SEED}, Ctrl-C after the last epoch")
        return
    assert proc.returncode == 130 and "Traceback" not in err, f"seed {SEED}: {err[-2000:]}"
    assert err.rstrip().endswith("interrupted")
    assert after <= ckpt["epoch"] < EPOCHS
    rc, err = _finish(_train("--resume", out / "last.pt"))
    assert rc == 0, f"seed {SEED}: {err[-2000:]}"
    done = load_checkpoint(out / "last.pt")
    assert done["epoch"] == EPOCHS and len(done["history"]) == EPOCHS
    assert (out / "metrics.csv").read_text().count("\n") == EPOCHS + 1
    if ckpt.get("batches_done", 0) == 0:  # stopped between epochs: the resumed run is the same run
        _same_run(uninterrupted, out, f"seed {SEED}, Ctrl-C after epoch {ckpt['epoch']}")
    record("faults", runs_resumed=1, mid_epoch_resume=int(ckpt.get("batches_done", 0) > 0))


def test_ctrl_c_before_a_batch_finishes_keeps_the_exact_epoch_checkpoint(monkeypatch, tmp_path, rel_data):
    """An interrupt inside the first batch of an epoch must not replace the clean end-of-epoch
    last.pt with a model holding half a batch (BN statistics moved, some steps applied)."""
    from conftest import tiny_config
    from fgvc_mobile.methods import get_method
    from fgvc_mobile.train.trainer import fit

    recipe = get_method("rmg-pmsi")
    real = type(recipe).training_steps
    seen = {}

    def half_a_batch(self, model, images, labels, ctx):
        if ctx.epoch == 1:
            seen["epoch_1"] = (tmp_path / "run" / "last.pt").read_bytes()
            model(images)  # a forward pass moves the BN running statistics, as a real one would
            raise KeyboardInterrupt
        yield from real(self, model, images, labels, ctx)

    monkeypatch.setattr(type(recipe), "training_steps", half_a_batch)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(rel_data, tmp_path / "run", epochs=2), show_progress=False)
    lost = int((tmp_path / "run" / "last.pt").read_bytes() != seen["epoch_1"])
    record("faults", faults_injected=1, files_checked=1, files_lost=lost)
    assert lost == 0


# ---- full disk, read-only folder: checkpoints ---------------------------------------------------


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory, fault_data) -> Path:
    """A finished 1-epoch run (planned as 3) to resume under faults; copied per test."""
    out = tmp_path_factory.mktemp("one_epoch") / "run"
    rc, err = _finish(_train("--data", f"folder:{fault_data}", "--out", out, "--epochs", 1, *TRAIN))
    assert rc == 0, err
    return out


def _failing_replace(monkeypatch, name: str, code: int):
    """os.replace raising ``code`` when it would put a file named ``name`` in place."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst).name == name:
            raise OSError(code, os.strerror(code), str(src))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_checkpoint_write_failure_keeps_the_previous_checkpoint(capsys, monkeypatch, tmp_path, one_epoch_run, code):
    out = tmp_path / "run"
    shutil.copytree(one_epoch_run, out)
    before = snapshot(out)
    _failing_replace(monkeypatch, "last.pt", code)
    line = one_line_error(capsys, "train", "--resume", out / "last.pt", "--epochs", 3)
    lost = files_lost({"last.pt": before["last.pt"], "best.pt": before["best.pt"]}, out)
    record("faults", faults_injected=1, files_checked=2, files_lost=lost)
    assert "last.pt" in line and os.strerror(code) in line and "previous file is intact" in line
    assert lost == 0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    monkeypatch.undo()
    if code == errno.ENOSPC:  # and once space is back it resumes (once is enough: same code path)
        rc, _, err = cli(capsys, "train", "--resume", out / "last.pt", "--epochs", 2)
        assert rc == 0, err
        record("faults", runs_resumed=1)


def test_full_disk_during_training_for_real(capsys, tmp_path, one_epoch_run):
    need = sum(p.stat().st_size for p in one_epoch_run.iterdir())
    ckpt = (one_epoch_run / "last.pt").stat().st_size
    with tmpfs(tmp_path / "disk", (need + ckpt // 2) // 1024 + 8) as disk:
        out = disk / "run"
        shutil.copytree(one_epoch_run, out)
        before = snapshot(out)
        line = one_line_error(capsys, "train", "--resume", out / "last.pt", "--epochs", 3)
        lost = files_lost({k: before[k] for k in ("last.pt", "best.pt")}, out)
        record("faults", faults_injected=1, files_checked=2, files_lost=lost)
        assert "No space left on device" in line and lost == 0
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
        rc, _, err = cli(capsys, "train", "--resume", out / "last.pt", "--epochs", 2, "--out", tmp_path / "moved")
        assert rc == 0, err
        record("faults", runs_resumed=1)


def test_read_only_run_folder_for_real(capsys, tmp_path, one_epoch_run):
    with tmpfs(tmp_path / "disk", 64 * 1024) as disk:
        shutil.copytree(one_epoch_run, disk / "run")
        before = snapshot(disk / "run")
        remount_read_only(disk)
        line = one_line_error(capsys, "train", "--resume", disk / "run" / "last.pt", "--epochs", 2)
        lost = files_lost(before, disk / "run")
        record("faults", faults_injected=1, files_checked=len(before), files_lost=lost)
        assert "Read-only file system" in line and lost == 0


def test_a_file_where_the_output_folder_should_be(capsys, tmp_path, rel_checkpoint, rel_data, rel_dist):
    """Root ignores permissions; a file in the way is the read-only folder every user can make."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("precious\n")
    data = f"folder:{rel_data}"
    cases = {
        "train": ["train", "--data", data, "--out", blocker / "run", "--img-size", "32", "--resize", "36",
                  "--epochs", "1", "--workers", "0", "--batch-size", "4", "--method", "baseline",
                  "--model", '{"width_mult": 0.25}'],
        "export": ["export", "--checkpoint", rel_checkpoint, "--format", "onnx", "--val-data", data,
                   "--out", blocker / "dist"],
        "export onto a file": ["export", "--checkpoint", rel_checkpoint, "--format", "onnx", "--out", blocker],
        "bench": ["bench", "--artifacts", rel_dist, "--data", data, "--out", blocker / "rep", "--runs", "1",
                  "--warmup", "0", "--limit", "1", "--no-progress"],
        "eval --json": ["eval", "--checkpoint", rel_checkpoint, "--data", data, "--workers", "0",
                        "--json", blocker / "m.json"],
    }
    for name, argv in cases.items():
        line = one_line_error(capsys, *argv)
        lost = int(blocker.read_text() != "precious\n")
        record("faults", faults_injected=1, files_checked=1, files_lost=lost)
        assert "not_a_folder" in line, (name, line)
        assert lost == 0, name
