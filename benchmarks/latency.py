"""Latency done one way for every runtime: load, first inference, warmup, then N timed runs.

Load time and the first inference are reported on their own (the first run pays for lazy
allocation, kernel selection and, on GPUs, context setup); only the runs after the warmup
feed the percentiles. Each run is timed with ``time.perf_counter_ns`` around ``session.run``,
which returns host-side numpy logits, so GPU work is complete when the clock stops.

Each run's process CPU time (``time.process_time_ns``, all threads) is recorded beside its wall
time: with one thread on the caller's, it is the compute time, and unlike wall time it does not
grow while the process waits for a core on a shared machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from fgvc_mobile.benchmarks.memory import PeakWindow
from fgvc_mobile.benchmarks.runners.base import Session
from fgvc_mobile.benchmarks.stats import ns_to_ms, summarize
from fgvc_mobile.errors import FGVCError


@dataclass
class LatencyResult:
    load_ms: float
    first_inference_ms: float
    warmup_runs: int
    runs: int
    samples_ms: list[float]
    latency_ms: dict[str, float]
    peak_rss_mb: float | None
    rss_delta_mb: float | None
    peak_is_per_artifact: bool
    cpu_samples_ms: list[float] | None = None
    cpu_time_ms: dict[str, float] | None = None  # summary of the per-run process CPU time


def measure(
    load: Callable[[], Session],
    make_input: Callable[[Session], np.ndarray],
    warmup: int,
    runs: int,
) -> tuple[Session, LatencyResult]:
    """Load a session and time it; returns the live session for the accuracy pass."""
    if runs < 1:
        raise FGVCError(f"--runs must be at least 1, got {runs}")
    if warmup < 0:
        raise FGVCError(f"--warmup must be 0 or more, got {warmup}")
    with PeakWindow() as mem:
        t0 = time.perf_counter_ns()
        session = load()
        load_ns = time.perf_counter_ns() - t0
        x = make_input(session)
        t0 = time.perf_counter_ns()
        session.run(x)
        first_ns = time.perf_counter_ns() - t0
        for _ in range(warmup):
            session.run(x)
        samples, cpu = [], []
        for _ in range(runs):
            c0 = time.process_time_ns()
            t0 = time.perf_counter_ns()
            session.run(x)
            samples.append(time.perf_counter_ns() - t0)
            cpu.append(time.process_time_ns() - c0)
        mem.stop()
    ms, cpu_ms = ns_to_ms(samples), ns_to_ms(cpu)
    return session, LatencyResult(
        load_ms=load_ns / 1e6,
        first_inference_ms=first_ns / 1e6,
        warmup_runs=warmup,
        runs=runs,
        samples_ms=ms,
        latency_ms=summarize(ms),
        peak_rss_mb=mem.peak_mb,
        rss_delta_mb=mem.delta_mb,
        peak_is_per_artifact=mem.per_artifact,
        cpu_samples_ms=cpu_ms,
        cpu_time_ms=summarize(cpu_ms),
    )
