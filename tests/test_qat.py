"""Quantization-aware fine-tuning (``train --start-from CKPT --qat-epochs N``, train/qat.py).

* QAT inserts int8 fake-quant into the deploy graph, trains it (weights and quantization ranges
  move), selects best.pt on val and writes back weights whose deploy graph is the trained graph;
* the write-back through folded BatchNorms is exact for every fold pattern the models have
  (Conv-BN2d in MobileNetV2, BN1d-Linear-BN1d in the PMSI heads);
* a QAT run stopped at an epoch boundary and resumed ends bit-for-bit as the uninterrupted run;
* a QAT checkpoint exports to int8 TFLite and ONNX through the ordinary export, gated;
* bad option combinations are refused with one line naming the option.
"""

from __future__ import annotations

import json
import signal

import pytest
import torch

from fgvc_mobile.cli import main
from fgvc_mobile.export.deploy import DeployModel
from fgvc_mobile.models.load import load_trained, read_checkpoint
from fgvc_mobile.train import qat
from reliability_fixtures import one_line_error


def _qat(start, out, *args) -> int:
    return main(["train", "--start-from", str(start), "--qat-epochs", "1", "--out", str(out), "--workers", "0",
                 "--device", "cpu", *map(str, args)])


@pytest.fixture(scope="module")
def qat_run(tmp_path_factory, tiny_checkpoints):
    out = tmp_path_factory.mktemp("qat_run")
    assert _qat(tiny_checkpoints["baseline"], out, "--lr", "0.01") == 0
    return tiny_checkpoints["baseline"], out


def test_qat_inserts_fake_quant_and_trains(qat_run):
    start, out = qat_run
    before, after = read_checkpoint(start), read_checkpoint(out / "best.pt")
    rec = after["qat"]
    assert rec["from"] == str(start) and rec["rule"] == "classifier"
    model = load_trained(out / "best.pt").model
    q, _, _ = qat.prepare(model, None, 32)
    fresh = q.graph.state_dict()
    scales = [k for k in after["qat_state"] if k.startswith("activation_post_process_") and k.endswith(".scale")]
    assert len(scales) > 10  # activations and weights of every conv/linear
    # every range was observed: none is still the fake-quant's initial scale
    assert all(not torch.equal(after["qat_state"][k], fresh[k]) for k in scales)
    moved = [k for k in before["model"] if k.endswith("weight") and before["model"][k].dim() == 4
             and not torch.equal(before["model"][k], after["model"][k])]
    assert moved, "no conv weight changed: QAT did not train"
    row = after["history"][-1]
    assert row["eval_split"] == "val" and "top1/classifier" in row and after["best"]["split"] == "val"
    res = json.loads((out / "results.json").read_text())
    assert res["evaluated"] == "fake-quant graph" and res["test"]["n_images"] > 0
    # the fake-quant graph really quantizes: without fake-quant it computes something else
    q.graph.load_state_dict(after["qat_state"])
    q.eval()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        quantized = q(x)
        with q.float_weights() as g:
            floating = g(x)
    assert not torch.allclose(quantized, floating)
    # the checkpoint's weights are the trained graph's (written back through the BN folding)
    torch.testing.assert_close(DeployModel(model, input_size=32)(x), floating, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["baseline", "rmg-pmsi"])
def test_weights_written_back_through_every_fold(tiny_checkpoints, method):
    """Move every trained weight at random: the written-back model's deploy graph must follow exactly."""
    model = load_trained(tiny_checkpoints[method]).model
    q, groups, _ = qat.prepare(model, None, 32)
    assert any(len(m) == 3 for m in groups.values()) == (method == "rmg-pmsi")  # BN1d-Linear-BN1d heads
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in q.graph.parameters():
            p.add_(torch.randn(p.shape, generator=g) * p.abs().mean())
    trained = {k[len("net."):]: v for k, v in q.graph.state_dict().items() if k.startswith("net.")}
    state = qat.float_state(model, groups, trained)
    model.load_state_dict(state)
    x = torch.randn(3, 3, 32, 32, generator=g)
    q.eval()
    with torch.no_grad(), q.float_weights() as graph:
        want = graph(x)
    torch.testing.assert_close(DeployModel(model, input_size=32)(x), want, rtol=1e-4, atol=1e-4)


@pytest.fixture
def ctrl_c_raises():
    """SIGINT handled as in a terminal's foreground process (see test_resume.py)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_qat_stopped_by_ctrl_c_and_resumed_equals_the_uninterrupted_run(monkeypatch, ctrl_c_raises, tmp_path,
                                                                         tiny_checkpoints):
    start = tiny_checkpoints["baseline"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert _qat(start, whole, "--lr", "0.01", "--qat-epochs", "2") == 0
    real, seen = qat._Step.training_steps, {"n": 0}

    def steps(model, images, labels, ctx):  # Ctrl-C inside the 2nd batch of the 2nd epoch
        seen["n"] += 1
        if ctx.epoch == 1 and seen["n"] == 7:
            signal.raise_signal(signal.SIGINT)
        yield from real(model, images, labels, ctx)

    monkeypatch.setattr(qat._Step, "training_steps", staticmethod(steps))
    assert _qat(start, split, "--lr", "0.01", "--qat-epochs", "2") == 130  # the CLI's exit code for Ctrl-C
    monkeypatch.undo()
    stopped = read_checkpoint(split / "last.pt")
    assert (stopped["epoch"], stopped["batches_done"]) == (1, 2)
    assert main(["train", "--resume", str(split / "last.pt")]) == 0
    a, b = read_checkpoint(whole / "last.pt"), read_checkpoint(split / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for field in ("model", "qat_state"):
        for k in a[field]:
            assert torch.equal(a[field][k], b[field][k]), f"{field} {k} differs after resume"
    assert a["scheduler"] == b["scheduler"] and a["best"] == b["best"]
    assert [r["loss/total"] for r in a["history"]] == [r["loss/total"] for r in b["history"]]


def test_qat_checkpoint_exports_to_int8_and_passes_the_gate(tmp_path, qat_run, tiny_folder):
    start, run = qat_run
    out = tmp_path / "dist"
    rc = main(["export", "--checkpoint", str(run / "best.pt"), "--format", "tflite,onnx", "--int8",
               "--val-data", f"folder:{tiny_folder}", "--calib-data", f"folder:{tiny_folder}", "--out", str(out)])
    assert rc == 0
    index = json.loads((out / "manifest.json").read_text())
    int8 = [a for a in index["artifacts"] if a["precision"] == "int8"]
    assert sorted(a["model_file"] for a in int8) == ["model_int8.onnx", "model_int8.tflite"]
    for a in int8:
        gate = a["validation"]["gate"]
        assert gate["passed"] and not gate.get("accepted_drop") and gate["max_top1_drop_points"] == 1.0
    assert index["refused"] == []
    assert all(a["source"]["qat"]["from"] == str(start) for a in index["artifacts"])  # says it was QAT-tuned


@pytest.mark.parametrize("args, option", [
    (["--qat-epochs", "1"], "--qat-epochs"),
    (["--start-from", "{ckpt}"], "--start-from"),
    (["--start-from", "{ckpt}", "--qat-epochs", "1", "--mixup-alpha", "0.2"], "--mixup-alpha"),
    (["--start-from", "{ckpt}", "--qat-epochs", "1", "--img-size", "64"], "--img-size"),
    (["--resume", "{last}", "--qat-epochs", "1"], "--qat-epochs"),
])
def test_bad_qat_options_are_refused_in_one_line(capsys, tiny_checkpoints, args, option):
    ckpt = tiny_checkpoints["baseline"]
    argv = [a.format(ckpt=ckpt, last=ckpt.parent / "last.pt") for a in args]
    line = one_line_error(capsys, "train", *argv)
    assert line.startswith(f"error: {option}"), line
