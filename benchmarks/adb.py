"""Phone latency through adb: push a .tflite and LiteRT's ``benchmark_model``, run, parse.

``benchmark_model`` is the tool LiteRT publishes for on-device timing; it runs the model on
random input, so phones give latency and memory here and accuracy comes from the host rows
(same .tflite) or from the Android app's own benchmark mode (``--import``).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tqdm import tqdm

from fgvc_mobile.benchmarks.benchmark_model_output import parse_benchmark_model_output
from fgvc_mobile.benchmarks.report import make_row
from fgvc_mobile.errors import FGVCError

REMOTE_DIR = "/data/local/tmp/fgvc_bench"
RUNTIME = "litert-benchmark_model"
#: delegate name -> benchmark_model flags ("cpu" is the plain interpreter without XNNPACK)
DELEGATE_FLAGS = {
    "cpu": ("--use_xnnpack=false",),
    "xnnpack": ("--use_xnnpack=true",),
    "gpu": ("--use_gpu=true",),
    "nnapi": ("--use_nnapi=true",),
}
DEFAULT_DELEGATES = ("xnnpack",)


def benchmark_command(binary: str, graph: str, threads: int, delegate: str, runs: int, warmup: int, extra=()) -> list[str]:
    """The argv run on the phone for one (model, delegate)."""
    if delegate not in DELEGATE_FLAGS:
        raise FGVCError(f"--delegates: unknown delegate {delegate!r}; choose from {', '.join(DELEGATE_FLAGS)}")
    if threads < 1 or runs < 1 or warmup < 0:
        raise FGVCError(f"benchmark_model needs threads >= 1, runs >= 1, warmup >= 0 (got {threads}, {runs}, {warmup})")
    return [binary, f"--graph={graph}", f"--num_threads={threads}", *DELEGATE_FLAGS[delegate],
            f"--num_runs={runs}", f"--warmup_runs={warmup}", *extra]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


class Adb:
    """A thin wrapper over the ``adb`` client bound to one device."""

    def __init__(self, adb: str | None = None, serial: str | None = None, timeout_s: float = 900):
        self.exe = adb or shutil.which("adb")
        if not self.exe:
            raise FGVCError("adb not found on PATH: install Android platform-tools (https://developer.android.com/tools/releases/platform-tools)")
        self.serial = serial
        self.timeout_s = timeout_s

    def _run(self, args: list[str], timeout_s: float | None = None) -> subprocess.CompletedProcess:
        cmd = [self.exe, *(["-s", self.serial] if self.serial and args[0] != "devices" else []), *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s or self.timeout_s)
        except FileNotFoundError:
            raise FGVCError(f"adb not found: {self.exe}") from None
        except subprocess.TimeoutExpired:
            raise FGVCError(f"adb {' '.join(args[:2])} timed out after {timeout_s or self.timeout_s:.0f} s") from None

    def devices(self) -> list[tuple[str, str]]:
        r = self._run(["devices"], timeout_s=60)
        if r.returncode != 0:
            raise FGVCError(f"adb devices failed: {_first_line(r.stderr or r.stdout)}")
        out = []
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
                out.append((parts[0], parts[1]))
        return out

    def select_device(self) -> str:
        devs = self.devices()
        ready = [s for s, state in devs if state == "device"]
        if self.serial:
            state = dict(devs).get(self.serial)
            if state != "device":
                raise FGVCError(f"--serial {self.serial}: device {'not connected' if state is None else state} (adb devices)")
            return self.serial
        if not ready:
            if devs:
                s, state = devs[0]
                raise FGVCError(f"Android device {s} is {state}: unlock it and accept the USB debugging prompt")
            raise FGVCError("no Android device connected: `adb devices` lists none (connect a phone with USB debugging on)")
        if len(ready) > 1:
            raise FGVCError(f"several Android devices connected ({', '.join(ready)}): choose one with --serial")
        self.serial = ready[0]
        return self.serial

    def push(self, local: str | Path, remote: str) -> None:
        r = self._run(["push", str(local), remote])
        if r.returncode != 0:
            raise FGVCError(f"adb push {local} -> {remote} failed: {_first_line(r.stderr or r.stdout)}")

    def shell(self, argv: list[str], timeout_s: float | None = None) -> tuple[int, str]:
        r = self._run(["shell", shlex.join(argv)], timeout_s)
        return r.returncode, (r.stdout or "") + (r.stderr or "")

    def getprop(self, name: str) -> str | None:
        rc, out = self.shell(["getprop", name], timeout_s=60)
        value = out.strip()
        return (value or None) if rc == 0 else None


def describe_device(adb: Adb) -> dict:
    props = {
        "model": "ro.product.model", "manufacturer": "ro.product.manufacturer", "soc": "ro.soc.model",
        "board": "ro.board.platform", "abi": "ro.product.cpu.abi", "android": "ro.build.version.release",
        "sdk": "ro.build.version.sdk",
    }
    out = {k: adb.getprop(p) for k, p in props.items()}
    out["serial"] = adb.serial
    return out


def _remote_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _row(artifact, delegate, threads, parsed=None, skipped=None) -> dict:
    m, src = artifact.manifest, artifact.source
    row = make_row(
        artifact=artifact.name, format=artifact.format, precision=artifact.precision, method=m.get("method"),
        target="android", runtime=RUNTIME, delegate=delegate, threads=threads,
        batch=int(m["input"]["shape"][0]) if m["input"]["shape"][0] > 0 else 1,
        input_size=int(m["preprocess"]["input_size"]), size_bytes=artifact.size_bytes,
        params=src.get("params"), macs=src.get("macs"), skipped_reason=skipped,
    )
    if parsed:
        row.update(load_ms=parsed["init_ms"], first_inference_ms=parsed["first_inference_ms"],
                   warmup_runs=parsed["warmup_runs"], runs=parsed["runs"], latency_ms=parsed["latency_ms"],
                   peak_rss_mb=parsed["peak_memory_mb"], rss_delta_mb=parsed["memory_overall_mb"])
        if parsed.get("delegated_nodes"):
            row["notes"] = "; ".join(f"{d['delegate']}: {d['nodes']}/{d['of']} nodes" for d in parsed["delegated_nodes"])
    return row


def run_adb_bench(artifacts, benchmark_model, threads: int, runs: int, warmup: int, delegates=DEFAULT_DELEGATES,
                  adb: str | None = None, serial: str | None = None, progress: bool = True) -> tuple[list[dict], dict]:
    """Rows (target "android") for every .tflite artifact and delegate, and the device description."""
    for d in delegates:
        if d not in DELEGATE_FLAGS:
            raise FGVCError(f"--delegates: unknown delegate {d!r}; choose from {', '.join(DELEGATE_FLAGS)}")
    if not benchmark_model:
        raise FGVCError("--target adb needs --benchmark-model PATH (LiteRT's benchmark_model built for the phone's ABI)")
    binary = Path(benchmark_model)
    if not binary.is_file():
        raise FGVCError(f"--benchmark-model {binary}: no such file")
    tflites = [a for a in artifacts if a.format == "tflite"]
    if not tflites:
        raise FGVCError("--target adb: no .tflite artifacts among the manifests (benchmark_model runs LiteRT models only)")
    dev = Adb(adb, serial)
    dev.select_device()
    device = describe_device(dev)
    rc, out = dev.shell(["mkdir", "-p", REMOTE_DIR])
    if rc != 0:
        raise FGVCError(f"cannot create {REMOTE_DIR} on the device: {_first_line(out)}")
    remote_bin = f"{REMOTE_DIR}/benchmark_model"
    dev.push(binary, remote_bin)
    dev.shell(["chmod", "755", remote_bin])
    rows = []
    try:
        for art in tqdm(tflites, desc="adb", disable=not progress, leave=False):
            graph = f"{REMOTE_DIR}/{_remote_name(art.name)}"
            dev.push(art.path, graph)
            for d in delegates:
                rc, out = dev.shell(benchmark_command(remote_bin, graph, threads, d, runs, warmup))
                try:
                    if rc != 0:
                        raise FGVCError(f"benchmark_model exited with {rc}: {_first_line(out)}")
                    rows.append(_row(art, d, threads, parsed=parse_benchmark_model_output(out, f"{art.name} [{d}]")))
                except FGVCError as e:  # one delegate failing (e.g. no GPU driver) must not lose the others
                    rows.append(_row(art, d, threads, skipped=str(e)))
            dev.shell(["rm", "-f", graph])
    finally:
        dev.shell(["rm", "-rf", REMOTE_DIR])
    return rows, device
