"""Summary statistics of timing samples, computed one documented way.

Percentiles use numpy's ``method="linear"`` (Hyndman & Fan type 7, numpy's default): the
q-th percentile of n sorted samples x[0..n-1] sits at rank h = (n - 1) * q / 100 and is
x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]). The standard deviation is the
population one (ddof=0), the same definition LiteRT's ``benchmark_model`` prints, so host and
phone rows compare like with like.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from fgvc_mobile.errors import FGVCError

PERCENTILE_METHOD = "linear"
STD_DDOF = 0
LATENCY_KEYS = ("mean", "std", "p50", "p90", "p99", "min", "max")


def summarize(samples_ms: Iterable[float]) -> dict[str, float]:
    """mean, std, p50, p90, p99, min and max of timing samples (same unit in and out)."""
    x = np.asarray(list(samples_ms), dtype=np.float64)
    if x.size == 0:
        raise FGVCError("no timing samples to summarise (runs must be at least 1)")
    if not np.all(np.isfinite(x)):
        raise FGVCError("timing samples contain NaN or infinity")
    p50, p90, p99 = np.percentile(x, [50, 90, 99], method=PERCENTILE_METHOD)
    return {
        "mean": float(x.mean()),
        "std": float(x.std(ddof=STD_DDOF)),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "min": float(x.min()),
        "max": float(x.max()),
    }


def ns_to_ms(samples_ns: Iterable[int]) -> list[float]:
    return [int(v) / 1e6 for v in samples_ns]
