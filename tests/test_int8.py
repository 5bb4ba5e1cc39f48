"""Per-artifact publishing, int8 diagnostics and ``--int8 auto`` (issue 17), on real exports.

* a refused int8 artifact does not stop the others: they are published, it is listed with its
  drop, agreement, worst layers and the options that may fix it, a stale copy of it leaves
  ``--out``, and the run ends with exit code 3 (``EXIT_REFUSED``);
* ``--int8 auto`` escalates on a model built to quantize badly (an outlier channel) until a
  recipe passes the gate, and records the recipe and what it cost in the manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench_helpers import make_checkpoint
from conftest import make_image_folder
from fgvc_mobile.cli import main
from fgvc_mobile.export import pipeline
from fgvc_mobile.export.pipeline import EXIT_REFUSED


@pytest.fixture(scope="module")
def outlier_model(tmp_path_factory):
    """(checkpoint, data): an outlier channel 30x the others; the test split is the train split (fp32 ~85%)."""
    root = tmp_path_factory.mktemp("int8_outlier")
    data = make_image_folder(root / "data", classes=4, train=12, test=1)
    shutil.rmtree(data / "test")
    shutil.copytree(data / "train", data / "test")
    ckpt = root / "ck.pt"
    make_checkpoint(ckpt, sorted(p.name for p in (data / "train").iterdir()), data, outlier=30.0)
    return ckpt, data


def _export(ckpt, data, out, *args) -> int:
    return main(["export", "--checkpoint", str(ckpt), "--val-data", f"folder:{data}", "--calib-data",
                 f"folder:{data}", "--val-images", "0", "--out", str(out), *args])


def test_a_refused_int8_artifact_does_not_stop_the_others(capsys, tmp_path, outlier_model, monkeypatch):
    """ONNX int8 is forced over its budget (its gate sees an impossible 200% reference); TFLite is not."""
    ckpt, data = outlier_model
    out = tmp_path / "dist"
    out.mkdir()
    (out / "model_int8.onnx").write_bytes(b"an earlier export's int8 model")
    (out / "model_int8.onnx.manifest.json").write_text("{}")
    real = pipeline.judge
    monkeypatch.setattr(pipeline, "judge", lambda fmt, prec, ev, ref, *a: real(
        fmt, prec, ev, 200.0 if (fmt, prec) == ("onnx", "int8") else ref, *a))
    rc = _export(ckpt, data, out, "--format", "onnx,tflite", "--int8", "--max-int8-drop", "100")
    stdout = capsys.readouterr().out
    assert rc == EXIT_REFUSED
    index = json.loads((out / "manifest.json").read_text())
    assert sorted(a["model_file"] for a in index["artifacts"]) == ["model_fp32.onnx", "model_fp32.tflite",
                                                                   "model_int8.tflite"]
    assert not (out / "model_int8.onnx").exists() and not (out / "model_int8.onnx.manifest.json").exists()
    assert (out / "model_int8.tflite").is_file() and (out / "model_int8.tflite.manifest.json").is_file()
    (refused,) = index["refused"]
    assert refused["file"] == "model_int8.onnx" and refused["drop"] > 100 and refused["agreement"] is not None
    assert "-O onnx.activations=int16" in refused["fixes"] and "--int8 auto" in refused["fixes"]
    assert refused["worst_layers"] and any("onnx.exclude=" in f for f in refused["fixes"])
    line = next(ln for ln in stdout.splitlines() if ln.startswith("refused model_int8.onnx"))
    assert "drop" in line and "agreement" in line and "may fix: -O onnx.calibrate=percentile" in line
    # diagnostics beside the export, for the refused artifact too
    for f in ("model_int8.onnx", "model_int8.tflite"):
        layers = json.loads((out / f"{f}.layers.json").read_text())
        assert layers["tensors"] and layers["worst"] and (out / f"{f}.layers.png").stat().st_size > 0
        assert all(t["sqnr_db"] is None or isinstance(t["sqnr_db"], float) for t in layers["tensors"])
    report = (out / "validation_report.md").read_text()
    assert "## Refused (not published)" in report and "classes int8 hurts most" in report
    assert "model_int8.onnx (REFUSED)" in stdout


def test_int8_auto_escalates_until_the_gate_passes(capsys, tmp_path, outlier_model):
    """The outlier channel leaves int8 activations a few levels: the default recipe misses a 15-point budget
    by far (about 30 points); a later recipe (16-bit activations) passes, and the manifest says which."""
    ckpt, data = outlier_model
    out = tmp_path / "auto"
    assert _export(ckpt, data, out, "--format", "onnx", "--int8", "auto", "--max-int8-drop", "15") == 0
    index = json.loads((out / "manifest.json").read_text())
    (int8,) = [a for a in index["artifacts"] if a["precision"] == "int8"]
    recipe = int8["int8_recipe"]
    assert recipe["mode"] == "auto" and recipe["rung"] > 1 and recipe["of"] == 4
    first = recipe["tried"][0]
    assert first["options"] == {} and first["results"]["model_int8.onnx"]["drop"] > 15
    assert not first["results"]["model_int8.onnx"]["passed"]
    assert int8["validation"]["top1_drop"] <= 15 and int8["validation"]["gate"]["passed"]
    assert recipe["latency_ratio"] > 0 and set(recipe["latency_ms_1thread"]) == {"int8", "fp32"}
    assert "int8 recipe 1/4 (defaults): model_int8.onnx misses the gate" in capsys.readouterr().out


def test_onnx_int8_has_7bit_weights_and_is_gated_on_the_fused_kernels(capsys, tmp_path, outlier_model, monkeypatch):
    """reduce_range is the default (x86 kernels without VNNI saturate with full-range weights), and the
    gate judges the fused-kernel session a user runs, not the QDQ graph evaluated in float: wreck only
    the fused session's scores and the artifact is refused while the float view would have passed."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from fgvc_mobile.export.formats.onnx import Onnx

    ckpt, data = outlier_model
    out = tmp_path / "dist"
    assert _export(ckpt, data, out, "--format", "onnx", "--int8", "--accept-drop") == 0
    model = onnx.load(str(out / "model_int8.onnx"))
    weights = [w for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8
               and (w := numpy_helper.to_array(t)).ndim >= 2]  # conv / gemm weights, not zero points
    assert weights and max(int(np.abs(w).max()) for w in weights) <= 64  # 7-bit: ORT's reduced range [-64, 64]
    manifest = json.loads((out / "model_int8.onnx.manifest.json").read_text())
    assert manifest["validation"]["gate"]["on"] == "ort-int8-kernels"

    real_open = Onnx.open

    def wrecked(self, path, contract, *a, optimized=True, **k):
        sess = real_open(self, path, contract, *a, optimized=optimized, **k)
        if optimized and "int8" in Path(path).name:
            run = sess.run
            sess.run = lambda x: np.roll(run(x), 1, axis=1)  # every top-1 moves to another class
        return sess

    monkeypatch.setattr(Onnx, "open", wrecked)
    capsys.readouterr()
    rc = _export(ckpt, data, tmp_path / "dist2", "--format", "onnx", "--int8", "--max-int8-drop", "5")
    assert rc == EXIT_REFUSED
    assert "refused model_int8.onnx" in capsys.readouterr().out
