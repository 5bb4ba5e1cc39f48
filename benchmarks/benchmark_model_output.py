"""Parse what LiteRT's ``benchmark_model`` prints into the report's fields.

Two output families are understood (samples and their sources: tests/fixtures/benchmark_model):

* the TFLite/LiteRT interpreter tool: ``count=N first= curr= min= max= avg= std=`` lines for
  the warmup and the timed runs (newer builds add ``p5= median= p95=``), then
  ``Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..``
  and memory lines (``Peak memory footprint (MB): init= overall=`` in old builds,
  ``Memory footprint delta from the start of the tool (MB): init= overall=`` later, and with
  ``--report_peak_memory_footprint`` ``Overall peak memory footprint (MB) via periodic monitoring: X``);
* the LiteRT CompiledModel tool: a ``BENCHMARK RESULTS`` block with ``Model initialization: X ms``,
  ``Warmup (first)``, ``Inference (avg|min|max|std)`` and ``Init footprint`` / ``Overall footprint``.

Lines may carry logcat or ``INFO:`` prefixes; numbers may be in exponent form (``2.95034e+06``).
"""

from __future__ import annotations

import re

from fgvc_mobile.errors import FGVCError

_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_SUMMARY = re.compile(
    rf"Inference timings in us: Init: {_NUM}, First inference: {_NUM}, Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}"
)
_STAT = re.compile(rf"(?<![\w)])count={_NUM}(?P<rest>(?: \w+={_NUM})*)")
_KV = re.compile(rf"(\w+)={_NUM}")
_MEM_DELTA = re.compile(rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): init={_NUM} overall={_NUM}")
_MEM_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUM}")
_SIZE = re.compile(rf"The input model file size \(MB\): {_NUM}")
_DELEGATED = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\)")
_NEXT = {
    "init_ms": re.compile(rf"Model initialization:\s*{_NUM} ms"),
    "first_ms": re.compile(rf"Warmup \(first\):\s*{_NUM} ms"),
    "warmup_avg_ms": re.compile(rf"Warmup \(avg\):\s*{_NUM} ms(?: \((\d+) runs\))?"),
    "avg_ms": re.compile(rf"Inference \(avg\):\s*{_NUM} ms(?: \((\d+) runs\))?"),
    "min_ms": re.compile(rf"Inference \(min\):\s*{_NUM} ms"),
    "max_ms": re.compile(rf"Inference \(max\):\s*{_NUM} ms"),
    "std_ms": re.compile(rf"Inference \(std\):\s*{_NUM}"),
    "init_mb": re.compile(rf"Init footprint:\s*{_NUM} MB"),
    "overall_mb": re.compile(rf"Overall footprint:\s*{_NUM} MB"),
    "peak_mb": re.compile(rf"Peak memory usage:\s*{_NUM} MB"),
}


def _stat_lines(lines: list[str]) -> list[tuple[int, dict]]:
    """(line number, {count, first, curr, min, max, avg, std, ...}) of run-statistics lines."""
    out = []
    for i, line in enumerate(lines):
        if "Timings (microseconds)" in line or "Memory (bytes)" in line:
            continue  # per-op profiler summaries, not end-to-end runs
        m = _STAT.search(line)
        if m and "curr=" in line:
            d = {"count": float(m.group(1))}
            d.update({k: float(v) for k, v in _KV.findall(m.group("rest"))})
            out.append((i, d))
    return out


def _ms(v):
    return None if v is None else v / 1000.0


def _parse_classic(text: str, lines: list[str], m: re.Match) -> dict:
    init_us, first_us, warm_us, inf_us = (float(g) for g in m.groups())
    summary_line = next(i for i, line in enumerate(lines) if _SUMMARY.search(line))
    stats = [(i, d) for i, d in _stat_lines(lines) if i < summary_line]
    # the timed-run statistics print the same avg as the summary's "Inference (avg)"
    timed = next((d for _, d in reversed(stats) if d.get("avg") is not None and abs(d["avg"] - inf_us) <= 1e-6 * max(1.0, inf_us)), None)
    if timed is None and stats:
        timed = stats[-1][1]
    warm = None
    if timed is not None and len(stats) >= 2:
        pos = [d is timed for _, d in stats].index(True)
        warm = stats[pos - 1][1] if pos > 0 else None
    out = {
        "init_ms": init_us / 1000.0,
        "first_inference_ms": first_us / 1000.0,
        "warmup_avg_ms": warm_us / 1000.0,
        "warmup_runs": int(warm["count"]) if warm else None,
        "runs": int(timed["count"]) if timed else None,
        "latency_ms": {
            "mean": inf_us / 1000.0,
            "std": _ms((timed or {}).get("std")),
            "p50": _ms((timed or {}).get("median")),
            "p90": None,
            "p99": None,
            "min": _ms((timed or {}).get("min")),
            "max": _ms((timed or {}).get("max")),
        },
    }
    if timed and "p5" in timed:
        out["latency_ms"]["p5"] = timed["p5"] / 1000.0
        out["latency_ms"]["p95"] = timed["p95"] / 1000.0 if "p95" in timed else None
    mem = _MEM_DELTA.search(text)
    out["memory_init_mb"], out["memory_overall_mb"] = (float(mem.group(1)), float(mem.group(2))) if mem else (None, None)
    peak = _MEM_PEAK.search(text)
    out["peak_memory_mb"] = float(peak.group(1)) if peak else None
    return out


def _parse_next(text: str) -> dict | None:
    found = {k: rx.search(text) for k, rx in _NEXT.items()}
    if not found["avg_ms"]:
        return None

    def val(k):
        return float(found[k].group(1)) if found[k] else None

    runs = found["avg_ms"].group(2)
    wruns = found["warmup_avg_ms"].group(2) if found["warmup_avg_ms"] else None
    return {
        "init_ms": val("init_ms"),
        "first_inference_ms": val("first_ms"),
        "warmup_avg_ms": val("warmup_avg_ms"),
        "warmup_runs": int(wruns) if wruns else None,
        "runs": int(runs) if runs else None,
        "latency_ms": {"mean": val("avg_ms"), "std": val("std_ms"), "p50": None, "p90": None, "p99": None,
                       "min": val("min_ms"), "max": val("max_ms")},
        "memory_init_mb": val("init_mb"),
        "memory_overall_mb": val("overall_mb"),
        "peak_memory_mb": val("peak_mb"),
    }


def parse_benchmark_model_output(text: str, source: str = "benchmark_model output") -> dict:
    """Timings in ms and memory in MB from one run's stdout; FGVCError if no summary is found."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    m = _SUMMARY.search(text)
    out = _parse_classic(text, lines, m) if m else _parse_next(text)
    if out is None:
        tail = " | ".join(line.strip() for line in lines if line.strip())[-300:]
        raise FGVCError(f"{source}: no 'Inference timings' summary found (did the run fail?); output ends: {tail}")
    size = _SIZE.search(text)
    out["model_size_mb"] = float(size.group(1)) if size else None
    dele = _DELEGATED.findall(text)
    out["delegated_nodes"] = [{"nodes": int(a), "of": int(b), "delegate": c} for a, b, c in dele] or None
    return out
