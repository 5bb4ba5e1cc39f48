"""The pipeline every study shares (studies/run.py): a finished run is reused and a partial one
resumed, an export of the same checkpoint is reused and any other is not, the deploy graph is
measured, and two studies run end to end on a tiny data set."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from fgvc_mobile.models.load import read_checkpoint
from fgvc_mobile.studies import cub100_accuracy, methods_table
from fgvc_mobile.studies.run import Run, current_export, time_artifact
from fgvc_mobile.train.trainer import fit


def _options(tiny_folder, out, **kw) -> dict:
    return {"data": f"folder:{tiny_folder}", "method": "baseline", "out": str(out), "img_size": 32, "resize": 36,
            "epochs": 1, "batch_size": 4, "workers": 0, "lr": 0.01, "pretrained": "none", **kw}


def test_a_finished_run_is_reused_and_a_partial_one_resumed(tiny_folder, tmp_path, monkeypatch):
    run = Run.train(_options(tiny_folder, tmp_path / "r"))
    best = run.folder / "best.pt"
    os.utime(best, (1, 1))  # any rewrite would give it a new time

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    with monkeypatch.context() as m:
        m.setattr("fgvc_mobile.studies.run.fit", no_training)
        assert Run.train(_options(tiny_folder, tmp_path / "r")).folder == run.folder
    assert best.stat().st_mtime == 1
    resumed_from = []
    with monkeypatch.context() as m:
        m.setattr("fgvc_mobile.studies.run.fit", lambda cfg, **k: resumed_from.append(cfg.resume) or fit(cfg, **k))
        (run.folder / "results.json").unlink()  # stopped after its last epoch, before the one test evaluation
        Run.train(_options(tiny_folder, tmp_path / "r"))
        assert (run.folder / "results.json").is_file()  # written by that evaluation
        Run.train(_options(tiny_folder, tmp_path / "r", epochs=2))  # more epochs asked: resumed, not restarted
    assert resumed_from == [str(run.folder / "last.pt")] * 2
    ckpt = read_checkpoint(run.folder / "last.pt")
    assert ckpt["epoch"] == 2 and [h["epoch"] for h in ckpt["history"]] == [1, 2]


def test_deploy_graph_cost_and_latency(tiny_checkpoints):
    run = Run(tiny_checkpoints["rmg-pmsi"].parent)
    graph, lat = run.torch_latency("concat", threads=1, runs=3, warmup=0)
    assert graph.rule == "concat" and lat.runs == 3 and lat.cpu_time_ms["p50"] > 0
    concat, combined = run.cost(graph), run.cost(run.graph("combined"))
    assert 0 < concat["deploy_macs"] < combined["deploy_macs"] <= concat["train_macs"]
    base = Run(tiny_checkpoints["baseline"].parent)
    assert base.cost(base.graph())["x_mobilenet_v2"] == pytest.approx(1.0)


def _index(folder, sha="abc", rule="concat", images="8 test images of x", files=True) -> None:
    arts = [{"format": f, "precision": p, "inference_rule": rule, "model_file": f"m_{p}.{f}",
             "validation": {"images": images}} for f in ("onnx", "tflite") for p in ("fp32", "int8")]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"source": {"checkpoint_sha256": sha}, "artifacts": arts}))
    for a in arts if files else []:
        (folder / a["model_file"]).write_bytes(b"x")


def test_an_export_is_reused_only_when_it_is_of_this_checkpoint_rule_formats_and_images(tmp_path):
    _index(tmp_path / "ok")
    assert len(current_export(tmp_path / "ok", "abc", "concat", ["onnx", "tflite"], 8)) == 4
    assert current_export(tmp_path / "ok", "abc", "concat", ["tflite"], None) is not None
    assert current_export(tmp_path / "ok", "other", "concat", ["tflite"], None) is None  # another checkpoint
    assert current_export(tmp_path / "ok", "abc", "combined", ["tflite"], None) is None  # another rule
    assert current_export(tmp_path / "ok", "abc", "concat", ["tflite", "coreml"], None) is None  # a format missing
    assert current_export(tmp_path / "ok", "abc", "concat", ["tflite"], 500) is None  # validated on fewer images
    _index(tmp_path / "gone", files=False)
    assert current_export(tmp_path / "gone", "abc", "concat", ["tflite"], None) is None  # files deleted
    assert current_export(tmp_path / "none", "abc", "concat", ["tflite"], None) is None


def test_int8_tflite_is_exported_once_then_reused_and_timed(tiny_checkpoints, tmp_path, monkeypatch):
    run = Run(tiny_checkpoints["baseline"].parent)
    art = run.int8_tflite(tmp_path / "x", val_images=4, calib_images=8)
    assert art["precision"] == "int8" and art["inference_rule"] == "classifier", art
    assert time_artifact(tmp_path / "x", art, threads=1, runs=2, warmup=0).runs == 2

    def no_export(*a, **k):
        raise RuntimeError("the converter refused")

    monkeypatch.setattr("fgvc_mobile.studies.run.run_export", no_export)
    assert run.int8_tflite(tmp_path / "x", val_images=4)["model_file"] == art["model_file"]  # reused
    assert run.int8_tflite(tmp_path / "x", val_images=4, fresh=True) == \
        {"note": "export failed: RuntimeError: the converter refused"}  # a row note, not a crash


def test_two_studies_end_to_end_on_a_tiny_set(tiny_folder, tmp_path):
    """methods_table and cub100_accuracy on one tiny YAML setting: each trains its run once, and
    reports the run's own recorded test top-1 and its deploy graph's cost."""
    setting = {k: v for k, v in _options(tiny_folder, "unused").items() if k not in ("method", "out")}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(setting))
    assert methods_table.main(["--config", str(tmp_path / "s.yaml"), "--methods", "baseline", "--runs",
                               str(tmp_path / "m"), "--out", str(tmp_path / "methods"), "--reps", "2",
                               "--no-export"]) == 0
    (row,) = json.loads((tmp_path / "methods.json").read_text())["results"]
    test = read_checkpoint(tmp_path / "m" / "baseline" / "best.pt")["test_metrics"]
    assert row["top1"] == test["top1/classifier"] and row["selected_on"] == "val" and row["macs"] > 0
    assert row["int8_note"] == "skipped (--no-export)"
    assert "python -m fgvc_mobile.studies.methods_table --config" in (tmp_path / "methods.md").read_text()
    assert cub100_accuracy.main(["--config", str(tmp_path / "s.yaml"), "--methods", "baseline", "--runs",
                                 str(tmp_path / "c"), "--out", str(tmp_path / "acc")]) == 0
    (acc,) = json.loads((tmp_path / "acc.json").read_text())["results"]
    assert acc["metrics"]["top1/classifier"] == read_checkpoint(tmp_path / "c" / "cub100-baseline" / "best.pt")[
        "test_metrics"]["top1/classifier"]
