"""Describe the machine a figure came from: no latency without CPU, cores, threads, versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

#: distributions whose versions change the numbers (import names differ, so ask pip's metadata;
#: importing coremltools just to read its version prints warnings off macOS)
LIBRARIES = ("torch", "torchvision", "numpy", "onnxruntime", "onnxruntime-gpu", "ai-edge-litert", "coremltools", "pillow")


def library_versions(names=LIBRARIES) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name != "onnxruntime-gpu":
                out[name] = None
    return out


def lscpu_model(text: str | None = None) -> str | None:
    """``Model name`` of ``lscpu`` (run with LC_ALL=C unless ``text`` is given); None if unknown."""
    if text is None:
        import shutil
        import subprocess

        exe = shutil.which("lscpu")
        if exe is None:
            return None
        try:
            text = subprocess.run([exe], capture_output=True, text=True, timeout=10,
                                  env={**os.environ, "LC_ALL": "C"}).stdout
        except (OSError, subprocess.SubprocessError):
            return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name" and value.strip() and value.strip() != "-":
            return " ".join(value.split())
    return None


def cpu_model() -> str | None:
    """The CPU's name as ``lscpu`` gives it (also on ARM, where /proc/cpuinfo often has none),
    else /proc/cpuinfo's, else what platform knows."""
    name = lscpu_model()
    if name:
        return name
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def usable_cores() -> int | None:
    """Cores this process may run on (affinity / cgroup-aware where the OS says so)."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0))
        except OSError:
            pass
    return os.cpu_count()


def gpu_name() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # a broken CUDA install must not stop a CPU benchmark
        return None
    return None


def describe_host(threads: int | None) -> dict:
    return {
        "cpu_model": cpu_model(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "libraries": library_versions(),
        "gpu": gpu_name(),
    }
