"""Timing statistics against values worked out by hand (linear interpolation, population std)."""

from __future__ import annotations

import math

import pytest

from fgvc_mobile.benchmarks.stats import ns_to_ms, summarize
from fgvc_mobile.errors import FGVCError


def test_one_to_ten():
    # sorted x = 1..10, n = 10; rank h = (n - 1) * q: p50 -> 4.5 -> 5 + 0.5*(6-5) = 5.5,
    # p90 -> 8.1 -> 9 + 0.1*(10-9) = 9.1, p99 -> 8.91 -> 9.91; population variance = 8.25
    s = summarize([float(v) for v in range(1, 11)])
    assert s["p50"] == pytest.approx(5.5)
    assert s["p90"] == pytest.approx(9.1)
    assert s["p99"] == pytest.approx(9.91)
    assert s["mean"] == pytest.approx(5.5)
    assert s["std"] == pytest.approx(math.sqrt(8.25))
    assert (s["min"], s["max"]) == (1.0, 10.0)


def test_unsorted_with_an_outlier():
    # sorted [15, 20, 35, 40, 50, 400]: p50 rank 2.5 -> 35 + 0.5*5 = 37.5; p90 rank 4.5 -> 50 + 0.5*350 = 225;
    # p99 rank 4.95 -> 50 + 0.95*350 = 382.5; mean = 560 / 6
    s = summarize([400, 35, 15, 50, 20, 40])
    assert s["p50"] == pytest.approx(37.5)
    assert s["p90"] == pytest.approx(225.0)
    assert s["p99"] == pytest.approx(382.5)
    assert s["mean"] == pytest.approx(560 / 6)
    var = sum((v - 560 / 6) ** 2 for v in [15, 20, 35, 40, 50, 400]) / 6
    assert s["std"] == pytest.approx(math.sqrt(var))


def test_single_sample_has_no_spread():
    s = summarize([7.25])
    assert all(s[k] == 7.25 for k in ("mean", "p50", "p90", "p99", "min", "max"))
    assert s["std"] == 0.0


def test_ns_to_ms():
    assert ns_to_ms([1_500_000, 2_000_000_000]) == [1.5, 2000.0]


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_bad_samples_are_user_errors(bad):
    with pytest.raises(FGVCError):
        summarize(bad)
