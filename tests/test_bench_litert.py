"""LiteRT rows on a .tflite converted here (litert-torch takes ~15 s to import: marked slow)."""

from __future__ import annotations

import pytest
import torch

from bench_helpers import PRE, Logits, Uint8Logits, folder_tensors, make_checkpoint, manifest, write_json
from conftest import make_image_folder
from fgvc_mobile.benchmarks import run_bench

CLASSES = ["class_0", "class_1", "class_2"]


@pytest.mark.slow
def test_litert_rows_agree_with_the_reference(tmp_path):
    litert_torch = pytest.importorskip("litert_torch")
    data = make_image_folder(tmp_path / "data", classes=3, train=4, test=4, size=40)
    model = make_checkpoint(tmp_path / "best.pt", CLASSES, data)
    dist = tmp_path / "dist"
    dist.mkdir()
    kw = dict(checkpoint="../best.pt", fmt="tflite")
    litert_torch.convert(Uint8Logits(model, PRE).eval(), (torch.zeros(1, 32, 32, 3, dtype=torch.uint8),)).export(
        str(dist / "u8.tflite"))
    write_json(dist / "u8.manifest.json", manifest("u8.tflite", CLASSES, layout="NHWC", dtype="uint8", in_graph=True,
                                                   shape=[1, 32, 32, 3], **kw))
    litert_torch.convert(Logits(model).eval(), (torch.zeros(1, 3, 32, 32),)).export(str(dist / "f32.tflite"))
    write_json(dist / "f32.manifest.json", manifest("f32.tflite", CLASSES, layout="NCHW", dtype="float32",
                                                    in_graph=False, shape=[1, 3, 32, 32], **kw))
    report = run_bench(dist, f"folder:{data}", tmp_path / "out", threads=1, runs=3, warmup=1, target="cpu",
                       progress=False, eval_batch=5)
    rows = {r["artifact"]: r for r in report["results"]}
    x, y = folder_tensors(data, "test", CLASSES)
    with torch.no_grad():
        top1 = float((Logits(model)(x).argmax(1) == y).float().mean())
    for name in ("u8.tflite", "f32.tflite"):
        row = rows[name]
        assert row["skipped_reason"] is None, row["skipped_reason"]
        assert (row["runtime"], row["delegate"]) == ("litert", "xnnpack")
        assert row["accuracy"]["top1"] == pytest.approx(top1)
        assert row["agreement_with_reference"] == 1.0
