"""Hostile files: pickles that would run code, checkpoints that lie, damaged artifacts and
manifests that lie are refused in one line by every command that reads them; no code runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from reliability_files import marker_pickle_checkpoint, marker_pickle_legacy
from reliability_fixtures import CLASSES, cli, one_line_error, record, rel_checkpoint, rel_data, rel_dist  # noqa: F401

TINY_TRAIN = ["--img-size", "32", "--resize", "36", "--epochs", "1", "--workers", "0", "--batch-size", "4",
              "--method", "baseline", "--device", "cpu", "--model", '{"width_mult": 0.25}', "--pretrained", "none"]


def _commands(path: Path, data: Path, tmp: Path) -> dict[str, list[str]]:
    """Every command that reads a checkpoint, pointed at ``path``."""
    img = next((data / "test").rglob("*.png"))
    return {
        "eval": ["eval", "--checkpoint", path, "--data", f"folder:{data}", "--workers", "0"],
        "predict": ["predict", "--model", path, img],
        "export": ["export", "--checkpoint", path, "--format", "onnx", "--out", tmp / "dist"],
        "train --resume": ["train", "--resume", path, "--out", tmp / "run"],
        # after TINY_TRAIN, whose "--pretrained none" it must override
        "train --pretrained": ["train", "--data", f"folder:{data}", "--out", tmp / "run2", *TINY_TRAIN,
                               "--pretrained", path],
        "train --teacher": ["train", "--data", f"folder:{data}", "--teacher", path, "--out", tmp / "run3",
                            *TINY_TRAIN, "--method", "distill"],
    }


@pytest.mark.parametrize("container", ["torch zip", "legacy pickle"])
@pytest.mark.parametrize("command", ["eval", "predict", "export", "train --resume", "train --pretrained",
                                     "train --teacher"])
def test_code_in_a_pickle_never_runs(capsys, tmp_path, rel_data, command, container):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.pt"
    if container == "torch zip":
        marker_pickle_checkpoint(evil, marker)
    else:
        marker_pickle_legacy(evil, marker)
    line = one_line_error(capsys, *_commands(evil, rel_data, tmp_path)[command])
    record("hostile", cases=1)
    assert not marker.exists(), "unpickling ran code"
    assert "evil.pt" in line and "refused to load" in line
    assert "weights_only=False" not in line and "\x1b" not in line  # no advice to load it unsafely
    assert not (tmp_path / "dist").exists()
    assert not (tmp_path / "run2" / "last.pt").exists() and not (tmp_path / "run3" / "last.pt").exists()


def test_bench_reference_pickle_is_refused_and_the_artifacts_still_measured(capsys, tmp_path, rel_dist, rel_data):
    marker = tmp_path / "code_ran"
    evil = marker_pickle_checkpoint(tmp_path / "evil.pt", marker)
    rc, _, err = cli(capsys, "bench", "--artifacts", rel_dist, "--data", f"folder:{rel_data}", "--out", tmp_path / "rep",
                     "--reference", evil, "--runs", "1", "--warmup", "0", "--limit", "2", "--no-progress")
    record("hostile", cases=1)
    assert rc == 0 and "Traceback" not in err
    assert not marker.exists()
    rows = json.loads((tmp_path / "rep" / "report.json").read_text())["results"]
    ref = [r for r in rows if r["format"] == "pytorch"]
    assert ref and all("refused to load" in r["skipped_reason"] for r in ref)
    assert any(r["format"] == "onnx" and not r.get("skipped_reason") for r in rows)


def _lying_checkpoints(good: dict) -> dict[str, object]:
    """Checkpoints that unpickle safely (weights only) but whose fields lie."""
    state = good["model"]
    first = next(iter(state))
    bent = {**state, first: state[first].reshape(-1)[:-1] if state[first].numel() > 1 else state[first].reshape(1, 1, 1)}
    return {
        "classes is a string": {**good, "classes": "class_0"},
        "no classes": {**good, "classes": []},
        "method is a list": {**good, "method": ["baseline"]},
        "unknown arch": {**good, "arch": "resnet-1000"},
        "unknown method and no arch": {**{k: v for k, v in good.items() if k != "arch"}, "method": "resnet-1000"},
        "model option the model lacks": {**good, "model_kwargs": {"bogus": 1}},
        "model 10^6 times wider": {**good, "model_kwargs": {"width_mult": 1e6}},
        "weights not tensors": {**good, "model": {k: 0 for k in state}},
        "a weight of the wrong shape": {**good, "model": bent},
        "a weight missing": {**good, "model": dict(list(state.items())[1:])},
        "huge input size": {**good, "preprocess": {**good["preprocess"], "input_size": 10**6, "resize": 10**6}},
        "preprocess not a mapping": {**good, "preprocess": "224"},
        "from the future": {**good, "version": 99},
        "negative epoch": {**good, "epoch": -1},
        "not a dict": [torch.zeros(3)],
    }


def test_checkpoints_that_lie_are_refused_by_every_reader(capsys, tmp_path, rel_checkpoint, rel_data):
    good = torch.load(rel_checkpoint, weights_only=True)
    n = 0
    for name, obj in _lying_checkpoints(good).items():
        path = tmp_path / f"{name.replace(' ', '_')}.pt"
        torch.save(obj, path)
        for command, argv in _commands(path, rel_data, tmp_path).items():
            if command == "train --pretrained":
                continue  # a state_dict, not a checkpoint: covered by the damaged files below
            line = one_line_error(capsys, *argv)
            assert path.name in line, (name, command, line)
            n += 1
    record("hostile", cases=n)


@pytest.mark.parametrize("damage", ["empty", "random bytes", "truncated zip", "text"])
def test_damaged_torch_files(capsys, tmp_path, rel_checkpoint, rel_data, damage):
    data = rel_checkpoint.read_bytes()
    content = {"empty": b"", "random bytes": np.random.default_rng(0).bytes(4096),
               "truncated zip": data[: len(data) // 2], "text": b"not a checkpoint\n"}[damage]
    path = tmp_path / "damaged.pt"
    path.write_bytes(content)
    commands = _commands(path, rel_data, tmp_path)
    for argv in commands.values():
        assert "damaged.pt" in one_line_error(capsys, *argv)
    record("hostile", cases=len(commands))


def _damaged_copy(dist: Path, tmp: Path, model_file: str, damage: str) -> Path:
    folder = tmp / f"dist_{damage.replace(' ', '_')}"
    shutil.copytree(dist, folder)
    path = folder / model_file
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "random bytes": np.random.default_rng(1).bytes(len(data)),
                      "truncated": data[: len(data) // 2], "header only": data[:64]}[damage])
    return path


@pytest.mark.parametrize("model_file", ["model_fp32.onnx", "model_fp32.tflite"])
def test_damaged_artifacts_in_predict(capsys, tmp_path, rel_dist, rel_data, model_file):
    img = next((rel_data / "test").rglob("*.png"))
    damages = ("empty", "random bytes", "truncated", "header only")
    for damage in damages:
        path = _damaged_copy(rel_dist, tmp_path, model_file, damage)
        assert path.name in one_line_error(capsys, "predict", "--model", path, img)
        alone = tmp_path / f"alone_{damage.replace(' ', '_')}" / model_file  # no manifest beside it either
        alone.parent.mkdir()
        shutil.copy(path, alone)
        assert "alone_" in one_line_error(capsys, "predict", "--model", alone, img)
    record("hostile", cases=2 * len(damages))


def test_damaged_artifacts_in_bench_are_skipped_rows(capsys, tmp_path, rel_dist, rel_data):
    """One bench over two copies of the export, one with a truncated .onnx, one with a truncated .tflite."""
    root = tmp_path / "artifacts"
    for model_file in ("model_fp32.onnx", "model_fp32.tflite"):
        path = _damaged_copy(rel_dist, tmp_path, model_file, "truncated")
        shutil.move(path.parent, root / model_file.split(".")[1])
    rc, _, err = cli(capsys, "bench", "--artifacts", root, "--data", f"folder:{rel_data}", "--out", tmp_path / "rep",
                     "--runs", "1", "--warmup", "0", "--limit", "2", "--no-progress")
    record("hostile", cases=2)
    assert rc == 0 and "Traceback" not in err
    rows = [r for r in json.loads((tmp_path / "rep" / "report.json").read_text())["results"] if r["format"] != "pytorch"]
    damaged = {"onnx/model_fp32.onnx", "tflite/model_fp32.tflite"}
    assert {r["artifact"] for r in rows} == damaged | {"onnx/model_fp32.tflite", "tflite/model_fp32.onnx"}
    assert all(bool(r.get("skipped_reason")) == (r["artifact"] in damaged) for r in rows), rows  # nothing else lost


def _rewrite_manifest(dist: Path, tmp: Path, model_file: str, name: str, change) -> Path:
    folder = tmp / name
    shutil.copytree(dist, folder)
    (folder / "manifest.json").unlink()
    mpath = folder / f"{model_file}.manifest.json"
    m = json.loads(mpath.read_text())
    change(m)
    mpath.write_text(json.dumps(m))
    return folder / model_file


def _size(n):
    def change(m):
        m["preprocess"].update(input_size=n, resize=[n + 4, n + 4])
        m["input"]["shape"] = [1, n, n, 3]
    return change


def _labels(n):
    def change(m):
        m["labels"] = [f"bird {i}" for i in range(n)]
        m["output"]["shape"] = [1, n]
    return change


CONSISTENT_LIES = {  # each manifest agrees with itself but not with the model file
    "input size": _size(48),
    "input dtype": lambda m: m["input"].update(dtype="float32"),
    "more labels than outputs": _labels(5),
    "fewer labels than outputs": _labels(2),
}
CONTRADICTIONS = {  # each manifest contradicts itself
    "layout vs shape": lambda m: m["input"].update(layout="NCHW"),
    "labels vs output shape": lambda m: m.update(labels=["only one"]),
    "10^6 pixel input": _size(10**6),
    "uint8 input without normalisation": lambda m: m["input"].update(normalization_in_graph=False),
    "label with a line break": lambda m: m["labels"].__setitem__(0, "two\nlines"),
}


@pytest.mark.parametrize("model_file", ["model_fp32.onnx", "model_fp32.tflite"])
def test_manifests_that_lie(capsys, caplog, tmp_path, rel_dist, rel_data, model_file):
    img = next((rel_data / "test").rglob("*.png"))
    rc, honest, _ = cli(capsys, "predict", "--model", rel_dist / model_file, img)
    assert rc == 0
    for name, change in CONSISTENT_LIES.items():
        path = _rewrite_manifest(rel_dist, tmp_path, model_file, name.replace(" ", "_"), change)
        line = one_line_error(capsys, "predict", "--model", path, img)
        assert "manifest does not describe this model" in line, (name, line)
    for name, change in CONTRADICTIONS.items():
        path = _rewrite_manifest(rel_dist, tmp_path, model_file, name.replace(" ", "_").replace("^", ""), change)
        caplog.clear()
        rc, out, err = cli(capsys, "predict", "--model", path, img)
        # the copy embedded in the artifact is used instead, and the user is told why
        assert rc == 0 and out.replace(str(path), "X") == honest.replace(str(rel_dist / model_file), "X"), name
        assert f"{model_file}.manifest.json" in caplog.text
        line = one_line_error(capsys, "bench", "--artifacts", path.parent, "--data", f"folder:{rel_data}",
                              "--out", tmp_path / "rep")
        assert f"{model_file}.manifest.json" in line, (name, line)
    record("hostile", cases=len(CONSISTENT_LIES) + 2 * len(CONTRADICTIONS))


def test_probabilities_that_are_not(capsys, tmp_path, rel_dist, rel_data):
    img = next((rel_data / "test").rglob("*.png"))
    path = _rewrite_manifest(rel_dist, tmp_path, "model_fp32.onnx", "probs",
                             lambda m: m["output"].update(kind="probabilities"))
    assert "not" in one_line_error(capsys, "predict", "--model", path, img)
    record("hostile", cases=1)
