"""Input preparation, dequantisation, label mapping, manifest discovery and the decode-once cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench_helpers import PRE, manifest, write_json
from fgvc_mobile.benchmarks.accuracy import agreement, class_index_map, topk_accuracy
from fgvc_mobile.benchmarks.image_cache import decode_once
from fgvc_mobile.benchmarks.inputs import InputSpec, QuantParams, dequantize, prepare
from fgvc_mobile.benchmarks.manifests import discover
from fgvc_mobile.data.transforms import build_transform, geometric_eval
from fgvc_mobile.errors import FGVCError


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (45, 60, 3), dtype=np.uint8))


def spec(**kw):
    base = dict(layout="NHWC", dtype="uint8", normalization_in_graph=True, mean=PRE.mean, std=PRE.std, input_size=32)
    return InputSpec(**(base | kw))


def crop(photo):
    return np.asarray(geometric_eval(PRE)(photo), dtype=np.uint8)[None]


def test_float_nchw_matches_the_training_eval_transform(photo):
    want = build_transform(PRE, train=False)(photo).numpy()[None]
    got = prepare(crop(photo), spec(layout="NCHW", dtype="float32", normalization_in_graph=False))
    assert got.dtype == np.float32 and got.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_uint8_nhwc_is_the_raw_crop(photo):
    x = crop(photo)
    got = prepare(x, spec())
    assert got.dtype == np.uint8 and np.array_equal(got, x)
    raw_float = prepare(x, spec(dtype="float32"))  # float input, normalisation in graph: 0..255 values
    assert np.array_equal(raw_float, x.astype(np.float32))


def test_int8_quantized_input_round_trips_within_half_a_step(photo):
    q = QuantParams(scale=0.0187, zero_point=-14)
    x = crop(photo)
    got = prepare(x, spec(dtype="int8", normalization_in_graph=False, layout="NCHW", quant=q))
    f = prepare(x, spec(dtype="float32", normalization_in_graph=False, layout="NCHW"))
    assert got.dtype == np.int8
    back = (got.astype(np.float32) - q.zero_point) * q.scale
    inside = (f > (-128 - q.zero_point) * q.scale) & (f < (127 - q.zero_point) * q.scale)
    assert inside.mean() > 0.99
    assert np.abs(back - f)[inside].max() <= q.scale / 2 + 1e-6


def test_uint8_with_real_quantization_params(photo):
    q = QuantParams(scale=0.02, zero_point=120)
    got = prepare(crop(photo), spec(dtype="uint8", normalization_in_graph=False, quant=q))
    f = prepare(crop(photo), spec(dtype="float32", normalization_in_graph=False))
    np.testing.assert_array_equal(got, np.clip(np.round(f / 0.02) + 120, 0, 255).astype(np.uint8))


def test_input_errors(photo):
    with pytest.raises(FGVCError, match="int8 input without quantization"):
        prepare(crop(photo), spec(dtype="int8"))
    with pytest.raises(FGVCError, match="^images are 32x32 but the model takes 64$"):
        prepare(crop(photo), spec(input_size=64))
    with pytest.raises(FGVCError, match="manifest says input dtype uint8 but the model takes float32"):
        spec().with_model("float32", None, "m.tflite")
    q = QuantParams(0.5, 3)
    assert spec(dtype="int8", quant=QuantParams(1.0, 0)).with_model("int8", q).quant == q


def test_dequantize_and_quant_params():
    q = QuantParams.parse({"scale": 0.25, "zero_point": -10})
    np.testing.assert_allclose(dequantize(np.array([[-10, -6, 2]], np.int8), q), [[0.0, 1.0, 3.0]])
    assert QuantParams.parse((0.0, 0)) is None and QuantParams.parse(None) is None
    assert QuantParams.parse((0.1, 5)) == QuantParams(0.1, 5)
    logits = np.array([[0.5, -1.0]], np.float32)
    assert dequantize(logits, q) is logits or np.array_equal(dequantize(logits, q), logits)
    assert dequantize(np.array([[3, 9]], np.uint8), None).dtype == np.float32


def test_label_mapping_and_scores():
    assert class_index_map(["a", "b", "c"], ["a", "b", "c"], "m") is None
    m = class_index_map(["c", "a", "b"], ["a", "b", "c"], "m")
    assert m.tolist() == [1, 2, 0]
    with pytest.raises(FGVCError, match="lack 1 of the data's classes"):
        class_index_map(["a", "b"], ["a", "b", "z"], "m")
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
    labels = np.array([1, 2, 2, 1])
    acc = topk_accuracy(logits, labels)
    assert acc["top1"] == 0.5 and acc["n"] == 4 and acc["top5"] == 1.0  # 3 classes: top-3
    assert topk_accuracy(logits[:, [2, 0, 1]], labels, np.array([1, 2, 0]))["top1"] == 0.5
    assert agreement(np.array([1, 0, 2, 0]), np.array([1, 0, 0, 0])) == 0.75


def test_discover_single_and_combined_manifests(tmp_path):
    d = tmp_path / "dist"
    (d / "sub").mkdir(parents=True)
    (tmp_path / "best.pt").write_bytes(b"ckpt")
    for name in ("a.onnx", "sub/b.tflite"):
        (d / name).write_bytes(b"x" * 10)
    kw = dict(layout="NHWC", dtype="uint8", in_graph=True, shape=[1, 32, 32, 3])
    write_json(d / "a.manifest.json", manifest("a.onnx", ["x"], checkpoint="../best.pt", **kw))
    write_json(d / "sub" / "manifest.json", {"artifacts": [
        manifest("b.tflite", ["x"], fmt="tflite", **kw),
        manifest("../a.onnx", ["x"], **kw),  # the same file again: listed once
    ]})
    arts = discover(d)
    assert [a.name for a in arts] == ["a.onnx", "sub/b.tflite"]
    assert arts[0].checkpoint == str((tmp_path / "best.pt").resolve()) and arts[1].checkpoint is None
    assert arts[1].format == "tflite" and arts[1].size_bytes == 10
    assert [a.name for a in discover(d / "a.manifest.json")] == ["a.onnx"]


def test_decode_once_skips_unreadable_images_and_reuses_the_cache(tmp_path, photo):
    good = tmp_path / "good.png"
    photo.save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    samples = [(str(good), 0), (str(bad), 1), (str(good), 1)]
    first = decode_once(samples, PRE, tmp_path / "cache", progress=False)
    assert first.valid.tolist() == [True, False, True] and first.n_valid == 2
    assert first.skipped[0][0] == str(bad) and not first.from_cache
    assert np.array_equal(np.asarray(first.images[0]), crop(photo)[0])
    again = decode_once(samples, PRE, tmp_path / "cache", progress=False)
    assert again.from_cache and np.array_equal(np.asarray(again.images), np.asarray(first.images))
    in_memory = decode_once(samples, PRE, None, progress=False)
    assert np.array_equal(in_memory.images, np.asarray(first.images))
