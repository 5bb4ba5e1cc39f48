"""This machine's own limit: its dense GEMM rate, and how much of it each artifact reaches.

A latency says little on its own: 10 ms is fast on one core and slow on another. ``bench``
measures, once per run and with torch, the rate of one square matrix product of ``GEMM_SIZE``
(1024 x 1024 x 1024, about 1.07 G multiply-accumulates: large enough to be compute-bound, small
enough to sit in the caches of any current CPU) at the run's thread count and at 1 thread:

* fp32: ``torch.mm`` on float32 (oneDNN / MKL sgemm);
* int8: ``torch.ops.onednn.qlinear_pointwise``, uint8 activations x int8 weights with int32
  accumulation (the kernel PyTorch's x86 int8 inference lowers linear layers to; plain uint8/int8
  tensors, not the deprecated quantized tensor types). ``torch._int_mm`` is not used: on the CPU
  it is a reference loop, about 1000x slower than oneDNN (0.05 vs 80 GMAC/s measured here).

Each is run ``GEMM_WARMUP`` times untimed, then ``GEMM_REPS`` times; the rate is MACs over the
median run, by wall clock (the measure latencies are reported in) and by process CPU time (which
waiting for a core on a shared machine does not inflate). A row then gets ``compute``: its MACs
over its median latency (GMAC/s) and that rate's share of the peak of its own precision (fp32
artifacts against the fp32 GEMM, int8 against the int8 one) at its thread count. A network's
depthwise convolutions, activations and memory traffic keep it well below a GEMM, so the share
says how much room an optimisation has, not whether the artifact is "done".
"""

from __future__ import annotations

import statistics
import time

GEMM_SIZE = 1024
GEMM_WARMUP = 2
GEMM_REPS = 10
#: the peak a row's precision is compared with (CoreML fp16 and int8-weights models do not run here)
PEAK_OF_PRECISION = {"fp32": "fp32", "int8": "int8"}
#: targets whose rows run on this machine's CPU (CUDA rows and phones have other limits)
CPU_TARGETS = ("host",)


def operands(precision: str, n: int):
    """The two n x n operands of a GEMM: float32, or uint8 activations (0..127: AVX2 without VNNI
    adds u8 x s8 pairs in int16, which 255 x 127 x 2 would saturate) and int8 weights."""
    import torch

    g = torch.Generator().manual_seed(0)
    if precision == "fp32":
        return torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    return (torch.randint(0, 128, (n, n), dtype=torch.uint8, generator=g),
            torch.randint(-127, 128, (n, n), dtype=torch.int8, generator=g))


def _fp32_gemm(n: int):
    """``a @ b`` of float32 matrices."""
    import torch

    a, b = operands("fp32", n)
    return lambda: torch.mm(a, b), "torch.mm float32"


INT8_SCALES = (0.01, 0.02)  # activation, weight: the float result is x @ w.T * 0.01 * 0.02


def _int8_gemm(n: int):
    """``x @ w.T`` of uint8 x int8 with int32 accumulation, dequantized to float32 (``INT8_SCALES``)."""
    import torch

    x, w = operands("int8", n)
    packed = torch.ops.onednn.qlinear_prepack(w, [n, n])
    w_scale, w_zero = torch.full((n,), INT8_SCALES[1]), torch.zeros(n, dtype=torch.int64)

    def run():
        return torch.ops.onednn.qlinear_pointwise(x, INT8_SCALES[0], 0, packed, w_scale, w_zero, None, 1.0, 0,
                                                  torch.float32, "none", [], "")

    return run, "torch.ops.onednn.qlinear_pointwise uint8 x int8 -> int32 accumulate"


GEMMS = {"fp32": _fp32_gemm, "int8": _int8_gemm}


def rate(macs: int, wall_ns: list[int], cpu_ns: list[int]) -> dict:
    """GMAC/s of ``macs`` per run over the median wall and median CPU time of the runs (ns)."""
    wall, cpu = statistics.median(wall_ns), statistics.median(cpu_ns)
    return {"gmacs": macs / wall if wall > 0 else None, "gmacs_cpu": macs / cpu if cpu > 0 else None,
            "median_ms": wall / 1e6, "median_cpu_ms": cpu / 1e6}


def _time(fn, reps: int, warmup: int) -> tuple[list[int], list[int]]:
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(reps):
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        fn()
        wall.append(time.perf_counter_ns() - t0)
        cpu.append(time.process_time_ns() - c0)
    return wall, cpu


def measure_gemm_peak(threads: int, size: int = GEMM_SIZE, reps: int = GEMM_REPS, warmup: int = GEMM_WARMUP) -> dict:
    """The report's ``gemm_peak``: fp32 and int8 GEMM rates at 1 thread and at ``threads``."""
    import torch

    prev = torch.get_num_threads()
    rates, skipped = [], {}
    try:
        for precision, make in GEMMS.items():
            try:
                fn, op = make(size)
                fn()
            except (RuntimeError, AttributeError, NotImplementedError) as e:  # e.g. a torch built without oneDNN
                skipped[precision] = f"{e.__class__.__name__}: {(str(e).strip().splitlines() or [''])[0][:160]}"
                continue
            for n in sorted({1, int(threads)}):
                torch.set_num_threads(n)
                wall, cpu = _time(fn, reps, warmup)
                rates.append({"precision": precision, "threads": n, "op": op, **rate(size ** 3, wall, cpu)})
    finally:
        torch.set_num_threads(prev)
    return {"m": size, "n": size, "k": size, "macs": size ** 3, "warmup": warmup, "repetitions": reps,
            "statistic": "median", "rates": rates, "skipped": skipped}


def peak_for(peak: dict | None, precision: str | None, threads: int | None) -> dict | None:
    """The rate ``peak`` measured for ``precision``'s kernel at ``threads`` (None: not measured)."""
    want = PEAK_OF_PRECISION.get(precision or "")
    if not peak or want is None:
        return None
    return next((r for r in peak.get("rates", []) if r["precision"] == want and r["threads"] == threads), None)


def compute_of(row: dict, peak: dict | None) -> dict | None:
    """A row's ``compute``: achieved GMAC/s (its MACs over its median latency, wall and CPU) and
    its share of the matching GEMM peak; None for a row without MACs or latency, or not on this CPU."""
    macs, lat, cpu = row.get("macs"), (row.get("latency_ms") or {}).get("p50"), (row.get("cpu_time_ms") or {}).get("p50")
    if not macs or not lat or row.get("target") not in CPU_TARGETS or row.get("skipped_reason"):
        return None
    gmacs = macs / (lat * 1e6)  # MACs / (ms * 1e6) = GMAC/s
    gmacs_cpu = macs / (cpu * 1e6) if cpu else None
    out = {"gmacs": gmacs, "gmacs_cpu": gmacs_cpu, "peak": None, "peak_gmacs": None, "share": None, "share_cpu": None}
    p = peak_for(peak, row.get("precision"), row.get("threads"))
    if p is not None:
        out.update(peak=p["precision"], peak_gmacs=p["gmacs"], share=gmacs / p["gmacs"] if p["gmacs"] else None,
                   share_cpu=gmacs_cpu / p["gmacs_cpu"] if gmacs_cpu and p["gmacs_cpu"] else None)
    return out
