"""End to end: run_bench on ONNX artifacts made here from a tiny checkpoint, on a tiny image folder."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from bench_helpers import PRE, Logits, Permuted, Uint8Logits, export_onnx, folder_tensors, make_checkpoint, manifest, write_json
from conftest import make_image_folder
from fgvc_mobile.benchmarks import import_report, run_bench
from fgvc_mobile.benchmarks.report import load_report

CLASSES = ["class_0", "class_1", "class_2"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    data = make_image_folder(root / "data", classes=3, train=4, test=4, size=40)
    model = make_checkpoint(root / "ckpt" / "best.pt", CLASSES, data)
    dist = root / "dist"
    dist.mkdir()
    ck = "../ckpt/best.pt"  # relative to the manifest, as an exporter writes it
    export_onnx(Logits(model), torch.zeros(1, 3, 32, 32), dist / "a_fp32.onnx", dynamic_batch=True)
    write_json(dist / "a_fp32.manifest.json", manifest("a_fp32.onnx", CLASSES, layout="NCHW", dtype="float32",
                                                        in_graph=False, shape=[1, 3, 32, 32], checkpoint=ck))
    export_onnx(Uint8Logits(model, PRE), torch.zeros(1, 32, 32, 3, dtype=torch.uint8), dist / "b_u8.onnx", dynamic_batch=False)
    perm = [2, 0, 1]
    export_onnx(Permuted(Logits(model), perm), torch.zeros(1, 3, 32, 32), dist / "c_perm.onnx", dynamic_batch=True)
    (dist / "d.mlpackage").mkdir()
    (dist / "d.mlpackage" / "Manifest.json").write_text("{}")
    write_json(dist / "manifest.json", {"artifacts": [
        manifest("b_u8.onnx", CLASSES, layout="NHWC", dtype="uint8", in_graph=True, shape=[1, 32, 32, 3], checkpoint=ck),
        manifest("c_perm.onnx", [CLASSES[i] for i in perm], layout="NCHW", dtype="float32", in_graph=False,
                 shape=[1, 3, 32, 32], checkpoint=ck),
        manifest("d.mlpackage", CLASSES, layout="NHWC", dtype="uint8", in_graph=True, shape=[1, 32, 32, 3], fmt="coreml"),
    ]})
    out = root / "out"
    report = run_bench(dist, f"folder:{data}", out, threads=1, runs=4, warmup=1, target="cpu", progress=False,
                       eval_batch=5, cache_dir=root / "cache")
    x, y = folder_tensors(data, "test", CLASSES)
    with torch.no_grad():
        expected = Logits(model)(x).argmax(1).numpy()
    return {"report": report, "out": out, "rows": {r["artifact"]: r for r in report["results"]},
            "expected_pred": expected, "labels": y.numpy(), "root": root, "dist": dist, "data": data}


def test_every_output_is_written_and_valid(bench):
    out = bench["out"]
    for name in ("report.json", "report.md", "report.html", "accuracy_vs_latency.png", "latency_by_format.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    loaded = load_report(out / "report.json")
    assert [r["artifact"] for r in loaded["results"]] == [r["artifact"] for r in bench["report"]["results"]]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "a_fp32.onnx" in html and "<table>" in html
    md = (out / "report.md").read_text()
    assert sum(1 for line in md.splitlines() if line.startswith("| ")) == 1 + len(loaded["results"])


def test_accuracy_matches_an_independent_pytorch_evaluation(bench):
    # the training transform path (PIL -> ToTensor -> Normalize) predicts what every artifact must
    expected_top1 = float(np.mean(bench["expected_pred"] == bench["labels"]))
    assert len(set(bench["expected_pred"].tolist())) > 1, "test model predicts a constant class: weak test"
    for name in ("best.pt", "a_fp32.onnx", "b_u8.onnx", "c_perm.onnx"):
        row = bench["rows"][name]
        assert row["skipped_reason"] is None, (name, row["skipped_reason"])
        assert row["accuracy"]["n"] == len(bench["labels"])
        assert row["accuracy"]["top1"] == pytest.approx(expected_top1), name
        assert row["accuracy"]["top5"] == 1.0  # 3 classes: top-5 is top-3


def test_agreement_and_delta_against_the_reference(bench):
    ref = bench["report"]["reference"]
    assert ref["device"] == "cpu" and ref["checkpoints"][0]["method"] == "baseline"
    assert ref["checkpoints"][0]["rule"] == "classifier"
    for name in ("a_fp32.onnx", "b_u8.onnx", "c_perm.onnx"):
        row = bench["rows"][name]
        assert row["agreement_with_reference"] == 1.0, name  # same fp32 weights, labels matched by name
        assert row["top1_delta_vs_reference"] == pytest.approx(0.0, abs=1e-12)
        assert row["reference"].endswith("best.pt")


def test_latency_fields(bench):
    for name in ("best.pt", "a_fp32.onnx", "b_u8.onnx"):
        row = bench["rows"][name]
        lat = row["latency_ms"]
        assert row["runs"] == 4 and row["warmup_runs"] == 1 and row["threads"] == 1 and row["batch"] == 1
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        cpu = row["cpu_time_ms"]  # process CPU time of the same runs
        assert set(cpu) == set(lat) and 0 <= cpu["min"] <= cpu["p50"] <= cpu["max"]
        assert row["load_ms"] > 0 and row["first_inference_ms"] > 0
        assert row["size_bytes"] > 0
    assert bench["rows"]["best.pt"]["params"] > 0 and bench["rows"]["best.pt"]["macs"] > 0
    # the ONNX graph stores the same weights as the checkpoint's deploy model (BN folded or not)
    assert 0.9 * bench["rows"]["best.pt"]["params"] <= bench["rows"]["a_fp32.onnx"]["params"] <= bench["rows"]["best.pt"]["params"]
    machine = bench["report"]["machine"]
    assert machine["threads"] == 1 and machine["libraries"]["onnxruntime"] and machine["python"]


def test_coreml_row_is_skipped_with_reason_off_macos(bench):
    row = bench["rows"]["d.mlpackage"]
    if sys.platform == "darwin":
        pytest.skip("CoreML runs here")
    assert row["skipped_reason"] == "CoreML runs only on macOS" and row["latency_ms"] is None


def test_decoded_images_are_cached_and_reused(bench, tmp_path):
    cached = list((bench["root"] / "cache").glob("decoded-32px-*.npy"))
    assert len(cached) == 1  # one geometry shared by every artifact and the reference
    before = cached[0].stat().st_mtime_ns
    again = run_bench(bench["dist"] / "a_fp32.manifest.json", f"folder:{bench['data']}", tmp_path / "o", threads=1,
                      runs=1, warmup=0, target="cpu", progress=False, cache_dir=bench["root"] / "cache")
    assert cached[0].stat().st_mtime_ns == before
    row = next(r for r in again["results"] if r["artifact"] == "a_fp32.onnx")
    assert row["accuracy"] == bench["rows"]["a_fp32.onnx"]["accuracy"]


def test_import_renders_a_report(bench, tmp_path):
    report = import_report(bench["out"] / "report.json", tmp_path / "imported")
    assert (tmp_path / "imported" / "report.html").is_file()
    assert len(report["results"]) == len(bench["report"]["results"])


def test_gemm_peak_and_each_rows_share_of_it(bench):
    report = bench["report"]
    rates = {(r["precision"], r["threads"]): r for r in report["gemm_peak"]["rates"]}
    assert ("fp32", 1) in rates and report["gemm_peak"]["macs"] == 1024 ** 3
    ref = bench["rows"]["best.pt"]
    for name in ("best.pt", "a_fp32.onnx", "b_u8.onnx"):
        row = bench["rows"][name]
        # these manifests carry no source.macs: the reference's (same rule, same size) stands in
        assert row["macs"] == ref["macs"] > 0
        c = row["compute"]
        assert c["gmacs"] == pytest.approx(row["macs"] / (row["latency_ms"]["p50"] * 1e6))
        assert c["peak"] == "fp32" and c["share"] == pytest.approx(c["gmacs"] / rates[("fp32", 1)]["gmacs"])
    assert bench["rows"]["d.mlpackage"]["compute"] is None  # skipped: nothing measured
    assert "GEMM peak" in (bench["out"] / "report.md").read_text()
