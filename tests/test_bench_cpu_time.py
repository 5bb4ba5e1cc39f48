"""Per-run process CPU time beside wall time: waiting costs wall time only, computing costs both."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fgvc_mobile.benchmarks.latency import measure
from fgvc_mobile.benchmarks.report import make_row, new_report, validate_report
from fgvc_mobile.benchmarks.runners.base import Session
from fgvc_mobile.benchmarks.stats import LATENCY_KEYS


class Sleeper(Session):
    """Waits without computing, like a process that is not given a core."""

    def run(self, x):
        time.sleep(0.01)
        return np.zeros((1, 2), np.float32)


class Burner(Session):
    """Computes until the process has used at least 3 ms of CPU time."""

    def run(self, x):
        start = time.process_time_ns()
        while time.process_time_ns() - start < 3_000_000:
            pass
        return np.zeros((1, 2), np.float32)


def _measure(session):
    return measure(lambda: session, lambda s: np.zeros((1, 1), np.float32), warmup=0, runs=3)[1]


def test_waiting_is_wall_time_not_cpu_time():
    lat = _measure(Sleeper())
    assert set(lat.cpu_time_ms) == set(LATENCY_KEYS) and len(lat.cpu_samples_ms) == 3
    assert lat.latency_ms["min"] >= 10.0  # slept 10 ms each run
    assert lat.cpu_time_ms["max"] < lat.latency_ms["min"] / 2


def test_computing_is_counted_and_never_exceeds_wall_time_on_one_thread():
    lat = _measure(Burner())
    assert lat.cpu_time_ms["min"] >= 3.0
    for wall, cpu in zip(lat.samples_ms, lat.cpu_samples_ms):
        assert cpu <= wall + 0.05  # clock granularity: the CPU clock is read just outside the wall interval


def test_row_and_schema_accept_cpu_time():
    lat = _measure(Burner())
    row = make_row(artifact="m.onnx", runtime="onnxruntime", target="host", latency_ms=lat.latency_ms,
                   cpu_time_ms=lat.cpu_time_ms)
    validate_report(new_report({"cpu_model": "x"}, [row]))
    bad = dict(row, cpu_time_ms="fast")
    with pytest.raises(Exception, match="cpu_time_ms"):
        validate_report(new_report({"cpu_model": "x"}, [bad]))
