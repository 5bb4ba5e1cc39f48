"""The asset step places model, labels and manifest where the Android app loads them, and refuses
what the app would refuse. A tiny real .tflite (MEAN + FULLY_CONNECTED) is built by hand with
LiteRT's flatbuffer schema, so no converter runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError

pytest.importorskip("jsonschema")
litert_schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
flatbuffers = pytest.importorskip("flatbuffers")

from fgvc_mobile.export import android_assets as aa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLASSIFIER_KT = REPO / "android_demo/app/src/main/java/dev/fgvcmobile/demo/FgvcClassifier.kt"
LABELS = ["Black_footed_Albatross", "Laysan_Albatross", "Sooty_Albatross", "Groove_billed_Ani"]
SIZE = 32


def _tiny_tflite(path: Path, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 [1, SIZE, SIZE, 3] -> spatial mean -> fully connected -> float32 [1, classes] logits."""
    s = litert_schema
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (classes, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, classes).astype(np.float32)

    def buf(arr=None):
        out = s.BufferT()
        if arr is not None:
            out.data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8)
        return out

    def tensor(name, shape, ttype, buffer):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), ttype, buffer
        return t

    def opcode(code):
        oc = s.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
        return oc

    T = s.TensorType
    model = s.ModelT()
    model.version = 3
    model.operatorCodes = [opcode(s.BuiltinOperator.MEAN), opcode(s.BuiltinOperator.FULLY_CONNECTED)]
    model.buffers = [buf(), buf(np.array([1, 2], np.int32)), buf(w), buf(b)]
    sg = s.SubGraphT()
    sg.tensors = [tensor("image", [1, SIZE, SIZE, 3], T.FLOAT32, 0), tensor("axes", [2], T.INT32, 1),
                  tensor("pooled", [1, 3], T.FLOAT32, 0), tensor("w", [classes, 3], T.FLOAT32, 2),
                  tensor("b", [classes], T.FLOAT32, 3), tensor("logits", [1, classes], T.FLOAT32, 0)]
    mean = s.OperatorT()
    mean.opcodeIndex, mean.inputs, mean.outputs = 0, [0, 1], [2]
    mean.builtinOptionsType, mean.builtinOptions = s.BuiltinOptions.ReducerOptions, s.ReducerOptionsT()
    fc = s.OperatorT()
    fc.opcodeIndex, fc.inputs, fc.outputs = 1, [2, 3, 4], [5]
    fc.builtinOptionsType, fc.builtinOptions = s.BuiltinOptions.FullyConnectedOptions, s.FullyConnectedOptionsT()
    sg.operators, sg.inputs, sg.outputs = [mean, fc], [0], [5]
    model.subgraphs = [sg]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return w, b


def _manifest(labels=LABELS, classes=None, **changes) -> dict:
    cfg = PreprocessConfig(input_size=SIZE, resize=(36, 36))
    m = {
        "schema_version": 1, "model_file": "tiny_fp32.tflite", "format": "tflite", "precision": "fp32",
        "method": "baseline", "inference_rule": "default", "labels": list(labels),
        "input": {"name": "image", "layout": "NHWC", "dtype": "float32", "shape": [1, SIZE, SIZE, 3],
                  "color": "RGB", "normalization_in_graph": False, "quantization": None},
        "output": {"name": "logits", "dtype": "float32", "shape": [1, classes or len(labels)], "kind": "logits",
                   "quantization": None},
        "preprocess": cfg.to_dict(),
    }
    m.update(changes)
    return m


@pytest.fixture()
def exported(tmp_path):
    """(model path, manifest path, (w, b)) as an exporter would leave them."""
    out = tmp_path / "export"
    out.mkdir()
    wb = _tiny_tflite(out / "tiny_fp32.tflite")
    (out / "tiny_fp32.manifest.json").write_text(json.dumps(_manifest()))
    return out / "tiny_fp32.tflite", out / "tiny_fp32.manifest.json", wb


def test_places_model_labels_and_manifest_where_the_app_loads_them(exported, tmp_path):
    model, manifest, _ = exported
    assets = tmp_path / "app/src/main/assets"
    written = aa.copy_android_assets(model, manifest, assets)

    assert written["model"] == assets / "tiny_fp32.tflite"
    assert (assets / "tiny_fp32.tflite").read_bytes() == model.read_bytes()
    app_manifest = json.loads((assets / "manifest.json").read_text())
    assert app_manifest["model_file"] == "tiny_fp32.tflite"
    assert app_manifest["labels_file"] == "labels.txt"
    assert app_manifest["labels"] == LABELS
    assert (assets / "labels.txt").read_text().splitlines() == LABELS
    aa.load_manifest(assets / "manifest.json", "tiny_fp32.tflite")  # still schema-valid
    assert written["stale"] == []


def test_asset_names_match_the_app():
    source = CLASSIFIER_KT.read_text()
    consts = dict(re.findall(r'const val (\w+_ASSET) = "([^"]+)"', source))
    assert consts == {"MANIFEST_ASSET": aa.MANIFEST_ASSET, "LABELS_ASSET": aa.LABELS_ASSET}


def test_refuses_labels_that_do_not_match_the_output(exported, tmp_path):
    model, manifest, _ = exported
    # the manifest contradicts itself: 5 labels, output shape [1, 4]
    manifest.write_text(json.dumps(_manifest(labels=LABELS + ["Crested_Auklet"], classes=4)))
    with pytest.raises(FGVCError, match=r"output.shape \[1, 4\] gives 4 classes but labels lists 5"):
        aa.copy_android_assets(model, manifest, tmp_path / "assets")
    # the manifest agrees with itself but not with the model, which outputs 4 classes
    manifest.write_text(json.dumps(_manifest(labels=LABELS + ["Crested_Auklet"])))
    with pytest.raises(FGVCError, match=r"lists 5 labels but tiny_fp32.tflite outputs \[1, 4\]"):
        aa.copy_android_assets(model, manifest, tmp_path / "assets")
    assert not (tmp_path / "assets" / "manifest.json").exists()


def test_refuses_a_manifest_that_disagrees_with_the_model_input(exported, tmp_path):
    model, manifest, _ = exported
    m = _manifest()
    m["input"].update(dtype="uint8", normalization_in_graph=True)
    manifest.write_text(json.dumps(m))
    with pytest.raises(FGVCError, match=r"says input uint8\[1, 32, 32, 3\] but tiny_fp32.tflite takes float32"):
        aa.copy_android_assets(model, manifest, tmp_path / "assets")


def test_refuses_other_formats_and_bad_files(exported, tmp_path):
    model, manifest, _ = exported
    onnx = model.with_suffix(".onnx")
    onnx.write_bytes(b"not a model")
    with pytest.raises(FGVCError, match="runs .tflite models"):
        aa.copy_android_assets(onnx, manifest, tmp_path / "a")
    manifest.write_text(json.dumps(_manifest(format="onnx")))
    with pytest.raises(FGVCError, match="describes a onnx artifact"):
        aa.copy_android_assets(model, manifest, tmp_path / "a")
    with pytest.raises(FGVCError, match="no such model file"):
        aa.copy_android_assets(tmp_path / "missing.tflite", manifest, tmp_path / "a")
    manifest.write_text("{not json")
    with pytest.raises(FGVCError, match="not valid JSON"):
        aa.copy_android_assets(model, manifest, tmp_path / "a")
    manifest.write_text(json.dumps(_manifest(precision="fp64")))
    with pytest.raises(FGVCError, match="invalid manifest at precision"):
        aa.copy_android_assets(model, manifest, tmp_path / "a")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    manifest.write_text(json.dumps(_manifest()))
    with pytest.raises(FGVCError, match="LiteRT cannot load it"):
        aa.copy_android_assets(corrupt, manifest, tmp_path / "a")


def test_reads_the_export_folders_index_and_reports_stale_models(exported, tmp_path):
    model, manifest, _ = exported
    index = manifest.parent / "manifest.json"
    index.write_text(json.dumps({"schema_version": 1, "artifacts": [
        {"model_file": "tiny_fp32.tflite", "manifest": manifest.name}]}))
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "old_model.tflite").write_bytes(b"x")
    written = aa.copy_android_assets(model, index, assets)
    assert json.loads((assets / "manifest.json").read_text())["labels"] == LABELS
    assert written["stale"] == [assets / "old_model.tflite"]
    with pytest.raises(FGVCError, match="lists no manifest for other.tflite"):
        aa.load_manifest(index, "other.tflite")


def test_golden_files_hold_pythons_tensor_and_the_models_label(exported, tmp_path):
    import torch
    from PIL import Image

    from fgvc_mobile.data.images import load_rgb
    from fgvc_mobile.data.transforms import build_transform

    model, manifest, (w, b) = exported
    rng = np.random.default_rng(3)
    photo = tmp_path / "bird.jpg"
    Image.fromarray(rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)).save(photo, quality=90)
    golden = tmp_path / "golden"
    result = aa.write_android_golden(model, manifest, photo, golden)

    # independent reference: the project's eval transform and the model's math in numpy
    x = build_transform(PreprocessConfig(input_size=SIZE, resize=(36, 36)), train=False)(load_rgb(photo))
    nhwc = x.permute(1, 2, 0).contiguous().numpy()
    assert (golden / "golden_input.bin").read_bytes() == nhwc.astype("<f4").tobytes()
    logits = nhwc.mean(axis=(0, 1)) @ w.T + b
    assert result["expected_index"] == int(np.argmax(logits))
    assert result["expected_label"] == LABELS[int(np.argmax(logits))]
    assert result["top5"] == [LABELS[i] for i in np.argsort(-logits, kind="stable")]
    probs = torch.softmax(torch.from_numpy(logits).double(), 0).numpy()
    assert result["top5_scores"] == pytest.approx(sorted(probs, reverse=True), abs=1e-5)
    assert json.loads((golden / "golden.json").read_text()) == result
    # golden.png is load_rgb's pixels, losslessly
    assert np.array_equal(np.asarray(Image.open(golden / "golden.png")), np.asarray(load_rgb(photo)))


def test_cli_copies_and_derives_the_golden_folder(exported, tmp_path, capsys):
    from PIL import Image

    model, manifest, _ = exported
    photo = tmp_path / "bird.png"
    Image.new("RGB", (40, 40), (200, 30, 90)).save(photo)
    assets = tmp_path / "app/src/main/assets"
    assert aa.main([str(model), str(manifest), str(assets), "--golden-image", str(photo)]) == 0
    assert (tmp_path / "app/src/androidTest/assets/golden/golden.json").is_file()
    assert aa.main([str(model), str(manifest), str(tmp_path / "elsewhere"), "--golden-image", str(photo)]) == 2
    assert "--golden-dir is needed" in capsys.readouterr().err
