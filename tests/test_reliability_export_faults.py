"""Faults during export: a publish that fails or is killed between any two renames, a full disk
and a read-only folder all leave the previous export in ``--out`` intact (a tiny tmpfs where we
may mount one, monkeypatched renames everywhere). Training faults: tests/test_reliability_faults.py.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from reliability_fixtures import (  # noqa: F401
    files_lost, one_line_error, record, rel_checkpoint, rel_data, rel_dist, remount_read_only, snapshot, tmpfs,
)


def _staged(dist: Path, tmp: Path) -> Path:
    """A finished export waiting to be published: every file changed, one new file and folder."""
    stage = tmp / "stage"
    shutil.copytree(dist, stage)
    for p in stage.iterdir():
        p.write_bytes(p.read_bytes() + b"\n# new export\n")
    (stage / "model_fp32.mlpackage").mkdir()
    (stage / "model_fp32.mlpackage" / "Manifest.json").write_text("{}")
    return stage


def test_publish_failing_at_any_step_leaves_the_previous_export(monkeypatch, tmp_path, rel_dist):
    from fgvc_mobile.errors import FGVCError
    from fgvc_mobile.export import publish

    out = tmp_path / "dist"
    shutil.copytree(rel_dist, out)
    (out / "model_fp32.mlpackage").mkdir()  # an old bundle the new one replaces
    (out / "model_fp32.mlpackage" / "old.bin").write_bytes(b"old")
    before = snapshot(out)
    real = os.replace
    n_moves = len(list(rel_dist.iterdir())) + 1
    lost = 0
    for fail_at in range(2 * n_moves):  # each publish makes up to 2 renames per file
        calls = {"n": 0}

        def replace(src, dst, *a, **k):
            calls["n"] += 1
            if calls["n"] == fail_at + 1:
                raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
            return real(src, dst, *a, **k)

        stage = _staged(rel_dist, tmp_path / f"try{fail_at}")
        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(FGVCError, match="previous files are intact"):
            publish.publish(stage, out)
        monkeypatch.undo()
        lost += files_lost(before, out)
        assert snapshot(out) == before, f"failure at rename {fail_at + 1} changed {out}"
        assert not [p for p in out.iterdir() if p.name.startswith(".previous-")]
    record("faults", faults_injected=2 * n_moves, files_checked=2 * n_moves * len(before), files_lost=lost)
    publish.publish(_staged(rel_dist, tmp_path / "ok"), out)  # and without a fault it publishes
    assert (out / "model_fp32.onnx").read_bytes().endswith(b"# new export\n")
    assert not (out / "model_fp32.mlpackage" / "old.bin").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".previous-")]


class _Killed(BaseException):
    """Stands for SIGKILL: nothing in the process gets to clean up after it."""


def test_publish_killed_between_any_two_renames_is_undone_by_the_next_export(monkeypatch, tmp_path, rel_dist):
    from fgvc_mobile.export import publish

    out = tmp_path / "dist"
    shutil.copytree(rel_dist, out)
    (out / "model_fp32.mlpackage").mkdir()
    (out / "model_fp32.mlpackage" / "old.bin").write_bytes(b"old")
    before = snapshot(out)
    real = os.replace
    n_moves = len(list(rel_dist.iterdir())) + 1
    lost = 0
    for kill_at in range(2 * n_moves):
        calls = {"n": 0}

        def replace(src, dst, *a, **k):
            calls["n"] += 1
            if calls["n"] == kill_at + 1:
                raise _Killed
            return real(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(_Killed):
            publish.publish(_staged(rel_dist, tmp_path / f"try{kill_at}"), out)
        monkeypatch.undo()
        if kill_at:  # the first rename never ran: nothing to undo, but the journal is there
            assert snapshot(out) != before, "the kill should have left a half-published folder"
        messages = []
        assert publish.recover_interrupted_publish(out, messages.append) == 1
        lost += files_lost(before, out)
        assert snapshot(out) == before, f"kill at rename {kill_at + 1}: {out} not restored"
        assert not [p for p in out.iterdir() if p.name.startswith(".previous-")]
        assert "were put back" in messages[0]
    record("faults", faults_injected=2 * n_moves, files_checked=2 * n_moves * len(before), files_lost=lost)
    assert publish.recover_interrupted_publish(out, print) == 0  # nothing left to undo


def test_full_disk_during_export_for_real(capsys, tmp_path, rel_checkpoint, rel_data, rel_dist):
    size = sum(p.stat().st_size for p in rel_dist.iterdir())
    with tmpfs(tmp_path / "disk", (size + size // 2) // 1024) as disk:
        shutil.copytree(rel_dist, disk / "dist")
        before = snapshot(disk / "dist")
        line = one_line_error(capsys, "export", "--checkpoint", rel_checkpoint, "--format", "onnx,tflite",
                              "--val-data", f"folder:{rel_data}", "--out", disk / "dist")
        lost = files_lost(before, disk / "dist")
        record("faults", faults_injected=1, files_checked=len(before), files_lost=lost)
        assert "No space left on device" in line and lost == 0
        assert sorted(p.name for p in disk.iterdir()) == ["dist"]  # no staging folder left behind


def test_read_only_export_folder_for_real(capsys, tmp_path, rel_checkpoint, rel_data, rel_dist):
    with tmpfs(tmp_path / "disk", 8 * 1024) as disk:
        shutil.copytree(rel_dist, disk / "dist")
        before = snapshot(disk / "dist")
        remount_read_only(disk)
        line = one_line_error(capsys, "export", "--checkpoint", rel_checkpoint, "--format", "onnx",
                              "--val-data", f"folder:{rel_data}", "--out", disk / "dist")
        lost = files_lost(before, disk / "dist")
        record("faults", faults_injected=1, files_checked=len(before), files_lost=lost)
        assert "Read-only file system" in line and lost == 0
