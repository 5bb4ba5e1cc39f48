"""Every format converts, matches the PyTorch reference, carries its metadata and manifest.

One tiny model is trained once (3 colour classes, 32 px, PMSI heads F=16/D=32) until it is
confident, then exported once with ``--format all --int8``; the tests re-check the artifacts
independently of the exporter's own figures.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform

import numpy as np
import pytest
import torch

from conftest import make_image_folder, tiny_config
from fgvc_mobile.cli import main
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.export.calibration import calibration_set, validation_set
from fgvc_mobile.export.deploy import DeployModel, reference_logits, to_float_nchw
from fgvc_mobile.export.manifest import validate_manifest
from fgvc_mobile.export.formats import read_metadata
from fgvc_mobile.export.metadata import LABELS_KEY, MANIFEST_KEY
from fgvc_mobile.export.contract import softmax
from fgvc_mobile.export.formats import FORMATS
from fgvc_mobile.models.load import file_sha256, load_trained
from fgvc_mobile.models.complexity import count_macs, count_params

ARTIFACTS = ["model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite", "model_int8.tflite",
             "model_fp16.mlpackage", "model_int8w.mlpackage", "model_w8a8.mlpackage"]
CALIB = 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from fgvc_mobile.train.trainer import fit

    data = make_image_folder(tmp_path_factory.mktemp("colours"), classes=3, train=16, test=8, seed=3)
    run = tmp_path_factory.mktemp("run")
    fit(tiny_config(data, run, epochs=6, batch_size=8, lr=0.02), show_progress=False)
    loaded = load_trained(run / "best.pt")
    model, meta = loaded.model, loaded.meta
    pre = PreprocessConfig.from_dict(meta["preprocess"])
    val = validation_set(meta["data"]["spec"], meta["classes"], pre, None)
    ref = reference_logits(DeployModel(model, input_size=pre.input_size), val.images, pre)
    assert (ref.argmax(1) == val.labels).mean() == 1.0, "fixture model should be confident"
    return {"ckpt": run / "best.pt", "data": data, "meta": meta, "pre": pre, "val": val, "ref": ref, "model": model}


def _export(args: list[str]) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["export", *args])
    assert rc == 0, buf.getvalue()
    return buf.getvalue()


@pytest.fixture(scope="module")
def dist(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "dist"
    printed = _export(["--checkpoint", str(trained["ckpt"]), "--format", "all", "--int8",
                       "--calib-images", str(CALIB), "--out", str(out)])
    return out, printed


def test_every_format_converts_with_manifests_and_report(dist):
    out, printed = dist
    names = {p.name for p in out.iterdir()}
    diagnostics = {f"{a}.layers.{ext}" for a in ("model_int8.onnx", "model_int8.tflite") for ext in ("json", "png")}
    expected = set(ARTIFACTS) | {f"{a}.manifest.json" for a in ARTIFACTS} | diagnostics | {
        "labels.txt", "manifest.json", "validation_report.md"}
    assert names == expected
    for a in ARTIFACTS:
        assert a in printed  # the printed table lists every artifact
    report = (out / "validation_report.md").read_text()
    assert "deploy graph (rule `concat`)" in report and "training model (all heads)" in report
    assert "cannot be run on Linux" in report or platform.system() == "Darwin"
    # where the time went: every format's conversion, quantization and validation, in the order they ran
    timing = report.split("## Where the time went", 1)[1].splitlines()
    stages = [ln.split("|")[1].strip() for ln in timing if ln.startswith("| ") and not ln.startswith("| stage")]
    for name in ("decode validation images", "PyTorch reference (deploy graph and training model)",
                 "onnx fp32: convert (dynamo)", "onnx fp32: validate (onnxruntime)", "onnx int8: validate (int8 kernels)",
                 "tflite fp32: convert (litert_torch)", "tflite int8: validate (LiteRT)",
                 "coreml w8a8: validate (PyTorch simulation)", "embed metadata, write manifests"):
        assert name in stages, name
    assert stages.index("onnx fp32: convert (dynamo)") < stages.index("tflite fp32: convert (litert_torch)")
    assert stages[-1] == "other (outside the stages above)"


def test_manifests_validate_and_name_their_source(dist, trained):
    out, _ = dist
    index = json.loads((out / "manifest.json").read_text())
    assert [e["model_file"] for e in index["artifacts"]] == ARTIFACTS
    sha = file_sha256(trained["ckpt"])
    deploy = DeployModel(trained["model"], input_size=trained["pre"].input_size)
    macs, params = count_macs(deploy, trained["pre"].input_size), count_params(deploy)
    for entry in index["artifacts"]:
        own = json.loads((out / entry["manifest"]).read_text())
        for m in (own, entry):
            validate_manifest(m)
            assert m["source"]["checkpoint"] == os.path.abspath(trained["ckpt"])
            assert m["source"]["checkpoint_sha256"] == sha
            assert m["labels"] == trained["meta"]["classes"]
            assert m["inference_rule"] == "concat"
            assert m["validation"]["gate"]["passed"] is True
            # the deploy graph's cost, counted independently here: bench divides these MACs by the latency
            assert (m["source"]["macs"], m["source"]["params"]) == (macs, params)
    assert (out / "labels.txt").read_text().splitlines() == trained["meta"]["classes"]
    tfl = json.loads((out / "model_int8.tflite.manifest.json").read_text())
    assert tfl["input"] == {**tfl["input"], "layout": "NHWC", "dtype": "uint8", "normalization_in_graph": True,
                            "shape": [1, 32, 32, 3]}
    # int8 inside, float32 probabilities out: the types MediaPipe and the LiteRT Support Library accept
    assert tfl["output"]["dtype"] == "float32" and tfl["output"]["quantization"] is None
    assert tfl["output"]["kind"] == "probabilities"


def _run_onnx(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: xi[None]})[0] for xi in x])


def _run_tflite(path, x):
    from fgvc_mobile.export.formats.tflite import interpreter

    it = interpreter(path)  # the one place an Interpreter is built; feeding and dequantizing stay this test's own
    it.allocate_tensors()
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    rows = []
    for xi in x:
        it.set_tensor(inp["index"], xi[None])
        it.invoke()
        y = it.get_tensor(out["index"]).astype(np.float32)
        scale, zp = out["quantization"]
        rows.append((y - zp) * scale if scale else y)
    return np.concatenate(rows)


def test_fp32_parity_with_the_pytorch_reference(dist, trained):
    out, _ = dist
    images, logits = trained["val"].images, trained["ref"]
    for name, run in (("model_fp32.onnx", _run_onnx), ("model_fp32.tflite", _run_tflite)):
        got = run(out / name, images)
        ref = softmax(logits) if name.endswith(".tflite") else logits  # TFLite ends in a softmax
        tol = FORMATS[name.rsplit(".", 1)[1]].tolerances["fp32"]
        assert np.abs(got - ref).max() <= tol * max(1.0, np.abs(ref).max()), name
        assert (got.argmax(1) == ref.argmax(1)).all(), name


def test_int8_within_budget(dist, trained):
    out, _ = dist
    images, labels, ref = trained["val"].images, trained["val"].labels, trained["ref"]
    ref_acc = (ref.argmax(1) == labels).mean() * 100
    for name, run in (("model_int8.onnx", _run_onnx), ("model_int8.tflite", _run_tflite)):
        acc = (run(out / name, images).argmax(1) == labels).mean() * 100
        assert ref_acc - acc <= 1.0, (name, ref_acc, acc)
    for name in ("model_int8w.mlpackage", "model_w8a8.mlpackage"):  # PyTorch simulations of the CoreML numerics
        m = json.loads((out / f"{name}.manifest.json").read_text())
        assert m["validation"]["top1_drop"] <= 1.0


def test_metadata_readable_back_from_every_artifact(dist):
    out, _ = dist
    for a in ARTIFACTS:
        entries = read_metadata(out / a)
        on_disk = json.loads((out / f"{a}.manifest.json").read_text())
        assert json.loads(entries[MANIFEST_KEY]) == on_disk, a
        assert entries[LABELS_KEY].splitlines() == on_disk["labels"], a


def test_coreml_structure_as_saved(dist, trained):
    import coremltools as ct

    from fgvc_mobile.export.formats.coreml_checks import describe

    out, _ = dist
    for name in ("model_fp16.mlpackage", "model_int8w.mlpackage", "model_w8a8.mlpackage"):
        info = describe(ct.utils.load_spec(str(out / name)))
        assert info["inputs"] == [{"name": "image", "type": "imageType", "shape": [1, 32, 32, 3], "color": "RGB"}]
        assert {o["name"] for o in info["outputs"]} == {"classLabel", "classLabel_probs"}
        assert info["labels"] == trained["meta"]["classes"]
    m = json.loads((out / "model_int8w.mlpackage.manifest.json").read_text())
    assert m["precision"] == "int8-weights" and m["output"]["kind"] == "probabilities"


def _int8_logits_quantization(path) -> dict:
    """(scale, zero point) of the int8 logits: the tensor dequantized into the float softmax."""
    from fgvc_mobile.export.formats.tflite import interpreter

    it = interpreter(path)
    ops, tensors = it._get_ops_details(), {t["index"]: t for t in it.get_tensor_details()}
    (softmax_op,) = [o for o in ops if o["op_name"] == "SOFTMAX"]
    (dequant,) = [o for o in ops if softmax_op["inputs"][0] in o["outputs"]]
    assert dequant["op_name"] == "DEQUANTIZE"
    scale, zero_point = tensors[dequant["inputs"][0]]["quantization"]
    return {"scale": scale, "zero_point": zero_point}


def test_tflite_minmax_calibration_covers_the_logit_range(dist, trained):
    """The int8 logits' range must contain every calibration image's logits (no clipping)."""
    out, _ = dist
    meta, pre = trained["meta"], trained["pre"]
    calib = calibration_set(meta["data"]["spec"], meta["classes"], pre, CALIB)
    ref = reference_logits(DeployModel(trained["model"], input_size=pre.input_size), calib.images, pre)
    q = _int8_logits_quantization(out / "model_int8.tflite")
    lo, hi = (-128 - q["zero_point"]) * q["scale"], (127 - q["zero_point"]) * q["scale"]
    assert lo <= ref.min() + q["scale"] and hi >= ref.max() - q["scale"], (lo, hi, ref.min(), ref.max())


def _predict(model, image) -> list[str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["predict", "--model", str(model), image, "--top-k", "2"]) == 0
    return buf.getvalue().splitlines()


def test_predict_from_artifacts_and_checkpoint(dist, trained):
    out, _ = dist
    i = 0
    image, expected = trained["val"].paths[i], trained["meta"]["classes"][int(trained["ref"][i].argmax())]
    for model in (out / "model_int8.tflite", out / "model_fp32.onnx", trained["ckpt"]):
        lines = _predict(model, image)
        assert lines[0] == image and len(lines) == 3
        assert lines[1].split()[1] == expected, (model, lines)


def test_float_nchw_input_variant(trained, tmp_path):
    from fgvc_mobile.export.runtime import load_artifact

    out = tmp_path / "f"
    _export(["--checkpoint", str(trained["ckpt"]), "--format", "onnx,tflite", "--input", "float-nchw",
             "-O", "onnx.exporter=torchscript", "--out", str(out)])
    ref = torch.softmax(torch.from_numpy(trained["ref"]), dim=1).numpy()
    for name in ("model_fp32.onnx", "model_fp32.tflite"):
        manifest, predict = load_artifact(out / name)
        assert (manifest["input"]["layout"], manifest["input"]["dtype"]) == ("NCHW", "float32")
        assert manifest["input"]["normalization_in_graph"] is False and manifest["input"]["shape"] == [1, 3, 32, 32]
        np.testing.assert_allclose(predict(trained["val"].images), ref, atol=1e-5)
    # the same normalisation the reference uses: feeding it by hand gives the same logits
    x = to_float_nchw(trained["val"].images[:2], trained["pre"]).numpy()
    np.testing.assert_allclose(_run_onnx(out / "model_fp32.onnx", x), trained["ref"][:2], rtol=1e-4, atol=1e-5)


def test_android_assets_step(dist, tmp_path):
    """--android-assets hands the int8 .tflite and its manifest to the Android helper's copier."""
    from fgvc_mobile.export.pipeline import _android_assets

    out, _ = dist
    index = json.loads((out / "manifest.json").read_text())
    _android_assets(out, index, str(tmp_path / "assets"), lambda *_: None)
    copied = json.loads((tmp_path / "assets" / "manifest.json").read_text())
    assert copied["model_file"] == "model_int8.tflite" and (tmp_path / "assets" / "model_int8.tflite").is_file()
