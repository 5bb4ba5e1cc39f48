"""The int8 table reads test figures from one bench run, sizes from the files, and marks the goal."""

from __future__ import annotations

import pytest

from fgvc_mobile.studies.int8_table import meets_goal, rows_for


def _bench(top1, agree, ms):
    return {"accuracy": {"top1": top1}, "agreement_with_reference": agree, "latency_ms": {"p50": ms}}


def test_rows_take_test_figures_from_bench_and_sizes_from_the_files(tmp_path):
    (tmp_path / "model_fp32.tflite").write_bytes(b"x" * 1000)
    (tmp_path / "model_int8.tflite").write_bytes(b"x" * 250)
    arts = [{"model_file": "model_fp32.tflite"},
            {"model_file": "model_int8.tflite", "int8_recipe": {"mode": "auto", "options": {"activations": "int8"},
                                                                "rung": 1, "of": 2}}]
    bench = {"m/model_fp32.tflite": _bench(0.80, 1.0, 10.0), "m/model_int8.tflite": _bench(0.796, 0.99, 5.0)}
    refused = [{"fmt": "onnx", "precision": "int8", "file": "model_int8.onnx", "drop": 2.5, "agreement": 90.0,
                "reason": "top-1 drops 2.50 points"}]
    arts.append({"model_file": "model_fp32.onnx"})
    (tmp_path / "model_fp32.onnx").write_bytes(b"x")
    rows = {r["format"]: r for r in rows_for("m", tmp_path, arts, refused, bench)}
    t = rows["tflite"]
    assert t["split"] == "test" and t["fp32_top1"] == pytest.approx(80.0) and t["int8_top1"] == pytest.approx(79.6)
    assert t["drop"] == pytest.approx(-0.4) and t["agreement"] == pytest.approx(99.0)
    assert t["size_ratio"] == pytest.approx(0.25) and t["latency_ratio"] == pytest.approx(0.5)
    assert t["meets_goal"] and t["recipe"]["rung"] == 1
    o = rows["onnx"]
    assert not o["published"] and o["drop"] == pytest.approx(-2.5) and o["split"] == "val"
    assert set(rows) == {"tflite", "onnx"}  # no CoreML artifacts: no row


@pytest.mark.parametrize("change, ok", [({}, True), ({"drop": -0.6}, False), ({"agreement": 97.9}, False),
                                         ({"size_ratio": 0.31}, False), ({"latency_ratio": 0.7}, False),
                                         ({"latency_ratio": None}, True)])
def test_goal(change, ok):
    row = {"format": "onnx", "drop": -0.5, "agreement": 98.0, "size_ratio": 0.30, "latency_ratio": 0.66, **change}
    assert meets_goal(row) is ok
