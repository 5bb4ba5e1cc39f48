"""Per-run process CPU time beside wall time: waiting costs wall time only, computing costs both.

Decided on scripted clocks, not on real sleeps and busy loops: ``measure`` reads the wall clock
and the process CPU clock around every run, and the sessions here move those clocks by known
amounts, so every figure is exact on any machine under any load (real timings belong in
``benchmarks/``).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import fgvc_mobile.benchmarks.latency as latency
from fgvc_mobile.benchmarks.latency import measure
from fgvc_mobile.benchmarks.report import make_row, new_report, validate_report
from fgvc_mobile.benchmarks.runners.base import Session
from fgvc_mobile.benchmarks.stats import LATENCY_KEYS

MS = 1_000_000  # ns


class Clocks:
    """A wall clock and a process CPU clock that only move when a session says so."""

    def __init__(self):
        self.wall = 0
        self.cpu = 0

    def module(self):
        return types.SimpleNamespace(perf_counter_ns=lambda: self.wall, process_time_ns=lambda: self.cpu)


@pytest.fixture
def clocks(monkeypatch):
    c = Clocks()
    monkeypatch.setattr(latency, "time", c.module())
    return c


class Sleeper(Session):
    """Waits 10 ms without computing, like a process that is not given a core."""

    def __init__(self, clocks):
        self.clocks = clocks

    def run(self, x):
        self.clocks.wall += 10 * MS
        return np.zeros((1, 2), np.float32)


class Burner(Session):
    """Computes for 3 ms of CPU time; the run takes 3.5 ms of wall time."""

    def __init__(self, clocks, cpu_ms=(3, 3, 3)):
        self.clocks, self.cpu_ms, self.calls = clocks, list(cpu_ms), 0

    def run(self, x):
        ms = self.cpu_ms[min(self.calls, len(self.cpu_ms) - 1)]
        self.calls += 1
        self.clocks.cpu += ms * MS
        self.clocks.wall += ms * MS + MS // 2
        return np.zeros((1, 2), np.float32)


def _measure(session, runs=3, warmup=0):
    return measure(lambda: session, lambda s: np.zeros((1, 1), np.float32), warmup=warmup, runs=runs)[1]


def test_waiting_is_wall_time_not_cpu_time(clocks):
    lat = _measure(Sleeper(clocks))
    assert set(lat.cpu_time_ms) == set(LATENCY_KEYS) and len(lat.cpu_samples_ms) == 3
    assert lat.samples_ms == [10.0, 10.0, 10.0] and lat.latency_ms["min"] == 10.0
    assert lat.cpu_samples_ms == [0.0, 0.0, 0.0] and lat.cpu_time_ms["max"] == 0.0


def test_computing_is_counted_per_run(clocks):
    # the first (untimed) run and one warm-up run burn 50 and 20 ms: neither is in the samples
    lat = _measure(Burner(clocks, cpu_ms=(50, 20, 3, 4, 5)), runs=3, warmup=1)
    assert lat.cpu_samples_ms == [3.0, 4.0, 5.0]
    assert lat.samples_ms == [3.5, 4.5, 5.5]
    assert lat.cpu_time_ms["min"] == 3.0 and lat.cpu_time_ms["max"] == 5.0
    assert lat.first_inference_ms == 50.5


def test_row_and_schema_accept_cpu_time(clocks):
    lat = _measure(Burner(clocks))
    row = make_row(artifact="m.onnx", runtime="onnxruntime", target="host", latency_ms=lat.latency_ms,
                   cpu_time_ms=lat.cpu_time_ms)
    validate_report(new_report({"cpu_model": "x"}, [row]))
    bad = dict(row, cpu_time_ms="fast")
    with pytest.raises(Exception, match="cpu_time_ms"):
        validate_report(new_report({"cpu_model": "x"}, [bad]))
