"""Keep freed memory in the process while an export runs, instead of handing it back to the kernel.

An export pushes hundreds of images through PyTorch, ONNX Runtime and LiteRT in batches whose
tensors are tens of MB each. glibc serves blocks that large with ``mmap`` and unmaps them on
``free``, so the next batch faults the same memory in again page by page. Measured on the cub100
baseline (MobileNetV2, 224 px, 1 thread): 128 images through the PyTorch deploy graph in batches
of 64 took 2.6 s of user and 5.5 s of system time (2 million page faults); with the thresholds
raised, 2.3 s and 0.7 s, and the logits are bit for bit the same. The whole export spent 135 of its
345 CPU seconds in the kernel before this. Raising glibc's mmap and trim thresholds (``mallopt``)
for the export's duration keeps those blocks in the heap for the next batch; afterwards the
defaults are set again and the free memory is returned (``malloc_trim``). With another C library
(macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
DEFAULT_THRESHOLD = 128 * 1024  # glibc's initial value of both
HELD_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap and stay there while the export runs


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextmanager
def reuse_freed_memory():
    """Within the block, large freed blocks stay in the heap (glibc only); then defaults and a trim."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, HELD_THRESHOLD)
    libc.mallopt(M_TRIM_THRESHOLD, HELD_THRESHOLD)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD)
        libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_THRESHOLD)
        libc.malloc_trim(0)
