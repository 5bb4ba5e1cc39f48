"""Standard TFLite Model Metadata: what MediaPipe Tasks and the LiteRT Support Library read.

One tiny checkpoint is exported to TFLite fp32 + int8 (default float I/O) and int8 with
``tflite.io=int8``; the metadata table is read back with MediaPipe's own generated schema
classes, and MediaPipe Tasks' ``ImageClassifier`` must give the same top-1 (and the same
probabilities) as ``fgvc-mobile predict``. The MediaPipe checks skip with a reason when the
``[mediapipe]`` extra is not installed; the metadata layout checks run without it.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from fgvc_mobile.cli import main
from fgvc_mobile.export.formats.tflite_metadata import associated_files, read_entries, read_standard
from fgvc_mobile.export.metadata import LABELS_KEY

pytest.importorskip("litert_torch")

MEDIAPIPE_SKIP = "mediapipe not installed: pip install 'fgvc-mobile[mediapipe]' (mediapipe==1.2.3)"


def _export(ckpt: Path, out: Path, *extra: str) -> None:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["export", "--checkpoint", str(ckpt), "--format", "tflite", "--int8", "--calib-images", "12",
                   "--accept-drop", "--out", str(out), *extra])
    assert rc == 0, buf.getvalue()


@pytest.fixture(scope="module")
def tfl(tiny_checkpoints, tiny_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("tfl_meta")
    _export(tiny_checkpoints["baseline"], root / "float_io")
    _export(tiny_checkpoints["baseline"], root / "int8_io", "-O", "tflite.io=int8")
    images = sorted(str(p) for p in (tiny_folder / "test").rglob("*.png"))
    return {"float_io": root / "float_io", "int8_io": root / "int8_io", "images": images}


def _manifest(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".manifest.json").read_text())


def test_io_types_default_float_and_int8_on_request(tfl):
    for name in ("model_fp32.tflite", "model_int8.tflite"):
        m = _manifest(tfl["float_io"] / name)
        assert (m["input"]["dtype"], m["output"]["dtype"], m["output"]["kind"]) == ("uint8", "float32", "probabilities")
        assert m["output"]["quantization"] is None
    m = _manifest(tfl["int8_io"] / "model_int8.tflite")
    assert m["output"]["dtype"] == "int8" and m["output"]["kind"] == "probabilities"
    # an int8 softmax: LiteRT's fixed output quantization, 1/256 steps from 0
    assert m["output"]["quantization"] == {"scale": pytest.approx(1 / 256), "zero_point": -128}
    assert any("tflite.io=int8" in n for n in m["notes"])


def test_labels_packed_as_associated_file_beside_our_entries(tfl):
    for name in ("model_fp32.tflite", "model_int8.tflite"):
        path = tfl["float_io"] / name
        labels = _manifest(path)["labels"]
        assert associated_files(path.read_bytes()) == {"labels.txt": ("\n".join(labels) + "\n").encode()}
        assert read_entries(path)[LABELS_KEY].splitlines() == labels  # the toolkit's own entries stay
        assert read_standard(path) is not None


def test_metadata_table_read_by_mediapipe_schema(tfl):
    pytest.importorskip("mediapipe", reason=MEDIAPIPE_SKIP)
    from mediapipe.tasks.metadata import metadata_schema_py_generated as s

    path = tfl["float_io"] / "model_int8.tflite"
    raw = read_standard(path)
    assert s.ModelMetadata.ModelMetadataBufferHasIdentifier(raw, 0)
    md = s.ModelMetadataT.InitFromPackedBuf(raw, 0)
    assert md.minParserVersion == b"1.0.0"
    (sub,) = md.subgraphMetadata
    (inp,), (out,) = sub.inputTensorMetadata, sub.outputTensorMetadata
    assert inp.content.contentPropertiesType == s.ContentProperties.ImageProperties
    props = inp.content.contentProperties
    assert (props.colorSpace, props.defaultSize.width, props.defaultSize.height) == (s.ColorSpaceType.RGB, 32, 32)
    (unit,) = inp.processUnits
    assert unit.optionsType == s.ProcessUnitOptions.NormalizationOptions
    # uint8 input, normalisation in the graph: raw pixels go in
    assert list(unit.options.mean) == [0, 0, 0] and list(unit.options.std) == [1, 1, 1]
    assert list(inp.stats.min) == [0, 0, 0] and list(inp.stats.max) == [255, 255, 255]
    assert out.content.contentPropertiesType == s.ContentProperties.FeatureProperties
    assert (list(out.stats.min), list(out.stats.max)) == ([0.0], [1.0])
    (labels,) = out.associatedFiles
    assert (labels.name, labels.type) == (b"labels.txt", s.AssociatedFileType.TENSOR_AXIS_LABELS)


def test_float_input_normalisation_in_pixel_units():
    """float input: MediaPipe computes (pixel - mean) / std, so mean/std are the training ones times 255."""
    from fgvc_mobile.export.formats.tflite_metadata import normalization

    m = {"input": {"normalization_in_graph": False}, "preprocess": {"mean": [0.5, 0.25, 0.0], "std": [0.5, 0.2, 1.0]}}
    assert normalization(m) == ([127.5, 63.75, 0.0], [127.5, 51.0, 255.0])
    # pixel 255 in channel 0: (255 - 127.5) / 127.5 = 1 = (255/255 - 0.5) / 0.5
    assert normalization({**m, "input": {"normalization_in_graph": True}}) == ([0.0] * 3, [1.0] * 3)


def _predict_top1(model: Path, images: list[str]) -> list[tuple[str, float]]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["predict", "--model", str(model), *images, "--top-k", "1"]) == 0
    rows = [ln.split() for ln in buf.getvalue().splitlines() if ln.startswith("  1. ")]
    return [(r[1], float(r[2].rstrip("%")) / 100) for r in rows]


@pytest.mark.parametrize("name", ["model_fp32.tflite", "model_int8.tflite"])
def test_mediapipe_image_classifier_agrees_with_predict(tfl, name):
    mp = pytest.importorskip("mediapipe", reason=MEDIAPIPE_SKIP)
    from mediapipe.tasks.python import BaseOptions, vision

    from fgvc_mobile.export.contract import preprocess_of
    from fgvc_mobile.export.runtime import load_crops

    path, images = tfl["float_io"] / name, tfl["images"]
    expected = _predict_top1(path, images)
    assert len(expected) == len(images)
    # MediaPipe gets the very pixels predict feeds (eval resize + centre crop, already at the input
    # size, so it does no resizing of its own): labels, scores and normalisation come from the metadata
    crops = load_crops(images, preprocess_of(_manifest(path)))
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)), max_results=1)
    with vision.ImageClassifier.create_from_options(options) as clf:
        for crop, (label, score) in zip(crops, expected):
            (top,) = clf.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop))
                                  ).classifications[0].categories
            assert top.category_name == label
            assert abs(top.score - score) <= 0.0001  # predict prints 2 decimals of a percent


def test_int8_softmax_rows_pass_the_probability_check():
    """tflite.io=int8 on many classes: each dequantized probability is off by up to half a step (1/512)."""
    from fgvc_mobile.export.runtime import _are_probabilities

    p = np.full((1, 200), 0.4 / 199)
    p[0, 0] = 0.6
    q = np.round(p * 256) / 256  # 0.00201 rounds up to 1/256: the row sums to 0.6 + 199/256 = 1.377
    assert q.sum() == pytest.approx(0.6 + 199 / 256, abs=0.002)
    assert _are_probabilities(q, 1 / 256) and not _are_probabilities(q)
    assert not _are_probabilities(q * 2, 1 / 256)  # logits mislabelled as probabilities still fail
