"""adb backend: benchmark_model output parsing on real samples, command construction, and the
push/run flow against a fake ``adb`` on PATH (no phone is reachable from the test machines)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from bench_helpers import manifest, write_json
from fgvc_mobile.benchmarks import run_bench
from fgvc_mobile.benchmarks.adb import REMOTE_DIR, Adb, benchmark_command
from fgvc_mobile.benchmarks.benchmark_model_output import parse_benchmark_model_output
from fgvc_mobile.benchmarks.report import load_report
from fgvc_mobile.errors import FGVCError

FIXTURES = Path(__file__).parent / "fixtures" / "benchmark_model"

# expected values read off each sample by hand (ms = printed microseconds / 1000)
EXPECTED = {
    "tf_issue_42507_android_cpu.txt": dict(
        init_ms=0.855, first_inference_ms=49.06, warmup_avg_ms=34.8251, warmup_runs=15, runs=50,
        mean=33.2094, std=0.45, min=32.641, max=34.005, memory_init_mb=0.0, memory_overall_mb=12.8672,
        model_size_mb=0.004448),
    "tf_issue_61946_linux_info_prefix.txt": dict(
        init_ms=0.53, first_inference_ms=124.02, warmup_avg_ms=117.225, warmup_runs=5, runs=50,
        mean=116.066, std=1.906, min=111.222, max=121.324, memory_init_mb=3.75, memory_overall_mb=12.1914,
        model_size_mb=4.27635),
    "tf_issue_56301_android_logcat_nnapi.txt": dict(
        init_ms=126.059, first_inference_ms=32.942, warmup_avg_ms=12.5819, warmup_runs=40, runs=75,
        mean=12.1676, std=0.325, min=11.787, max=13.649, memory_init_mb=None, memory_overall_mb=None,
        model_size_mb=0.113392),
    "tf_issue_43541_android_gpu.txt": dict(
        init_ms=870.557, first_inference_ms=130.565, warmup_avg_ms=122.373, warmup_runs=4, runs=50,
        mean=119.375, std=1.948, min=113.737, max=124.776, memory_overall_mb=None, model_size_mb=7.07479),
    "armnn_issue_541_rpi4_tiny_model.txt": dict(
        init_ms=1.304, first_inference_ms=2.071, warmup_runs=7028, runs=14192, mean=0.069691, std=0.005,
        min=0.068, max=0.249),
    "meta_tflite_riscv_op_profiling.txt": dict(
        init_ms=17.187, first_inference_ms=3512.391, warmup_avg_ms=3512.39, warmup_runs=1, runs=50,
        mean=2950.34, std=109.798, min=2727.568, max=3189.954, memory_init_mb=4.21094,
        memory_overall_mb=46.0859, model_size_mb=16.9008),
    "mlcommons_issue_1134_litert_compiled_model.txt": dict(
        init_ms=23744.73, first_inference_ms=7441.04, warmup_avg_ms=7441.04, warmup_runs=1, runs=10,
        mean=7430.20, std=9.92, min=7416.40, max=7448.86, memory_init_mb=6391.74, memory_overall_mb=6391.74,
        peak_memory_mb=None),
}


def test_every_fixture_has_an_expectation_and_a_source():
    files = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert files == sorted(EXPECTED)
    readme = (FIXTURES / "README.md").read_text()
    for name in files:
        assert (FIXTURES / name).read_text().startswith("# source: https://"), name
        assert name in readme


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parser_on_real_samples(name):
    got = parse_benchmark_model_output((FIXTURES / name).read_text(), name)
    for key, want in EXPECTED[name].items():
        value = got["latency_ms"][key] if key in ("mean", "std", "min", "max") else got[key]
        if want is None:
            assert value is None, key
        else:
            assert value == pytest.approx(want, rel=1e-9), key
    assert got["latency_ms"]["p90"] is None  # benchmark_model prints no p90/p99: never invented


def test_periodic_peak_and_percentile_line():
    # format of the peak line from tensorflow/lite/tools/benchmark/benchmark_model.cc; newer builds
    # append p5/median/p95 to the run statistics
    text = "\n".join([
        "count=3 first=235158 curr=200386 min=199462 max=235158 avg=211669 std=16613 p5=199462 median=200386 p95=235158",
        "count=25 first=187533 curr=140990 min=140071 max=195121 avg=145528 std=13583 p5=140545 median=141253 p95=187533",
        "Inference timings in us: Init: 92318, First inference: 187533, Warmup (avg): 211669, Inference (avg): 145528",
        "Memory footprint delta from the start of the tool (MB): init=54.2852 overall=73.4102",
        "Overall peak memory footprint (MB) via periodic monitoring: 93.2383",
        "VERBOSE: Replacing 58 out of 58 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions.",
    ])
    got = parse_benchmark_model_output(text)
    assert got["runs"] == 25 and got["warmup_runs"] == 3
    assert got["latency_ms"]["p50"] == pytest.approx(141.253)
    assert got["latency_ms"]["p95"] == pytest.approx(187.533)
    assert got["peak_memory_mb"] == pytest.approx(93.2383)
    assert got["delegated_nodes"] == [{"nodes": 58, "of": 58, "delegate": "TfLiteXNNPackDelegate"}]


def test_output_without_summary_is_a_one_line_error():
    with pytest.raises(FGVCError) as e:
        parse_benchmark_model_output("STARTING!\nERROR: Failed to allocate tensors\nAborted\n", "m.tflite [gpu]")
    assert "m.tflite [gpu]" in str(e.value) and "Failed to allocate" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("delegate, flag", [("xnnpack", "--use_xnnpack=true"), ("cpu", "--use_xnnpack=false"),
                                            ("gpu", "--use_gpu=true"), ("nnapi", "--use_nnapi=true")])
def test_command_construction(delegate, flag):
    cmd = benchmark_command("/data/local/tmp/x/benchmark_model", "/data/local/tmp/x/m.tflite", 4, delegate, 50, 10)
    assert cmd == ["/data/local/tmp/x/benchmark_model", "--graph=/data/local/tmp/x/m.tflite", "--num_threads=4",
                   flag, "--num_runs=50", "--warmup_runs=10"]


@pytest.mark.parametrize("kw", [dict(delegate="hexagon"), dict(threads=0), dict(runs=0), dict(warmup=-1)])
def test_command_rejects_bad_settings(kw):
    args = dict(threads=1, delegate="xnnpack", runs=1, warmup=0) | kw
    with pytest.raises(FGVCError):
        benchmark_command("b", "g", args["threads"], args["delegate"], args["runs"], args["warmup"])


FAKE_ADB = r'''#!{python}
"""Stands in for adb: logs its argv, answers devices/push/shell like a connected phone."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
if args[:1] == ["devices"]:
    print("List of devices attached")
    for line in os.environ.get("FAKE_ADB_DEVICES", "").split(";"):
        if line:
            print(line.replace(":", "\t"))
    sys.exit(0)
if args[:1] == ["-s"]:
    args = args[2:]
if args[0] == "push":
    if not os.path.exists(args[1]):
        print(f"adb: error: cannot stat '{args[1]}': No such file or directory", file=sys.stderr)
        sys.exit(1)
    print(f"{args[1]}: 1 file pushed")
    sys.exit(0)
if args[0] == "shell":
    cmd = args[1]
    if cmd.startswith("getprop"):
        print({"ro.product.model": "Pixel 7", "ro.build.version.release": "14"}.get(cmd.split()[1], ""))
    elif "benchmark_model" in cmd and "--graph" in cmd:
        fail = os.environ.get("FAKE_ADB_FAIL_FLAG")
        if fail and fail in cmd:
            print("ERROR: Failed to apply GPU delegate.")
            sys.exit(1)
        sys.stdout.write(open(os.environ["FAKE_ADB_OUTPUT"]).read())
    sys.exit(0)
sys.exit(2)
'''


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "adb"
    exe.write_text(FAKE_ADB.replace("{python}", sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "adb_log.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "emulator-5554:device")
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(FIXTURES / "tf_issue_61946_linux_info_prefix.txt"))
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def tflite_dist(tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "m_int8.tflite").write_bytes(b"TFL3" + bytes(100))
    write_json(dist / "m_int8.manifest.json", manifest("m_int8.tflite", ["a", "b"], layout="NHWC", dtype="uint8",
                                                       in_graph=True, shape=[1, 32, 32, 3], fmt="tflite", precision="int8"))
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF fake")
    return dist, binary


def test_push_and_run_flow_end_to_end(fake_adb, tflite_dist, tmp_path, monkeypatch):
    dist, binary = tflite_dist
    monkeypatch.setenv("FAKE_ADB_FAIL_FLAG", "--use_gpu=true")
    report = run_bench(dist, None, tmp_path / "out", threads=2, runs=7, warmup=3, target="adb",
                       benchmark_model=binary, delegates=("xnnpack", "gpu"), progress=False)
    calls = fake_adb()
    assert ["-s", "emulator-5554", "push", str(binary), f"{REMOTE_DIR}/benchmark_model"] in calls
    assert ["-s", "emulator-5554", "push", str(dist / "m_int8.tflite"), f"{REMOTE_DIR}/m_int8.tflite"] in calls
    runs = [c[3] for c in calls if c[:3] == ["-s", "emulator-5554", "shell"] and "--graph" in c[3]]
    assert runs[0] == (f"{REMOTE_DIR}/benchmark_model --graph={REMOTE_DIR}/m_int8.tflite --num_threads=2 "
                       "--use_xnnpack=true --num_runs=7 --warmup_runs=3")
    assert runs[1].endswith("--use_gpu=true --num_runs=7 --warmup_runs=3")
    assert calls[-1] == ["-s", "emulator-5554", "shell", f"rm -rf {REMOTE_DIR}"]

    ok, gpu = report["results"]
    assert (ok["target"], ok["delegate"], ok["runtime"]) == ("android", "xnnpack", "litert-benchmark_model")
    assert ok["latency_ms"]["mean"] == pytest.approx(116.066) and ok["runs"] == 50 and ok["load_ms"] == pytest.approx(0.53)
    assert ok["rss_delta_mb"] == pytest.approx(12.1914) and ok["precision"] == "int8" and ok["accuracy"] is None
    assert gpu["skipped_reason"].startswith("benchmark_model exited with 1") and "GPU delegate" in gpu["skipped_reason"]
    assert report["machine"]["device"]["model"] == "Pixel 7" and report["machine"]["device"]["android"] == "14"
    assert load_report(tmp_path / "out" / "report.json")["results"][0]["delegate"] == "xnnpack"
    assert "Pixel 7" in (tmp_path / "out" / "report.md").read_text()


def test_missing_adb_is_a_one_line_error(tmp_path, monkeypatch, tflite_dist):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FGVCError) as e:
        Adb()
    assert str(e.value).startswith("adb not found on PATH") and "\n" not in str(e.value)
    dist, binary = tflite_dist
    with pytest.raises(FGVCError, match="adb not found"):
        run_bench(dist, None, tmp_path / "out", target="adb", benchmark_model=binary, progress=False)


@pytest.mark.parametrize("devices, match", [
    ("", "no Android device connected"),
    ("R58M:unauthorized", "R58M is unauthorized"),
    ("a1:device;b2:device", "several Android devices connected .*--serial"),
])
def test_device_selection_errors(fake_adb, monkeypatch, devices, match):
    monkeypatch.setenv("FAKE_ADB_DEVICES", devices)
    with pytest.raises(FGVCError, match=match):
        Adb().select_device()


def test_serial_picks_one_of_several(fake_adb, monkeypatch):
    monkeypatch.setenv("FAKE_ADB_DEVICES", "a1:device;b2:device")
    assert Adb(serial="b2").select_device() == "b2"
    with pytest.raises(FGVCError, match="--serial zz: device not connected"):
        Adb(serial="zz").select_device()


def test_adb_target_needs_the_binary_and_a_tflite(fake_adb, tflite_dist, tmp_path):
    dist, binary = tflite_dist
    with pytest.raises(FGVCError, match="--benchmark-model"):
        run_bench(dist, None, tmp_path / "o", target="adb", progress=False)
    with pytest.raises(FGVCError, match="no such file"):
        run_bench(dist, None, tmp_path / "o", target="adb", benchmark_model=tmp_path / "nope", progress=False)
    (dist / "m_int8.manifest.json").unlink()
    (dist / "m.onnx").write_bytes(b"x")
    write_json(dist / "m.manifest.json", manifest("m.onnx", ["a", "b"], layout="NCHW", dtype="float32",
                                                  in_graph=False, shape=[1, 3, 32, 32]))
    with pytest.raises(FGVCError, match="no .tflite artifacts"):
        run_bench(dist, None, tmp_path / "o", target="adb", benchmark_model=binary, progress=False)


def test_phone_threads_default_to_four_whatever_the_host(fake_adb, tflite_dist, tmp_path):
    dist, binary = tflite_dist
    report = run_bench(dist, None, tmp_path / "out", target="adb", benchmark_model=binary, progress=False)
    runs = [c[3] for c in fake_adb() if len(c) > 3 and "--graph" in c[3]]
    assert "--num_threads=4" in runs[0].split() and report["results"][0]["threads"] == 4
