"""Bad input to ``fgvc-mobile export``: one-line error, nothing written to --out (not even half)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from conftest import make_image_folder
from fgvc_mobile.cli import main
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export import pipeline
from fgvc_mobile.export.formats import parse_options, resolve_formats
from fgvc_mobile.export.gate import judge
from fgvc_mobile.export.validate import Evaluation


def _fails_cleanly(capsys, tmp_path: Path, argv: list[str], expect: str) -> str:
    out = tmp_path / "dist"
    rc = main(["export", *argv, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert expect in err[0], err[0]
    assert not out.exists()
    assert not list(tmp_path.glob(".dist.export-*"))  # no temp folder left behind
    return err[0]


def test_missing_checkpoint(capsys, tmp_path):
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", str(tmp_path / "nope.pt"), "--format", "onnx"], "nope.pt")


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_checkpoint_is_refused_without_running_code(capsys, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pt"
    torch.save({"format": "fgvc-mobile-checkpoint", "model": _Evil(marker)}, ckpt)  # a real torch zip pickle
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", str(ckpt), "--format", "onnx"], "refused to load")
    assert not marker.exists()


def test_unknown_format_and_option(capsys, tmp_path, tiny_checkpoints):
    ck = str(tiny_checkpoints["rmg-pmsi"])
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", ck, "--format", "caffe"], "--format 'caffe'")
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", ck, "--format", "onnx", "-O", "onnx.quant_types=S4"],
                   "onnx.quant_types")
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", ck, "--format", "onnx", "-O", "tflite.calibration=minmax"],
                   "not being exported")


def test_calibration_data_with_other_classes(capsys, tmp_path, tiny_checkpoints):
    ck = str(tiny_checkpoints["rmg-pmsi"])
    more = make_image_folder(tmp_path / "four", classes=4)
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", ck, "--format", "onnx", "--int8", "--calib-data",
                                      f"folder:{more}"], "classes differ from the checkpoint's (4 classes")
    renamed = make_image_folder(tmp_path / "renamed", classes=3)
    for split in ("train", "test"):
        shutil.move(renamed / split / "class_1", renamed / split / "class_9")
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", ck, "--format", "onnx", "--int8", "--calib-data",
                                      f"folder:{renamed}"], "--calib-data")


def test_too_few_calibration_images(capsys, tmp_path, tiny_checkpoints):
    ck = str(tiny_checkpoints["rmg-pmsi"])
    few = make_image_folder(tmp_path / "few", classes=3, train=2, test=1)
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", ck, "--format", "onnx", "--int8", "--calib-data",
                                      f"folder:{few}"], "only 6 train images")
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", ck, "--format", "onnx", "--int8", "--calib-images", "500"],
                   "asked for 500 train images")


def test_int8_over_budget_is_refused_unless_accepted(capsys, tmp_path, tiny_checkpoints, monkeypatch):
    """An impossible reference accuracy (200%) makes every int8 artifact exceed the budget: the fp32 one is
    published, the int8 one refused (exit code 3) with the options that may fix it; --accept-drop keeps it."""
    real = pipeline.judge
    monkeypatch.setattr(pipeline, "judge", lambda fmt, prec, ev, ref, budget, accept: real(
        fmt, prec, ev, 200.0 if prec == "int8" else ref, budget, accept))
    ck = str(tiny_checkpoints["rmg-pmsi"])
    out = tmp_path / "refused"
    assert main(["export", "--checkpoint", ck, "--format", "onnx", "--int8", "--calib-images", "8",
                 "-O", "onnx.exporter=torchscript", "--out", str(out)]) == pipeline.EXIT_REFUSED
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("refused model_int8.onnx"))
    assert "budget" in line and "--accept-drop" in line
    assert (out / "model_fp32.onnx").is_file() and not (out / "model_int8.onnx").exists()
    out = tmp_path / "accepted"
    assert main(["export", "--checkpoint", ck, "--format", "onnx", "--int8", "--calib-images", "8", "--accept-drop",
                 "-O", "onnx.exporter=torchscript", "--out", str(out)]) == 0
    assert (out / "model_int8.onnx").is_file() and (out / "manifest.json").is_file()


def test_nothing_published_is_an_error_that_writes_nothing(capsys, tmp_path, tiny_checkpoints, monkeypatch):
    """When no artifact passes (here the fp32 parity gate sees a wrong reference), nothing is written."""
    real = pipeline.judge
    monkeypatch.setattr(pipeline, "judge", lambda fmt, prec, ev, ref, *a: real(
        fmt, prec, type(ev)(ev.name, ev.how, ev.n, ev.top1, ev.top1_agreement, 1, ev.max_abs_error, 1.0), ref, *a))
    _fails_cleanly(capsys, tmp_path, ["--checkpoint", str(tiny_checkpoints["rmg-pmsi"]), "--format", "onnx",
                                      "-O", "onnx.exporter=torchscript"], "nothing written")


def test_judge_rules():
    ok = Evaluation("x", "run", n=10, top1=90.0, disagreements=0, rel_error=1e-6)
    assert judge("onnx", "fp32", ok, 90.0, 1.0, False).passed
    assert not judge("onnx", "fp32", Evaluation("x", "run", n=10, top1=90.0, disagreements=1, rel_error=1e-6),
                     90.0, 1.0, False).passed
    assert "exceeds" in judge("tflite", "fp32", Evaluation("x", "run", n=10, top1=90.0, disagreements=0,
                                                           rel_error=1e-2), 90.0, 1.0, False).reason
    low = Evaluation("x", "run", n=10, top1=88.0)
    assert not judge("tflite", "int8", low, 90.0, 1.0, False).passed
    assert judge("tflite", "int8", low, 90.0, 2.5, False).passed
    accepted = judge("tflite", "int8", low, 90.0, 1.0, True)
    assert accepted.passed and accepted.reason.startswith("accepted")


def test_format_table_parsing():
    assert resolve_formats("all") == ["onnx", "tflite", "coreml"]
    opts = parse_options(["onnx.quant_types=U8S8", "onnx.reduce_range=true"], ["onnx"])
    assert opts["onnx"]["quant_types"] == "U8S8" and opts["onnx"]["reduce_range"] is True
    with pytest.raises(FGVCError, match="unknown option"):
        parse_options(["onnx.bits=4"], ["onnx"])
    with pytest.raises(FGVCError, match="FORMAT.OPTION=VALUE"):
        parse_options(["quant_types=U8S8"], ["onnx"])
