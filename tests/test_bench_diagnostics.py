"""bench: per-class diagnostics per row, int8 - float per-class deltas, unique row names, readable plots.

Two runs (``runA``, ``runB``), each a ``best.pt``; runA also has a float ONNX and an "int8" ONNX
whose manifest lists its classes in the wrong order (a known, hand-computable per-class damage).
"""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
import torch

from bench_helpers import Logits, Permuted, export_onnx, folder_tensors, make_checkpoint, manifest, write_json
from conftest import make_image_folder
from fgvc_mobile.benchmarks import plots, run_bench
from fgvc_mobile.benchmarks.machine import lscpu_model
from fgvc_mobile.benchmarks.names import display_names
from fgvc_mobile.benchmarks.render import context_lines

pytest.importorskip("onnxruntime")

CLASSES = ["class_0", "class_1", "class_2"]
PERM = [1, 2, 0]  # the "int8" model's output j is class PERM[j], but its manifest calls it CLASSES[j]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bdiag")
    data = make_image_folder(root / "data", classes=3, train=4, test=4, size=40)
    model_a = make_checkpoint(root / "runA" / "best.pt", CLASSES, data, seed=0)
    make_checkpoint(root / "runB" / "best.pt", CLASSES, data, seed=1)
    dist = root / "dist"
    (dist / "b").mkdir(parents=True)
    nchw = dict(layout="NCHW", dtype="float32", in_graph=False, shape=[1, 3, 32, 32])
    x0 = torch.zeros(1, 3, 32, 32)
    export_onnx(Logits(model_a), x0, dist / "model_fp32.onnx", dynamic_batch=True)
    write_json(dist / "model_fp32.manifest.json", manifest("model_fp32.onnx", CLASSES, checkpoint="../runA/best.pt", **nchw))
    export_onnx(Permuted(Logits(model_a), PERM), x0, dist / "model_int8.onnx", dynamic_batch=True)
    write_json(dist / "model_int8.manifest.json", manifest("model_int8.onnx", CLASSES, checkpoint="../runA/best.pt",
                                                           precision="int8", **nchw))
    export_onnx(Logits(model_a), x0, dist / "b" / "model_fp32.onnx", dynamic_batch=True)  # runB's name, same file name
    write_json(dist / "b" / "model_fp32.manifest.json",
               manifest("model_fp32.onnx", CLASSES, checkpoint="../../runB/best.pt", **nchw))
    out = root / "out"
    report = run_bench(dist, f"folder:{data}", out, threads=1, runs=2, warmup=0, target="cpu", progress=False,
                       command="fgvc-mobile bench --artifacts dist --data folder:data")
    x, y = folder_tensors(data, "test", CLASSES)
    with torch.no_grad():
        pred = Logits(model_a)(x).argmax(1).numpy()
    return {"report": report, "out": out, "labels": y.numpy(), "pred": pred}


def _per_class(labels, pred) -> list[float]:
    return [float(np.mean(pred[labels == c] == c)) for c in range(len(CLASSES))]


def test_row_names_are_unique_and_name_the_run(bench):
    rows = [r for r in bench["report"]["results"] if not r.get("skipped_reason")]
    names = [r["name"] for r in rows]
    assert sorted(names) == ["runA onnx fp32", "runA onnx int8", "runA pytorch fp32", "runB onnx fp32",
                             "runB pytorch fp32"]
    md = (bench["out"] / "report.md").read_text()
    first_cells = [ln.split("|")[1].strip() for ln in md.splitlines() if ln.startswith("| ") and "ms" not in ln]
    assert len(first_cells) == len(set(first_cells)) >= 5


def test_display_names_disambiguate_by_runtime_then_artifact():
    rows = [{"name": "r onnx fp32", "artifact": "a.onnx", "runtime": "onnxruntime", "delegate": "cpu", "target": "host"},
            {"name": "r onnx fp32", "artifact": "a.onnx", "runtime": "onnxruntime", "delegate": "cuda", "target": "cuda"},
            {"name": None, "artifact": "best.pt", "runtime": "pytorch", "target": "host"},
            {"name": None, "artifact": "best.pt", "runtime": "pytorch", "target": "host"}]
    assert display_names(rows) == ["r onnx fp32 [onnxruntime/cpu, host]", "r onnx fp32 [onnxruntime/cuda, cuda]",
                                   "best.pt [pytorch, host] (best.pt) #1", "best.pt [pytorch, host] (best.pt) #2"]


def test_per_class_top1_and_int8_delta_by_hand(bench):
    labels, pred = bench["labels"], bench["pred"]
    assert len(set(pred.tolist())) > 1, "constant predictions: weak test"
    fp32 = _per_class(labels, pred)
    # the int8 file's output j is class PERM[j], labelled CLASSES[j]: true argmax p comes out as PERM.index(p)
    int8 = _per_class(labels, np.asarray([PERM.index(p) for p in pred]))
    diag = bench["report"]["diagnostics"]
    got = {r["class"]: r["top1"] for r in diag["rows"]["runA onnx int8"]["per_class"]}
    assert [got[c] for c in CLASSES] == pytest.approx(int8)
    got = {r["class"]: r["top1"] for r in diag["rows"]["runA onnx fp32"]["per_class"]}
    assert [got[c] for c in CLASSES] == pytest.approx(fp32)
    (delta,) = diag["int8_vs_float"]
    assert (delta["row"], delta["versus"]) == ("runA onnx int8", "runA onnx fp32")
    want = sorted(((int8[i] - fp32[i], c) for i, c in enumerate(CLASSES)))
    assert [(w["delta"], w["class"]) for w in delta["worst"]] == [(pytest.approx(d), c) for d, c in want]
    md = (bench["out"] / "report.md").read_text()
    assert "### runA onnx int8 vs runA onnx fp32: worst classes" in md
    worst = want[0]
    assert f"| {worst[1]} | 4 | {fp32[CLASSES.index(worst[1])] * 100:.1f} | " in md


def test_per_class_files_written(bench):
    files = bench["report"]["diagnostics"]["rows"]["runB pytorch fp32"]["files"]
    assert files["confusion.png"] == "per_class/runB_pytorch_fp32_confusion.png"
    for f in files.values():
        assert (bench["out"] / f).is_file(), f
    rows = list(csv.reader((bench["out"] / files["per_class.csv"]).open()))
    assert [r[0] for r in rows[1:]] == CLASSES and sum(int(r[1]) for r in rows[1:]) == len(bench["labels"])
    html = (bench["out"] / "report.html").read_text()
    assert "Per-class diagnostics" in html and "runA onnx int8 vs runA onnx fp32" in html


def test_machine_and_command_at_the_top(bench):
    lines = context_lines(bench["report"])
    assert lines[0].startswith("Machine: ") and lines[1] == "Command: `fgvc-mobile bench --artifacts dist --data folder:data`"
    md = (bench["out"] / "report.md").read_text().splitlines()
    assert md[2].startswith("- Machine: ") and md[3].startswith("- Command: ")


def test_lscpu_model_name_parsing():
    text = "Architecture:            x86_64\nVendor ID:               AuthenticAMD\nModel name:              AMD EPYC 7B13\n"
    assert lscpu_model(text) == "AMD EPYC 7B13"
    assert lscpu_model("Architecture: aarch64\nModel name: -\n") is None


def _text_boxes(fig, texts):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text().strip()]


def _overlapping(boxes) -> list:
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def _crowded_rows(n=12):
    """Rows whose points (latency, accuracy) nearly coincide beside one far point: labels drawn
    beside the points would collide."""
    far = {"name": "far", "artifact": "far.onnx", "format": "onnx", "runtime": "onnxruntime", "target": "host",
           "latency_ms": {"p50": 30.0, "p90": 31.0}, "accuracy": {"top1": 0.3}}
    return [far] + [{"name": f"run{i % 3} {'onnx' if i % 2 else 'tflite'} {'int8' if i % 4 < 2 else 'fp32'}",
             "artifact": f"m{i}.onnx", "format": "onnx" if i % 2 else "tflite", "runtime": "onnxruntime",
             "target": "host", "latency_ms": {"p50": 2.0 + 0.01 * i, "p90": 2.5}, "accuracy": {"top1": 0.8 + 0.001 * i}}
            for i in range(n - 1)]


def test_plot_labels_do_not_overlap(monkeypatch, tmp_path):
    figs = []
    monkeypatch.setattr(plots, "save_png", lambda fig, path: figs.append(fig) or path)
    rows = _crowded_rows()
    plots.accuracy_vs_latency(rows, tmp_path / "a.png")
    plots.latency_by_format(rows, tmp_path / "b.png")
    scatter, bars = figs
    ax = scatter.axes[0]
    labels = list(ax.texts) + (list(ax.get_legend().get_texts()) if ax.get_legend() else [])
    assert len(_text_boxes(scatter, labels)) == len(rows)  # every row is named once
    assert not _overlapping(_text_boxes(scatter, labels))
    ticks = bars.axes[0].get_yticklabels()
    assert len(_text_boxes(bars, ticks)) == len(rows)
    assert not _overlapping(_text_boxes(bars, ticks))
