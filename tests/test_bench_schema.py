"""The versioned report: round trip, validation failures, and reports from the Android app."""

from __future__ import annotations

import copy
import json

import pytest

from fgvc_mobile.benchmarks import import_report
from fgvc_mobile.benchmarks.report import ROW_FIELDS, load_report, make_row, new_report, save_report, validate_report
from fgvc_mobile.errors import FGVCError


def sample_report() -> dict:
    row = make_row(
        artifact="rmg_int8.tflite", format="tflite", precision="int8", method="rmg-pmsi", target="host",
        runtime="litert", delegate="xnnpack", threads=4, batch=1, input_size=224, size_bytes=3_500_000,
        params=3_400_000, macs=300_000_000, load_ms=12.5, first_inference_ms=30.1, warmup_runs=10, runs=50,
        latency_ms={"mean": 9.5, "std": 0.4, "p50": 9.4, "p90": 10.0, "p99": 11.2, "min": 9.0, "max": 11.5},
        peak_rss_mb=410.2, rss_delta_mb=22.0, accuracy={"top1": 0.812, "top5": 0.95, "n": 2903},
        reference="/ckpt/best.pt", agreement_with_reference=0.97, top1_delta_vs_reference=-0.006,
    )
    return new_report({"cpu_model": "AMD EPYC", "cores": 2, "threads": 4, "os": "Linux", "python": "3.11",
                       "libraries": {"onnxruntime": "1.32.0", "coremltools": None}, "gpu": None},
                      [row], reference={"device": "cpu", "checkpoints": [{"checkpoint": "/ckpt/best.pt"}]},
                      settings={"runs": 50})


def test_round_trip(tmp_path):
    rep = sample_report()
    save_report(rep, tmp_path / "r.json")
    back = load_report(tmp_path / "r.json")
    assert back == json.loads(json.dumps(rep))
    assert list(back["results"][0]) == list(ROW_FIELDS)


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda r: r["results"][0].update(target="phone"), "results[0].target"),
        (lambda r: r["results"][0].update(agreement_with_reference=1.5), "results[0].agreement_with_reference"),
        (lambda r: r["results"][0]["latency_ms"].update(p50="fast"), "results[0].latency_ms.p50"),
        (lambda r: r["results"][0].pop("runtime"), "results[0]"),
        (lambda r: r.pop("results"), "(top level)"),
        (lambda r: r.update(kind="something-else"), "kind"),
        (lambda r: r.update(machine={}), "machine"),
    ],
)
def test_invalid_reports_name_the_field(tmp_path, mutate, where):
    rep = sample_report()
    mutate(rep)
    with pytest.raises(FGVCError) as e:
        validate_report(rep, "r.json")
    msg = str(e.value)
    assert msg.startswith("r.json: invalid benchmark report at " + where) and "\n" not in msg
    with pytest.raises(FGVCError):  # nothing invalid is ever written
        save_report(rep, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_newer_schema_version_is_refused():
    rep = sample_report()
    rep["schema_version"] = 2
    with pytest.raises(FGVCError, match="schema_version 2 is not supported"):
        validate_report(rep, "r.json")


@pytest.mark.parametrize("content, match", [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object")])
def test_unreadable_files(tmp_path, content, match):
    p = tmp_path / "r.json"
    p.write_text(content)
    with pytest.raises(FGVCError, match=match):
        load_report(p)
    with pytest.raises(FGVCError, match="no such report file"):
        load_report(tmp_path / "missing.json")


def android_app_report() -> dict:
    """What the app writes: its own device block and rows with only what it measured."""
    return {
        "schema_version": 1, "kind": "fgvc-mobile-bench",
        "machine": {"device": {"model": "Pixel 7", "soc": "Tensor G2", "android": "14"}, "threads": 4},
        "results": [
            {"artifact": "rmg_int8.tflite", "runtime": "litert", "target": "android", "delegate": "xnnpack",
             "latency_ms": {"mean": 14.2, "p50": 14.0, "p90": 15.1}, "accuracy": {"top1": 0.80, "n": 200}},
            {"artifact": "rmg_fp32.tflite", "runtime": "litert", "target": "android", "delegate": "gpu",
             "latency_ms": {"mean": 8.1}, "app_build": "1.0 (3)"},
        ],
    }


def test_android_rows_with_missing_fields_are_accepted_and_rendered(tmp_path):
    src = tmp_path / "phone_report.json"
    src.write_text(json.dumps(android_app_report()))
    rep = import_report(src, tmp_path / "out")
    rows = rep["results"]
    assert rows[0]["load_ms"] is None and rows[0]["format"] is None  # filled in, not invented
    assert rows[1]["app_build"] == "1.0 (3)"  # unknown extras survive
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Pixel 7" in md and "rmg_fp32.tflite" in md and "80.00" in md
    assert (tmp_path / "out" / "latency_by_format.png").is_file()
    assert (tmp_path / "out" / "accuracy_vs_latency.png").is_file()


def test_make_row_refuses_unknown_fields():
    with pytest.raises(ValueError):
        make_row(artifact="x", runtime="y", target="host", latency=3)


def test_validate_does_not_mutate():
    rep = sample_report()
    before = copy.deepcopy(rep)
    validate_report(rep)
    assert rep == before
