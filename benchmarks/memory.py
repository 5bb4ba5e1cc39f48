"""Resident memory of this process: current RSS and a peak that can be reset per artifact.

On Linux the kernel keeps the peak (VmHWM in /proc/self/status) and lets a process reset it
to the current RSS by writing "5" to /proc/self/clear_refs, so each artifact gets its own
peak even though all run in one process. Elsewhere the peak is getrusage's lifetime maximum,
which can only grow; ``peak_is_per_artifact`` says which one the report holds.
"""

from __future__ import annotations

import resource
import sys

_STATUS = "/proc/self/status"


def _status_kib(key: str) -> int | None:
    try:
        with open(_STATUS, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def current_rss_mb() -> float | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024.0


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS; False where that is impossible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux and bytes on macOS
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


class PeakWindow:
    """Measure the peak RSS over a block: ``with PeakWindow() as w: ...; w.peak_mb, w.delta_mb``."""

    def __enter__(self):
        self.per_artifact = reset_peak()
        self.start_mb = current_rss_mb()
        self.peak_mb = None
        self.delta_mb = None
        return self

    def stop(self):
        self.peak_mb = peak_rss_mb()
        if self.per_artifact and self.peak_mb is not None and self.start_mb is not None:
            self.delta_mb = max(0.0, self.peak_mb - self.start_mb)

    def __exit__(self, *exc):
        if self.peak_mb is None:
            self.stop()
        return False
