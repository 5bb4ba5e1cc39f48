"""Faults for real: a training process SIGKILLed or Ctrl-C'd at a chosen step resumes to the
same result; a full disk or read-only folder during checkpointing leaves the previous good files
intact (a tiny tmpfs where we may mount one, monkeypatched errors everywhere). The same faults
during export: tests/test_reliability_export_faults.py.

The faults are injected at chosen steps by tests/fault_child.py (mid-batch, in the last batch of
an epoch, during a checkpoint write), never at a moment picked by a clock or a random draw.
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import make_image_folder
from fgvc_mobile.models.load import read_checkpoint
from reliability_fixtures import (  # noqa: F401
    cli, files_lost, one_line_error, record, rel_checkpoint, rel_data, rel_dist, remount_read_only, snapshot, tmpfs,
)

EPOCHS = 4
TRAIN = ["--method", "rmg-pmsi", "--model", '{"feature_size": 16, "descriptor": 32, "width_mult": 0.35}', "--img-size", "32",
         "--resize", "36", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--seed", "7", "--lr", "0.01",
         "--pretrained", "none"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
CHILD = Path(__file__).with_name("fault_child.py")
BATCHES = 6  # 3 classes x 8 training images, batch size 4


def _untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if "seconds" not in k and not k.endswith("_per_s")}


def _train(*argv, fault: str | None = None) -> subprocess.Popen:
    """``fgvc-mobile train ARGV``; with ``fault``, through tests/fault_child.py (FGVC_TEST_FAULT)."""
    cmd = [sys.executable, str(CHILD)] if fault else [sys.executable, "-m", "fgvc_mobile.cli"]
    env = {**ENV, "FGVC_TEST_FAULT": fault} if fault else ENV
    return subprocess.Popen([*cmd, "train", *map(str, argv)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _epoch_of(path: Path) -> int:
    try:
        return read_checkpoint(path)["epoch"]
    except Exception:  # not written yet
        return -1


def _same_run(a: Path, b: Path, why: str) -> None:
    """Bit-identical weights and identical metrics (timings aside) of two runs' last.pt."""
    ca, cb = read_checkpoint(a / "last.pt"), read_checkpoint(b / "last.pt")
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


@pytest.mark.parametrize("where,fault,expect_epoch", [
    ("mid-batch", "KILL@2,3,2", 2),  # epoch 3, batch 4, after 2 of its 4 phases
    pytest.param("first batch of an epoch", "KILL@1,0,0", 1, marks=pytest.mark.slow),
    pytest.param("during a checkpoint write", "KILL@write:last.pt,2", 1, marks=pytest.mark.slow),
])
def test_sigkill_then_resume_equals_the_uninterrupted_run(tmp_path, fault_data, uninterrupted, where, fault,
                                                         expect_epoch):
    out = tmp_path / "run"
    proc = _train("--data", f"folder:{fault_data}", "--out", out, "--epochs", EPOCHS, *TRAIN, fault=fault)
    rc, err = _finish(proc)
    assert rc == -signal.SIGKILL, f"{where}: {err[-2000:]}"
    caught_write = any(p.name.startswith(".last.pt.") for p in out.iterdir())  # the temporary file the kill left
    # the last checkpoint is whole: the previous one, when the kill hit its replacement mid-write
    killed_at = _epoch_of(out / "last.pt")
    record("faults", faults_injected=1, kill_during_write=int(caught_write), files_checked=1,
           files_lost=int(killed_at < 0))
    assert killed_at == expect_epoch, where
    assert caught_write == (where == "during a checkpoint write")
    # resume with nothing but the checkpoint: its own epochs, folder and settings
    rc, err = _finish(_train("--resume", out / "last.pt"))
    assert rc == 0, err[-2000:]
    _same_run(uninterrupted, out, f"killed {where}, after epoch {killed_at}")
    record("faults", runs_resumed=1)


@pytest.mark.parametrize("where,fault,expect", [
    ("mid-epoch, mid-batch", "INT@2,1,2", (2, 2)),  # stops when batch 2 of epoch 3 is done
    pytest.param("the last batch of an epoch", f"INT@1,{BATCHES - 1},1", (1, BATCHES), marks=pytest.mark.slow),
])
def test_ctrl_c_writes_a_resumable_checkpoint(tmp_path, fault_data, uninterrupted, where, fault, expect):
    out = tmp_path / "run"
    proc = _train("--data", f"folder:{fault_data}", "--out", out, "--epochs", EPOCHS, *TRAIN, fault=fault)
    rc, err = _finish(proc)
    record("faults", faults_injected=1, files_checked=1, files_lost=int(_epoch_of(out / "last.pt") < 0))
    assert rc == 130 and "Traceback" not in err, err[-2000:]
    assert err.rstrip().endswith("interrupted")
    ckpt = read_checkpoint(out / "last.pt")
    assert (ckpt["epoch"], ckpt["batches_done"]) == expect  # Ctrl-C lets the batch it lands in finish
    rc, err = _finish(_train("--resume", out / "last.pt"))
    assert rc == 0, err[-2000:]
    _same_run(uninterrupted, out, f"Ctrl-C {where}")
    record("faults", runs_resumed=1, mid_epoch_resume=int(ckpt["batches_done"] > 0))


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
                  "--model", '{"width_mult": 0.25}', "--pretrained", "none"],
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
