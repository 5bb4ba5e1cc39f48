"""The GEMM peak and each row's share of it: arithmetic checked on fixed numbers, never by timing."""

from __future__ import annotations

import pytest
import torch

from fgvc_mobile.benchmarks import peak as pk
from fgvc_mobile.benchmarks.render import to_markdown
from fgvc_mobile.benchmarks.report import make_row, new_report, validate_report

PEAK = {"m": 1024, "n": 1024, "k": 1024, "macs": 1024 ** 3, "warmup": 2, "repetitions": 10, "statistic": "median",
        "skipped": {},
        "rates": [{"precision": "fp32", "threads": 1, "op": "torch.mm float32", "gmacs": 40.0, "gmacs_cpu": 50.0},
                  {"precision": "int8", "threads": 1, "op": "onednn", "gmacs": 200.0, "gmacs_cpu": 160.0},
                  {"precision": "fp32", "threads": 4, "op": "torch.mm float32", "gmacs": 150.0, "gmacs_cpu": 45.0}]}


def _row(precision="int8", threads=1, macs=300_000_000, p50=5.0, cpu=4.0, target="host", **kw):
    return make_row(artifact="m.tflite", runtime="litert", target=target, precision=precision, threads=threads,
                    macs=macs, latency_ms={"p50": p50}, cpu_time_ms={"p50": cpu}, **kw)


def test_int8_row_against_the_int8_peak():
    # 300 M MACs in 5 ms = 60 GMAC/s; 4 ms of CPU = 75 GMAC/s; int8 peak 200 (wall) / 160 (CPU)
    c = pk.compute_of(_row(), PEAK)
    assert c["gmacs"] == pytest.approx(60.0) and c["gmacs_cpu"] == pytest.approx(75.0)
    assert c["peak"] == "int8" and c["peak_gmacs"] == 200.0
    assert c["share"] == pytest.approx(0.30) and c["share_cpu"] == pytest.approx(75.0 / 160.0)


def test_fp32_row_against_the_fp32_peak_at_its_thread_count():
    c = pk.compute_of(_row("fp32", threads=4, macs=600_000_000, p50=10.0, cpu=30.0), PEAK)
    assert c["gmacs"] == pytest.approx(60.0) and c["peak"] == "fp32" and c["peak_gmacs"] == 150.0
    assert c["share"] == pytest.approx(0.40) and c["share_cpu"] == pytest.approx(20.0 / 45.0)
    one = pk.compute_of(_row("fp32", macs=600_000_000, p50=10.0, cpu=30.0), PEAK)
    assert one["share"] == pytest.approx(1.5)  # 60 GMAC/s over the 1-thread fp32 peak of 40


def test_rows_without_a_matching_peak_get_the_rate_only():
    fp16 = pk.compute_of(_row("fp16"), PEAK)  # CoreML fp16: no fp16 GEMM measured
    assert fp16["gmacs"] == pytest.approx(60.0) and fp16["peak"] is None and fp16["share"] is None
    two = pk.compute_of(_row(threads=2), PEAK)  # no int8 rate at 2 threads
    assert two["gmacs"] == pytest.approx(60.0) and two["share"] is None
    assert pk.compute_of(_row(), None)["share"] is None


def test_rows_that_say_nothing_about_this_cpu_get_none():
    assert pk.compute_of(_row(target="cuda"), PEAK) is None  # a GPU's limit is not the CPU's GEMM
    assert pk.compute_of(_row(target="android"), PEAK) is None
    assert pk.compute_of(_row(macs=None), PEAK) is None
    assert pk.compute_of(_row(skipped_reason="no runtime"), PEAK) is None
    assert pk.compute_of(make_row(artifact="a", runtime="r", target="host", macs=10), PEAK) is None  # no latency


def test_rate_is_macs_over_the_median_run():
    r = pk.rate(2_000_000_000, [9_000_000, 1_000_000, 2_000_000], [4_000_000, 4_000_000, 1_000_000])
    assert r["gmacs"] == pytest.approx(1000.0)  # 2e9 MACs / 2 ms
    assert r["gmacs_cpu"] == pytest.approx(500.0)  # / 4 ms
    assert r["median_ms"] == pytest.approx(2.0) and r["median_cpu_ms"] == pytest.approx(4.0)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_timed_kernels_compute_the_product(precision):
    # the peak must time a real GEMM, not a no-op or a saturating one
    n = 48
    a, b = pk.operands(precision, n)
    fn, _ = pk.GEMMS[precision](n)
    if precision == "fp32":
        expected = a.double() @ b.double()
    else:
        expected = (a.long() @ b.long().T).double() * pk.INT8_SCALES[0] * pk.INT8_SCALES[1]
    got = fn().double()
    assert got.shape == (n, n)
    assert (got - expected).abs().max().item() <= 1e-4 * expected.abs().max().item()


def test_measured_peak_has_both_precisions_at_one_and_n_threads():
    prev = torch.get_num_threads()
    peak = pk.measure_gemm_peak(2, size=64, reps=2, warmup=1)
    assert torch.get_num_threads() == prev  # restored
    got = {(r["precision"], r["threads"]) for r in peak["rates"]}
    assert got | {(p, t) for p in peak["skipped"] for t in (1, 2)} == {("fp32", 1), ("fp32", 2), ("int8", 1), ("int8", 2)}
    assert ("fp32", 1) in got
    assert peak["macs"] == 64 ** 3 and peak["repetitions"] == 2 and peak["statistic"] == "median"
    assert all(r["gmacs"] > 0 for r in peak["rates"])


def test_report_with_peak_and_compute_validates_and_renders():
    row = _row(name="m int8", format="tflite")
    row["compute"] = pk.compute_of(row, PEAK)
    report = new_report({"cpu_model": "x"}, [row], gemm_peak=PEAK)
    validate_report(report)
    md = to_markdown(report)
    assert "GEMM peak" in md and "int8 1 thread 200.0 (CPU time 160.0)" in md
    line = next(ln for ln in md.splitlines() if ln.startswith("| m int8"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[-4:-1] == ["60.0", "30.0", "46.9"]  # GMAC/s, % peak, CPU % peak
