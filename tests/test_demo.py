"""``fgvc-mobile demo`` with tiny settings: offline, the baseline from scratch, RMG-PMSI from its
backbone, and a summary a person can read. (The full-size demo's accuracy is measured, not tested:
README's demo section.)"""

from __future__ import annotations

from pathlib import Path

from fgvc_mobile.cli import main
from fgvc_mobile.commands.demo import int8_agreement, summary
from fgvc_mobile.models.load import load_trained, read_checkpoint

TINY = ["--epochs", "1", "--finetune-epochs", "1", "--classes", "3", "--train-per-class", "12",
        "--test-per-class", "2", "--img-size", "32", "--skip-export"]


def test_tiny_demo_trains_from_scratch_then_from_the_baseline_backbone(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))  # nothing cached: nothing may be needed
    rc = main(["demo", "--out", str(tmp_path / "demo"), *TINY])
    out = capsys.readouterr().out
    assert rc == 0
    runs = tmp_path / "demo" / "runs"
    baseline = read_checkpoint(runs / "baseline" / "best.pt")
    assert baseline["pretrained"] == {"source": "none", "weights": None, "sha256": None}
    meta = load_trained(runs / "rmg-pmsi" / "best.pt").meta
    assert meta["pretrained"]["source"] == str(runs / "baseline" / "best.pt")
    assert meta["pretrained"]["weights"] == "checkpoint:best.pt (baseline)"
    assert meta["model_kwargs"]["smooth"] == "dwsep"  # the phone preset's heads
    assert "training baseline for 1 epochs from scratch (--pretrained none)" in out
    assert "training rmg-pmsi for 1 epochs from baseline's backbone" in out
    assert "demo summary (run time" in out and "chance 33%" in out
    assert [ln.split()[0] for ln in out.split("demo summary")[1].splitlines()[1:] if ln.strip()] == \
        ["baseline", "rmg-pmsi"]
    assert not (tmp_path / "empty_torch_home").exists()  # no download was even tried


def test_summary_reports_each_methods_int8_agreement(tmp_path):
    """Rows as ``bench DIST`` writes them: artifacts relative to DIST (an absolute path is taken too)."""
    dist = tmp_path / "dist"
    rows = [
        {"artifact": "baseline/model_int8.onnx", "format": "onnx", "precision": "int8",
         "agreement_with_reference": 0.985},
        {"artifact": str(dist / "baseline" / "model_int8.tflite"), "format": "tflite", "precision": "int8",
         "agreement_with_reference": 0.97},
        {"artifact": "best.pt", "format": "pytorch", "precision": "fp32", "agreement_with_reference": 1.0},
        {"artifact": str(dist / "baseline" / "model.onnx"), "format": "onnx", "precision": "fp32",
         "agreement_with_reference": 1.0},
        {"artifact": "rmg-pmsi/model_int8.onnx", "format": "onnx", "precision": "int8",
         "agreement_with_reference": 0.955},
        {"artifact": str(dist / "rmg-pmsi" / "model_int8.mlpackage"), "format": "coreml", "precision": "int8",
         "agreement_with_reference": None, "skipped_reason": "CoreML runs only on macOS"},
    ]
    report = {"results": rows}
    assert int8_agreement(report, dist / "baseline") == {"onnx": 98.5, "tflite": 97.0}
    assert int8_agreement(report, dist / "rmg-pmsi") == {"onnx": 95.5}
    text = summary({"baseline": {"test": 91.0, "start": "scratch"}, "rmg-pmsi": {"test": 93.5, "start": "b"}},
                   report, 10.0, 275.0, tmp_path)
    assert "run time 4 min 35 s, chance 10%" in text
    assert "baseline   test top-1  91.0%" in text and "int8 agreement with fp32: onnx 98.5%, tflite 97.0%" in text
    assert "rmg-pmsi   test top-1  93.5%" in text and "onnx 95.5%" in text
    assert "int8 agreement" not in summary({"baseline": {"test": 1.0, "start": "s"}}, None, 10.0, 1.0, Path("x"))
