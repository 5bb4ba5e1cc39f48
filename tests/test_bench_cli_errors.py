"""`fgvc-mobile bench` refuses bad input with one-line errors naming the option or file."""

from __future__ import annotations

import argparse

import pytest

from bench_helpers import manifest, write_json
from conftest import make_image_folder
from fgvc_mobile.benchmarks.cli import add_bench_arguments, bench_command
from fgvc_mobile.errors import FGVCError


def run(*argv):
    args = add_bench_arguments(argparse.ArgumentParser()).parse_args([str(a) for a in argv])
    return bench_command(args)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("d"), classes=2, train=1, test=1, size=36)


@pytest.fixture
def dist(tmp_path):
    d = tmp_path / "dist"
    d.mkdir()
    (d / "m.onnx").write_bytes(b"not really onnx")
    write_json(d / "m.manifest.json", manifest("m.onnx", ["class_0", "class_1"], layout="NCHW", dtype="float32",
                                               in_graph=False, shape=[1, 3, 32, 32]))
    return d


def expect(match, *argv):
    with pytest.raises(FGVCError, match=match) as e:
        run(*argv)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_no_artifacts(tmp_path, data):
    (tmp_path / "empty").mkdir()
    expect(r"--artifacts .*empty: no artifact manifests", "--artifacts", tmp_path / "empty", "--data", f"folder:{data}")
    expect(r"--artifacts .*nowhere: no such folder", "--artifacts", tmp_path / "nowhere", "--data", f"folder:{data}")
    expect(r"--artifacts is required", "--data", f"folder:{data}")


def test_unknown_target(dist, data):
    expect(r"--target 'phone': choose one of host, cpu, cuda, adb", "--artifacts", dist, "--data", f"folder:{data}", "--target", "phone")


def test_missing_data(dist, tmp_path):
    expect(r"--data is required", "--artifacts", dist)
    expect(r"does not exist", "--artifacts", dist, "--data", f"folder:{tmp_path / 'no_data'}")
    expect(r"--data 'bogus:x'", "--artifacts", dist, "--data", "bogus:x")


@pytest.mark.parametrize("opt, value", [("--runs", 0), ("--warmup", -1), ("--threads", 0), ("--threads", 257), ("--limit", 0),
                                         ("--eval-batch", 0)])
def test_bad_numbers(dist, data, opt, value):
    expect(opt, "--artifacts", dist, "--data", f"folder:{data}", opt, value)


def test_bad_manifests_name_the_file(dist, data):
    (dist / "m.manifest.json").write_text('{"schema_version": 1, "model_file": "m.onnx"}')
    msg = expect(r"m\.manifest\.json: invalid manifest", "--artifacts", dist, "--data", f"folder:{data}")
    assert "required" in msg
    (dist / "m.manifest.json").write_text("{oops")
    expect(r"m\.manifest\.json: not valid JSON", "--artifacts", dist, "--data", f"folder:{data}")
    write_json(dist / "m.manifest.json", manifest("gone.onnx", ["a"], layout="NCHW", dtype="float32", in_graph=False,
                                                  shape=[1, 3, 32, 32]))
    expect(r"model_file 'gone.onnx' not found", "--artifacts", dist, "--data", f"folder:{data}")


def test_missing_reference_checkpoint(dist, data):
    m = manifest("m.onnx", ["class_0", "class_1"], layout="NCHW", dtype="float32", in_graph=False,
                 shape=[1, 3, 32, 32], checkpoint="missing/best.pt")
    write_json(dist / "m.manifest.json", m)
    expect(r"reference checkpoint missing/best.pt: no such file", "--artifacts", dist, "--data", f"folder:{data}",
           "--target", "cpu", "--no-progress")


def test_import_errors(tmp_path, dist):
    expect(r"no such report file", "--import", tmp_path / "phone.json")
    expect(r"--import renders an existing report", "--import", tmp_path / "phone.json", "--artifacts", dist)


def test_cuda_target_without_gpu(dist, data):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    expect(r"--target cuda: no CUDA device", "--artifacts", dist, "--data", f"folder:{data}", "--target", "cuda")


def test_main_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    from fgvc_mobile.cli import main

    (tmp_path / "empty").mkdir()
    rc = main(["bench", "--artifacts", str(tmp_path / "empty"), "--data", "folder:/nonexistent"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ")
