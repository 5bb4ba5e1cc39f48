"""The one pipeline every study runs: train (or reuse) -> deploy graph -> export -> timing.

A study declares only what it varies (methods, heads, input sizes, seeds, thread counts) and
follows each variant through a ``Run``: ``Run.train(options)`` makes or reuses the run folder,
``graph``/``cost`` give the graph a phone runs and its params and MACs, ``torch_latency`` times
it in PyTorch, ``export``/``int8_tflite`` write its artifacts with the exporter's public API, and
``time_artifact`` times one of them as ``fgvc-mobile bench`` does. Each step reuses what an earlier
call left on disk (a finished run, an export of the same checkpoint), so a study resumes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from fgvc_mobile.benchmarks.latency import LatencyResult, measure
from fgvc_mobile.benchmarks.runners import runners_for
from fgvc_mobile.benchmarks.runners.base import Session
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.deploy import DeployModel, complexity
from fgvc_mobile.export.pipeline import ExportRequest, run_export
from fgvc_mobile.models.load import Trained, load_trained, read_checkpoint
from fgvc_mobile.train.config import TrainConfig
from fgvc_mobile.train.trainer import fit

log = logging.getLogger("fgvc_mobile.studies")


class GraphSession(Session):
    """A PyTorch graph behind the harness's session interface, so ``measure`` times it like any runtime."""

    def __init__(self, graph: torch.nn.Module):
        self.graph = graph

    def run(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.graph(torch.from_numpy(x)).numpy()


@dataclass
class Run:
    """A run folder (``fgvc-mobile train --out``) and its checkpoint, followed to the phone."""

    folder: Path
    checkpoint: str = "best.pt"  # the file in ``folder`` the steps below start from

    @classmethod
    def train(cls, options: dict, source: str = "options", show_progress: bool = False) -> Run:
        """Train ``options`` (TrainConfig fields; ``out`` is the folder). A finished run is reused: its
        last.pt reached its epochs and, selected on val, it evaluated test (results.json). Any other
        is resumed; one stopped before its test evaluation then only runs that."""
        cfg = TrainConfig.from_dict(options, source)
        last = Path(cfg.out) / "last.pt"
        if last.is_file():
            ckpt = read_checkpoint(last)
            tested = (ckpt.get("best") or {}).get("split") != "val" or (Path(cfg.out) / "results.json").is_file()
            if ckpt["epoch"] >= cfg.epochs and tested:
                return cls(Path(cfg.out))
            cfg = dataclasses.replace(cfg, resume=str(last))
        fit(cfg, show_progress=show_progress)
        return cls(Path(cfg.out))

    @cached_property
    def loaded(self) -> Trained:
        ckpt = self.folder / self.checkpoint
        if not ckpt.is_file():
            raise FGVCError(f"{self.folder}: no {self.checkpoint} (train it first: fgvc-mobile train --out {self.folder})")
        return load_trained(ckpt)

    @property
    def size(self) -> int:
        return self.loaded.preprocess.input_size

    def graph(self, rule: str | None = None) -> DeployModel:
        """What a phone runs: the exporter's deploy graph of ``rule`` (unused heads pruned, BN folded)."""
        return DeployModel(self.loaded.model, rule, input_size=self.size)

    def cost(self, graph: DeployModel) -> dict:
        """Params and MACs of ``graph`` at batch 1, and MACs as a multiple of MobileNetV2's."""
        return complexity(self.loaded.model, graph, self.size)

    def torch_latency(self, rule: str | None, threads: int, runs: int, warmup: int) -> tuple[DeployModel, LatencyResult]:
        """PyTorch fp32 latency of the deploy graph at batch 1 (its load time is building the graph)."""
        prev = torch.get_num_threads()
        torch.set_num_threads(threads)
        x = np.random.default_rng(0).standard_normal((1, 3, self.size, self.size), dtype=np.float32)
        try:
            session, lat = measure(lambda: GraphSession(self.graph(rule)), lambda s: x, warmup, runs)
        finally:
            torch.set_num_threads(prev)
        return session.graph, lat

    def export(self, out: Path, formats: str = "tflite", rule: str | None = None, *, data: str | None = None,
               val_images: int | None = None, calib_images: int | None = None, fresh: bool = False,
               command: str = "") -> list[dict]:
        """fp32 + int8 artifacts of ``rule`` in ``formats`` (comma-separated) written into ``out``; an
        export already there of this checkpoint and rule, in these formats, validated on as many
        images, is reused unless ``fresh``. The int8 gate is waived (a study reports every drop), so
        nothing is chosen on the images: they are the test split, what a study reports."""
        rule = rule or self.loaded.default_rule
        done = None if fresh else current_export(out, self.loaded.sha256, rule, formats.split(","), val_images)
        if done is not None:
            log.info("reusing %s", out)
            return done
        return run_export(ExportRequest(
            checkpoint=self.loaded.path, out=str(out), format=formats, int8=True, rule=rule, val_data=data,
            val_images=val_images, gate_split="test", calib_data=data, calib_images=calib_images, accept_drop=True,
            command=command,
        ), echo=log.info).artifacts

    def int8_tflite(self, out: Path, rule: str | None = None, **export_options) -> dict:
        """The int8 TFLite manifest entry of ``export``, or ``{"note": why there is none}``: a graph the
        converter cannot take is a note in a row, not the end of a table."""
        try:
            arts = self.export(out, "tflite", rule, **export_options)
        except Exception as e:
            return {"note": f"export failed: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:160]}"}
        return next((a for a in arts if a["format"] == "tflite" and a["precision"] == "int8"),
                    {"note": "the exporter produced no int8 TFLite artifact"})


def current_export(out: Path, sha256: str, rule: str, formats: list[str], val_images: int | None) -> list[dict] | None:
    """The manifest entries in ``out/manifest.json`` when they come from the checkpoint with this
    ``sha256``, hold ``rule`` in every format (files present) and, with ``val_images`` > 0, were
    validated on that many images; otherwise None."""
    try:
        index = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict) or (index.get("source") or {}).get("checkpoint_sha256") != sha256:
        return None
    arts = [a for a in index.get("artifacts", []) if isinstance(a, dict) and a.get("inference_rule") == rule
            and (Path(out) / str(a.get("model_file"))).exists()]
    if not set(formats) <= {a.get("format") for a in arts if a.get("precision") == "int8"}:
        return None
    if val_images and not all(str((a.get("validation") or {}).get("images", "")).startswith(f"{val_images} ")
                              for a in arts):
        return None
    return arts


def time_artifact(folder: Path, art: dict, threads: int, runs: int, warmup: int) -> LatencyResult:
    """Batch-1 latency of one exported artifact (manifest entry ``art`` in ``folder``) on the host CPU,
    fed a fixed uint8 crop through its contract, as ``fgvc-mobile bench`` feeds it."""
    runner = runners_for(art["format"], "cpu")[0]
    size = int(art["preprocess"]["input_size"])
    crop = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    session, lat = measure(lambda: runner.load(Path(folder) / art["model_file"], threads, art),
                           lambda s: s.contract.prepare(crop, art["model_file"]), warmup, runs)
    session.close()
    return lat
