"""Label mapping, manifest discovery and the decode-once cache (input preparation: test_contract.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench_helpers import PRE, manifest, write_json
from fgvc_mobile.benchmarks.accuracy import agreement, class_index_map, topk_accuracy
from fgvc_mobile.benchmarks.image_cache import decode_once
from fgvc_mobile.benchmarks.manifests import discover
from fgvc_mobile.data.transforms import geometric_eval
from fgvc_mobile.errors import FGVCError


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (45, 60, 3), dtype=np.uint8))


def crop(photo):
    return np.asarray(geometric_eval(PRE)(photo), dtype=np.uint8)[None]


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
