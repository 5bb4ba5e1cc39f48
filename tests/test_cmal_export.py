"""CMAL-Net's two-pass deploy pipeline, end to end: train -> export (one graph, both passes) -> bench.

The exported fusion graph must hold pass 1, the attention crop and pass 2, so that the harness
(and the Android app) run it like any other artifact; its outputs are checked against the
PyTorch model's fused logits, and the harness must report it as two passes.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch

from conftest import make_image_folder, tiny_config
from fgvc_mobile.benchmarks import run_bench
from fgvc_mobile.cli import main
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.export.calibration import validation_set
from fgvc_mobile.export.deploy import to_float_nchw
from fgvc_mobile.export.validate import softmax
from fgvc_mobile.models.load import load_trained

pytest.importorskip("litert_torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def cmal(tmp_path_factory):
    from fgvc_mobile.train.trainer import fit

    data = make_image_folder(tmp_path_factory.mktemp("colours"), classes=3, train=8, test=4, seed=5)
    run = tmp_path_factory.mktemp("cmal_run")
    fit(tiny_config(data, run, method="cmal", model={"descriptor": 8}, epochs=1, batch_size=8, img_size=64, resize=72),
        show_progress=False)
    out = tmp_path_factory.mktemp("cmal_exp") / "dist"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["export", "--checkpoint", str(run / "best.pt"), "--format", "onnx,tflite", "--int8",
                   "--calib-images", "8", "--accept-drop", "--out", str(out)])
    assert rc == 0, buf.getvalue()
    return {"ckpt": run / "best.pt", "data": data, "out": out}


def _run_tflite(path, x: np.ndarray) -> np.ndarray:
    from fgvc_mobile.export.formats.tflite import interpreter

    it = interpreter(path)
    inp, outp = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for img in x:
        it.resize_tensor_input(inp["index"], [1, *img.shape])
        it.allocate_tensors()
        it.set_tensor(inp["index"], img[None])
        it.invoke()
        rows.append(it.get_tensor(outp["index"])[0].astype(np.float32))
    return np.stack(rows)


def test_every_manifest_declares_one_graph_with_two_backbone_passes(cmal):
    index = json.loads((cmal["out"] / "manifest.json").read_text())
    assert {a["model_file"] for a in index["artifacts"]} == {
        "model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite", "model_int8.tflite"}
    for a in index["artifacts"]:
        assert a["inference_rule"] == "fusion"
        assert a["pipeline"]["graphs"] == 1 and a["pipeline"]["backbone_passes"] == 2
    assert "Pipeline: 2 backbone passes" in (cmal["out"] / "validation_report.md").read_text()


def test_fp32_tflite_equals_the_pytorch_two_pass_fusion(cmal):
    loaded = load_trained(cmal["ckpt"])
    model, meta = loaded.model, loaded.meta
    pre = PreprocessConfig.from_dict(meta["preprocess"])
    val = validation_set(meta["data"]["spec"], meta["classes"], pre, None)
    with torch.no_grad():
        x = to_float_nchw(val.images, pre)
        raw, box = model.pass1(x)  # the crop, by hand, with torch's own resize
        crops = torch.cat([
            torch.nn.functional.interpolate(x[i : i + 1, :, y0:y1, x0:x1], size=x.shape[-2:], mode="bilinear",
                                            align_corners=False)
            for i, (x0, y0, x1, y1) in enumerate(box.long().tolist())
        ])
        want = (model.combine(raw, "raw") + model.combine(model.single(crops), "raw")).numpy()
    got = _run_tflite(cmal["out"] / "model_fp32.tflite", np.ascontiguousarray(val.images))  # uint8 NHWC input
    np.testing.assert_allclose(got, softmax(want), rtol=1e-3, atol=1e-3)  # the TFLite graph ends in a softmax


def test_harness_runs_the_artifacts_and_reports_two_passes(cmal, tmp_path):
    report = run_bench(cmal["out"], f"folder:{cmal['data']}", tmp_path / "bench", threads=1, runs=2, warmup=1,
                       target="cpu", progress=False, reference_checkpoint=str(cmal["ckpt"]))
    rows = [r for r in report["results"] if not r.get("skipped_reason")]
    assert {r["artifact"] for r in rows} >= {"model_fp32.tflite", "model_int8.tflite", "model_fp32.onnx"}
    for r in rows:
        assert r["backbone_passes"] == 2, r["artifact"]
        assert r["accuracy"]["n"] == 12 and r["latency_ms"]["p50"] > 0
    fp32 = next(r for r in rows if r["artifact"] == "model_fp32.tflite")
    assert fp32["agreement_with_reference"] == 1.0
    assert "| 2 |" in (tmp_path / "bench" / "report.md").read_text()
