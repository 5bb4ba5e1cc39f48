"""``run_bench`` and ``import_report``: the harness from artifacts folder to report files.

For each artifact and each runtime that runs its format on the target, one row: load time,
first inference, warmup + timed runs at batch 1, peak RSS, then accuracy on the test split
(images decoded once, shared by every artifact) and top-1 agreement with the fp32 PyTorch
reference (the manifests' ``source.checkpoint`` or ``reference_checkpoint``, on CUDA when
present, else the CPU). Once per run the machine's own fp32 and int8 GEMM rate is measured
(``peak.py``), and each CPU row gets ``compute``: its MACs over its latency (GMAC/s) and that
rate's share of the peak of its precision. ``--target adb`` times the .tflite artifacts on a phone
instead.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fgvc_mobile.benchmarks import accuracy as acc
from fgvc_mobile.benchmarks.image_cache import DecodedImages, decode_once, geometry_of
from fgvc_mobile.benchmarks.latency import measure
from fgvc_mobile.benchmarks.machine import describe_host, usable_cores
from fgvc_mobile.benchmarks.diagnostics_report import bench_diagnostics
from fgvc_mobile.benchmarks.manifests import Artifact, discover
from fgvc_mobile.benchmarks.names import display_names, row_name, run_name
from fgvc_mobile.benchmarks.peak import compute_of, measure_gemm_peak
from fgvc_mobile.benchmarks.plots import accuracy_vs_latency, latency_by_format
from fgvc_mobile.benchmarks.render import to_html, to_markdown
from fgvc_mobile.benchmarks.report import load_report, make_row, new_report, save_report
from fgvc_mobile.benchmarks.runners import HOST_TARGETS, runners_for
from fgvc_mobile.benchmarks.runners.torch_eager import count_complexity
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.diagnostics import Diagnostics
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import preprocess_of
from fgvc_mobile.serialization import atomic_write_text

TARGETS = (*HOST_TARGETS, "adb")


def write_outputs(report: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """report.json (validated), report.md, the PNG plots and the self-contained report.html."""
    out = Path(out_dir)
    paths = {"json": save_report(report, out / "report.json")}
    atomic_write_text(out / "report.md", to_markdown(report))
    paths["md"] = out / "report.md"
    figs = {}
    scatter = accuracy_vs_latency(report["results"], out / "accuracy_vs_latency.png")
    if scatter:
        figs["Accuracy vs latency"] = paths["accuracy_vs_latency"] = scatter
    bars = latency_by_format(report["results"], out / "latency_by_format.png")
    if bars:
        figs["Latency by format"] = paths["latency_by_format"] = bars
    atomic_write_text(out / "report.html", to_html(report, figs))
    paths["html"] = out / "report.html"
    return paths


def import_report(path: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Render a report written elsewhere (the Android app's benchmark mode) into ``out_dir``."""
    report = load_report(path)
    write_outputs(report, out_dir)
    return report


def _subset(samples: list, limit: int | None) -> list:
    """``limit`` images spread evenly over the split (test lists are grouped by class)."""
    if not limit or limit >= len(samples):
        return samples
    idx = np.unique(np.linspace(0, len(samples) - 1, limit).round().astype(int))
    return [samples[i] for i in idx]


class _Images:
    """Decoded test crops per geometry, decoded on first use and kept for every artifact."""

    def __init__(self, samples, cache_dir, progress):
        self.samples, self.cache_dir, self.progress = samples, cache_dir, progress
        self._by_geometry: dict[str, DecodedImages] = {}

    def get(self, cfg: PreprocessConfig) -> DecodedImages:
        key = repr(sorted(geometry_of(cfg).items()))
        if key not in self._by_geometry:
            self._by_geometry[key] = decode_once(self.samples, cfg, self.cache_dir, progress=self.progress)
        return self._by_geometry[key]


def _ensure_host_target(target: str) -> None:
    if target == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise FGVCError("--target cuda: no CUDA device here (torch.cuda.is_available() is False)")


#: more intra-op threads than any phone or workstation has cores: surely a typo
MAX_THREADS = 256


def _check_settings(target, threads, runs, warmup, limit, eval_batch) -> int:
    if target not in TARGETS:
        raise FGVCError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    if threads is None:  # a phone's big cores are not the host's: default to 4 there
        threads = 4 if target == "adb" else min(4, usable_cores() or 1)
    for name, v, lo in (("--threads", threads, 1), ("--runs", runs, 1), ("--warmup", warmup, 0), ("--eval-batch", eval_batch, 1)):
        if not isinstance(v, int) or v < lo:
            raise FGVCError(f"{name} must be an integer >= {lo}, got {v!r}")
    if threads > MAX_THREADS:  # a typo (--threads 4000) would spawn thousands of threads per runtime
        raise FGVCError(f"--threads must be at most {MAX_THREADS}, got {threads}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise FGVCError(f"--limit must be a positive integer, got {limit!r}")
    return threads


class _HostBench:
    """Measures rows on this machine; holds the decoded images and the reference predictions."""

    def __init__(self, images: _Images, classes, threads, runs, warmup, eval_batch, progress):
        self.images, self.classes = images, classes
        self.threads, self.runs, self.warmup, self.eval_batch, self.progress = threads, runs, warmup, eval_batch, progress
        self.refs: dict[str, dict] = {}  # checkpoint -> {"names": predicted class names, "top1": float, ...}
        self.diagnosed: list[tuple[dict, Diagnostics]] = []  # (row, its per-class diagnostics)
        self._true = None  # data class indices of the images the last _evaluate scored

    def diagnose(self, row: dict, pred_names) -> None:
        """Per-class diagnostics of ``row`` from its predicted class names (matched to the data's classes)."""
        pred = np.asarray(pred_names)
        if pred.dtype.kind not in "iu":
            index = {c: i for i, c in enumerate(self.classes)}
            pred = np.asarray([index.get(str(n), -1) for n in pred], dtype=np.int64)
        self.diagnosed.append((row, Diagnostics(self._true, pred, list(self.classes))))

    def _evaluate(self, runner, path, manifest, label_names, where):
        """Time one runner on one model file, then score it on every decoded test image.

        The input comes from the session's contract, read after loading, since the model itself
        may say how it wants its input (dtype, quantization).
        Returns (row fields, predicted class names, the closed session).
        """
        chosen = {}

        def make_input(session):
            data = self.images.get(session.contract.pre)
            if data.n_valid == 0:
                raise FGVCError(f"none of the {len(data)} test images could be decoded")
            chosen.update(data=data)
            first = int(np.flatnonzero(data.valid)[0])
            return session.contract.prepare(np.asarray(data.images[first : first + 1]), where)

        session, lat = measure(lambda: runner.load(path, self.threads, manifest), make_input, self.warmup, self.runs)
        data, contract = chosen["data"], session.contract
        try:
            logits = acc.predict(session, data, lambda x: contract.prepare(x, where), self.eval_batch, self.progress, where)
            names = label_names(session)
        finally:
            session.close()
        index_map = acc.class_index_map(names, self.classes, where)
        pred = acc.top1(logits)
        self._true = data.labels[data.valid]
        fields_ = {
            "threads": self.threads, "batch": 1, "input_size": contract.size, "load_ms": lat.load_ms,
            "first_inference_ms": lat.first_inference_ms, "warmup_runs": lat.warmup_runs, "runs": lat.runs,
            "latency_ms": lat.latency_ms, "cpu_time_ms": lat.cpu_time_ms, "peak_rss_mb": lat.peak_rss_mb,
            "rss_delta_mb": lat.rss_delta_mb,
            "accuracy": acc.topk_accuracy(logits, data.labels[data.valid], index_map),
        }
        return fields_, (np.asarray(names, dtype=object)[pred] if names else pred), session

    def reference_rows(self, checkpoint: str, rule: str | None, target: str) -> list[dict]:
        """PyTorch eager rows for a checkpoint; the CUDA one (else the CPU one) becomes the reference."""
        name = Path(checkpoint).name
        measured = []  # (row, predicted names, session)
        rows = []
        for runner in runners_for("pytorch", target, rule):
            base = dict(artifact=name, format="pytorch", precision="fp32", target=runner.target,
                        runtime=runner.runtime, delegate=runner.delegate, threads=self.threads)
            reason = runner.unavailable_reason()
            if reason:
                rows.append(make_row(**base, skipped_reason=reason))
                continue
            try:
                f, names, session = self._evaluate(runner, checkpoint, None, lambda s: list(s.meta["classes"]), name)
            except FGVCError as e:
                rows.append(make_row(**base, skipped_reason=str(e)))
                continue
            params, macs = count_complexity(session.model, f["input_size"], session.rule)
            passes = session.model.backbone_passes(session.rule) if session.rule else 1
            row = make_row(**{**base, **f}, name=row_name(run_name(checkpoint), "pytorch", "fp32"),
                           method=session.meta.get("method"), params=params, macs=macs,
                           backbone_passes=passes,
                           size_bytes=Path(checkpoint).stat().st_size,
                           notes=f"inference rule {session.rule}" if session.rule else None)
            measured.append((row, names, session))
            self.diagnose(row, names)
            rows.append(row)
        if measured:
            ref_row, ref_names, ref_session = next((m for m in measured if m[0]["delegate"] == "cuda"), measured[0])
            self.refs[checkpoint] = {"names": ref_names, "top1": ref_row["accuracy"]["top1"], "device": ref_row["delegate"],
                                     "rule": ref_session.rule, "method": ref_session.meta.get("method"),
                                     "accuracy": ref_row["accuracy"], "macs": ref_row["macs"],
                                     "input_size": ref_row["input_size"]}
            for row, names, _ in measured:
                self._compare(row, checkpoint, names)
        return rows

    def _compare(self, row: dict, checkpoint: str | None, pred_names) -> None:
        ref = self.refs.get(checkpoint) if checkpoint else None
        row["reference"] = checkpoint
        if ref is None or pred_names is None or row.get("accuracy") is None:
            return
        row["agreement_with_reference"] = acc.agreement(np.asarray(pred_names), np.asarray(ref["names"]))
        row["top1_delta_vs_reference"] = row["accuracy"]["top1"] - ref["top1"]

    def _macs(self, art: Artifact, checkpoint: str | None) -> int | None:
        """The manifest's ``source.macs`` (the deploy graph's, written by the export); for an older
        manifest without it, the reference checkpoint's when it ran the same rule at the same size."""
        if art.source.get("macs") is not None:
            return int(art.source["macs"])
        ref = self.refs.get(checkpoint) if checkpoint else None
        if ref and ref["rule"] == art.manifest.get("inference_rule") and \
                ref["input_size"] == int(art.manifest["preprocess"]["input_size"]):
            return ref["macs"]
        return None

    def artifact_rows(self, art: Artifact, checkpoint: str | None, target: str) -> list[dict]:
        m, rows = art.manifest, []
        runners = runners_for(art.format, target)
        run = run_name(checkpoint, run_name(art.path))
        base = dict(name=row_name(run, art.format, art.precision),
                    artifact=art.name, format=art.format, precision=art.precision, method=m.get("method"),
                    size_bytes=art.size_bytes, params=art.params(), macs=self._macs(art, checkpoint),
                    backbone_passes=(m.get("pipeline") or {}).get("backbone_passes", 1),
                    input_size=int(m["preprocess"]["input_size"]), batch=1)
        if not runners:
            return [make_row(**base, target="cuda" if target == "cuda" else "host", runtime="none",
                             skipped_reason=f"no runtime measures format {art.format!r} on target {target}")]
        for runner in runners:
            row_base = {**base, "target": runner.target, "runtime": runner.runtime, "delegate": runner.delegate, "threads": self.threads}
            reason = runner.unavailable_reason()
            if reason:
                rows.append(make_row(**row_base, skipped_reason=reason))
                continue
            try:
                f, names, _ = self._evaluate(runner, art.path, m, lambda s: list(m["labels"]), art.name)
            except FGVCError as e:
                rows.append(make_row(**row_base, skipped_reason=str(e)))
                continue
            except Exception as e:  # a runtime refusing one model must not lose the other rows
                msg = (str(e).strip().splitlines() or [""])[0][:200]
                warnings.warn(f"{art.name} on {runner!r} failed: {e.__class__.__name__}: {msg}")
                rows.append(make_row(**row_base, skipped_reason=f"failed: {e.__class__.__name__}: {msg}"))
                continue
            row = make_row(**{**row_base, **f})
            self._compare(row, checkpoint, names)
            self.diagnose(row, names)
            rows.append(row)
        return rows


def run_bench(artifacts_dir, data_spec, out_dir, threads: int | None = None, runs: int = 50, warmup: int = 10,
              limit: int | None = None, target: str = "host", benchmark_model=None, reference_checkpoint=None,
              delegates=None, serial: str | None = None, adb: str | None = None, eval_batch: int = 32,
              cache_dir=None, progress: bool = True, command: str | None = None) -> dict:
    """Benchmark every artifact under ``artifacts_dir``; write the report files into ``out_dir``."""
    threads = _check_settings(target, threads, runs, warmup, limit, eval_batch)
    settings = {"target": target, "threads": threads, "runs": runs, "warmup": warmup, "batch": 1, "limit": limit}
    if target != "adb" and not data_spec:
        raise FGVCError("--data is required on host targets to measure accuracy (e.g. --data cub:/path/to/CUB_200_2011)")
    if target != "adb":
        _ensure_host_target(target)
    artifacts = discover(artifacts_dir)

    if target == "adb":
        from fgvc_mobile.benchmarks.adb import DEFAULT_DELEGATES, run_adb_bench

        rows, device = run_adb_bench(artifacts, benchmark_model, threads, runs, warmup,
                                     tuple(delegates or DEFAULT_DELEGATES), adb=adb, serial=serial, progress=progress)
        machine = {**describe_host(threads), "device": device}
        report = new_report(machine, rows, settings={**settings, "delegates": list(delegates or DEFAULT_DELEGATES)},
                            command=command, reference=None, tool="fgvc-mobile bench --target adb")
        write_outputs(report, out_dir)
        return report

    splits = load_splits(data_spec)
    samples = _subset(splits.test, limit)
    if not samples:
        raise FGVCError(f"--data {data_spec}: the test split is empty")
    images = _Images(samples, cache_dir, progress)
    host = _HostBench(images, splits.classes, threads, runs, warmup, eval_batch, progress)
    for art in artifacts:  # decode every geometry up front so decoding never lands inside a timed window
        images.get(preprocess_of(art.manifest))

    ckpt_of = {a.name: (str(reference_checkpoint) if reference_checkpoint else a.checkpoint) for a in artifacts}
    rows: list[dict] = []
    checkpoints = sorted({c for c in ckpt_of.values() if c})
    for ckpt in tqdm(checkpoints, desc="reference", disable=not progress, leave=False):
        if not Path(ckpt).is_file():
            raise FGVCError(f"reference checkpoint {ckpt}: no such file (set --reference)")
        rule = next((a.manifest.get("inference_rule") for a in artifacts if ckpt_of[a.name] == ckpt), None)
        rows += host.reference_rows(ckpt, rule, target)
    for art in tqdm(artifacts, desc="artifacts", disable=not progress):
        rows += host.artifact_rows(art, ckpt_of[art.name], target)
    peak = measure_gemm_peak(threads) if target in ("host", "cpu") else None
    for row in rows:
        row["compute"] = compute_of(row, peak)

    if host.refs:
        ref_device = "cuda" if any(r["device"] == "cuda" for r in host.refs.values()) else "cpu"
        reference = {"device": ref_device, "device_name": describe_host(threads)["gpu"] if ref_device == "cuda" else None,
                     "checkpoints": [{"checkpoint": c, "method": r["method"], "rule": r["rule"], "accuracy": r["accuracy"]}
                                     for c, r in host.refs.items()]}
    else:
        why = "no checkpoint named (manifest source.checkpoint or --reference)" if not checkpoints else \
            "the reference checkpoint could not be run (see its rows)"
        reference = {"device": "cpu", "checkpoints": [], "skipped_reason": why}
    first = images.get(preprocess_of(artifacts[0].manifest))
    data = {"spec": data_spec, "split": "test", "n_total": len(splits.test), "n_selected": len(samples),
            "n_evaluated": first.n_valid, "n_skipped": len(first.skipped), "n_classes": len(splits.classes)}
    shown = display_names(rows)
    diagnostics = bench_diagnostics(host.diagnosed, {id(r): n for r, n in zip(rows, shown)}, out_dir)
    report = new_report(describe_host(threads), rows, reference=reference, data=data,
                        settings={**settings, "eval_batch": eval_batch}, command=command, tool="fgvc-mobile bench",
                        diagnostics=diagnostics, gemm_peak=peak)
    write_outputs(report, out_dir)
    return report
