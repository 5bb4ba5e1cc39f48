"""The export run: checkpoint -> deploy graph -> artifacts -> gates -> metadata, manifests, report.

Every artifact has its own gate. Everything is built in a temporary folder beside ``--out``;
the artifacts that passed (with their manifests, diagnostics, labels, the index and the report)
are then moved into ``--out`` in one journalled publish, and those refused are left out (and a
stale copy from an earlier export is removed), so ``--out`` never holds a half-written file or
an artifact that missed its gate. Refused artifacts are listed with their drop, agreement and
the options that may fix them; the run then ends with ``EXIT_REFUSED``. Only when nothing passed
is nothing written.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export import manifest as mf
from fgvc_mobile.export.calibration import calibration_set, validation_set
from fgvc_mobile.export.deploy import (
    DeployModel, complexity, input_kind, pipeline_info, reference_logits, to_float_nchw,
)
from fgvc_mobile.export.formats import FORMATS, parse_options, read_metadata, resolve_formats
from fgvc_mobile.export.formats.base import BuildContext
from fgvc_mobile.export.metadata import MANIFEST_KEY, entries_for
from fgvc_mobile.export.report import console_table, host, markdown, size_bytes, table_rows
from fgvc_mobile.export import layer_errors
from fgvc_mobile.export.gate import judge, refusal
from fgvc_mobile.export.heap import reuse_freed_memory
from fgvc_mobile.export.int8 import build_int8, int8_mode
from fgvc_mobile.export.publish import publish, recover_interrupted_publish, remove
from fgvc_mobile.export.stages import StageTimes
from fgvc_mobile.export.validate import DEFAULT_MAX_INT8_DROP, top1_accuracy
from fgvc_mobile.models.load import file_sha256, load_trained
from fgvc_mobile.serialization import atomic_write_json, atomic_write_text

log = logging.getLogger("fgvc_mobile.export")
# a converter writing into the staging folder on a full or read-only disk
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG)
#: exit code of ``fgvc-mobile export`` when some artifacts were refused (the others were published)
EXIT_REFUSED = 3
#: validation images on which the deploy graph is checked against the training model (a report figure, not a
#: gate: BatchNorm folding or head pruning gone wrong shows on any image, and the check costs a full forward each)
DEPLOY_CHECK_IMAGES = 64


@dataclass
class ExportRequest:
    checkpoint: str
    out: str
    format: str = "all"
    int8: bool | str = False  # True / "default": the options' recipe; "auto": escalate until the gate passes
    calib_data: str | None = None
    calib_images: int | None = None
    val_data: str | None = None
    val_images: int | None = None
    gate_split: str | None = None  # None: "val" when the checkpoint records a validation split, else "test"
    input: str = "uint8-nhwc"
    rule: str | None = None
    options: list[str] = field(default_factory=list)
    max_int8_drop: float = DEFAULT_MAX_INT8_DROP
    accept_drop: bool = False
    skip_bad: bool = False  # leave unreadable calibration/validation images out (counted) instead of stopping
    android_assets: str | None = None
    command: str = ""


@dataclass
class ExportResult:
    out: Path
    rows: list[dict]
    artifacts: list[dict]  # index entries of manifest.json (the published artifacts only)
    table: str
    refused: list = field(default_factory=list)  # gate.Refusal of each artifact not published
    timings: dict = field(default_factory=dict)  # StageTimes.to_dict(): wall and CPU seconds per stage


def _data_spec(given: str | None, meta: dict, option: str) -> str:
    if given:
        return given
    spec = (meta.get("data") or {}).get("spec")
    if not spec:
        raise FGVCError(f"{option}: the checkpoint records no data set; pass {option} KIND:PATH")
    return spec


def _check_request(req: ExportRequest) -> tuple[list[str], dict, Path]:
    formats = resolve_formats(req.format)
    opts = parse_options(req.options, formats)
    for fmt in formats:
        FORMATS[fmt].check_installed()
    input_kind(req.input)
    if req.max_int8_drop < 0:
        raise FGVCError(f"--max-int8-drop {req.max_int8_drop}: must be >= 0")
    out = Path(req.out)
    if out.exists() and not out.is_dir():
        raise FGVCError(f"--out {out}: exists and is not a folder")
    try:  # before any work: a file where a parent folder should be, a read-only disk, ...
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FGVCError(f"--out {out}: cannot create its parent folder ({e.strerror or e})") from None
    if req.android_assets and "tflite" not in formats:
        raise FGVCError("--android-assets: the Android app runs .tflite; add tflite to --format")
    ckpt = Path(req.checkpoint)
    if not ckpt.is_file():
        raise FGVCError(f"--checkpoint {ckpt}: no such file")
    return formats, opts, out


def gate_split(req: ExportRequest, meta: dict, val_spec: str) -> tuple[dict | None, str]:
    """(the checkpoint's validation-split record, the split the gates judge on). Gating on val keeps
    ``--int8 auto``'s recipe choice, like every other choice, off the test split. The record applies
    to the checkpoint's own data set only; another ``--val-data`` is the user's own hold-out."""
    own = val_spec == (meta.get("data") or {}).get("spec")
    carve = _own_carve(val_spec, meta)
    split = req.gate_split or ("val" if carve else "test")
    if split == "val" and own and carve is None:
        raise FGVCError(f"--gate-split val: {req.checkpoint} records no validation split (trained before "
                        "validation splits); pass --gate-split test")
    return carve, split


def _own_carve(spec: str, meta: dict) -> dict | None:
    """The checkpoint's validation-split record when ``spec`` is its own data set, else None."""
    data = meta.get("data") or {}
    if spec != data.get("spec"):
        return None
    return data.get("val_split") or None


def run_export(req: ExportRequest, echo=print) -> ExportResult:
    with reuse_freed_memory():  # batches of tens of MB: keep them in the heap (heap.py)
        return _run_export(req, echo)


def _run_export(req: ExportRequest, echo) -> ExportResult:
    t_start = time.perf_counter()
    stage = StageTimes()
    formats, opts, out = _check_request(req)
    mode = int8_mode(req.int8)
    recover_interrupted_publish(out, echo)
    with stage("load checkpoint, build deploy graph"):
        loaded = load_trained(req.checkpoint)
        model, meta, pre = loaded.model, loaded.meta, loaded.preprocess
        kind = input_kind(req.input)
        deploy = DeployModel(model, req.rule, input_size=pre.input_size)
    val_spec = _data_spec(req.val_data, meta, "--val-data")
    carve, split = gate_split(req, meta, val_spec)
    with stage("decode validation images"):
        val = validation_set(val_spec, meta["classes"], pre, req.val_images, req.skip_bad, split, carve)
    calib = None
    if mode:
        with stage("decode calibration images"):
            calib_spec = _data_spec(req.calib_data, meta, "--calib-data")
            calib = calibration_set(calib_spec, meta["classes"], pre, req.calib_images, req.skip_bad,
                                    _own_carve(calib_spec, meta))
    for option, images in (("--val-data", val), ("--calib-data", calib)):
        if images is not None and images.skipped:
            echo(f"warning: {option}: skipped {len(images.skipped)} unreadable image(s) (--skip-bad), "
                 f"first {images.skipped[0]}")
    with stage("PyTorch reference (deploy graph and training model)"):
        ref = reference_logits(deploy, val.images, pre)
        trained = _training_logits(model, deploy.rule, val.images[:DEPLOY_CHECK_IMAGES], pre)
    ref_top1 = top1_accuracy(ref, val.labels)
    with stage("count params and MACs"):
        cost = complexity(model, deploy, pre.input_size)
    summary = {
        "checkpoint": os.path.abspath(req.checkpoint), "sha256": meta["sha256"], "method": meta["method"],
        "rule": deploy.rule, "input": kind.name, "preprocess": pre.to_dict(), "val": val.describe(),
        "calib": calib.describe() if calib else None, "command": req.command or "(python API)",
        "complexity": cost, "rewrites": deploy.rewrites,
        "pipeline": pipeline_info(deploy),
        "deploy_equality": float(np.abs(trained - ref[: len(trained)]).max()) if len(ref) else 0.0,
        "deploy_equality_images": len(trained), "classes": list(meta["classes"]),
    }
    c = summary["complexity"]
    echo(f"deploy graph: rule {deploy.rule}, {c['deploy_params']:,} params, {c['deploy_macs']:,} MACs "
         f"({c['x_mobilenet_v2']:.2f}x MobileNetV2); reference top-1 {ref_top1:.2f}% on {val.describe()}")
    if c["x_mobilenet_v2"] > c["phone_mac_budget"]:
        echo(f"note: the deploy graph costs more than the {c['phone_mac_budget']}x MobileNetV2 a phone model "
             "should stay within; docs/deploy_cost.md lists cheaper choices and what they cost in accuracy")

    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    except OSError as e:
        raise FGVCError(f"--out {out}: cannot write beside it in {out.parent} ({e.strerror or e})") from None
    try:
        ctx = BuildContext(deploy, pre, kind, list(meta["classes"]), tmp, val, ref, calib, stage)
        verdicts = {}

        def passes(a) -> bool:
            verdicts[a.file] = judge(a.fmt, a.precision, a.gating(), ref_top1, req.max_int8_drop, req.accept_drop)
            return verdicts[a.file].passed

        arts = []
        for fmt in formats:
            echo(f"converting {fmt} ...")
            floats, state = FORMATS[fmt].build_float(ctx, opts[fmt])
            arts += floats
            if mode:
                arts += build_int8(FORMATS[fmt], ctx, opts[fmt], state, mode, passes, floats, echo)
        published = [a for a in arts if passes(a)]
        refused = [refusal(a, verdicts[a.file], opts[a.fmt], mode == "auto", published)
                   for a in arts if a not in published]
        for r in refused:
            echo(f"refused {r.line()}")
        if not published:
            raise FGVCError(f"export failed, nothing written to {out}: {refused[0].line()}"
                            + (f" (and {len(refused) - 1} more, listed above)" if len(refused) > 1 else ""))
        with stage("int8 diagnostics (JSON + PNG)"):
            diagnostics = {a.file: layer_errors.write(tmp, a.file, a.layers, layer_errors.class_delta(
                val.labels, ref.argmax(axis=1), a.gating().preds, list(meta["classes"]))) for a in arts if a.layers}
        with stage("embed metadata, write manifests"):
            index = _finish(tmp, published, verdicts, meta, deploy, ref_top1, val, diagnostics,
                            {"params": cost["deploy_params"], "macs": cost["deploy_macs"]})
            index["refused"] = [r.to_dict() for r in refused]
            atomic_write_json(tmp / mf.INDEX_NAME, index)
        rows = table_rows(arts, verdicts, ref_top1, tmp)
        atomic_write_text(tmp / "validation_report.md",
                          markdown(summary, arts, verdicts, rows, refused, val, ref.argmax(axis=1), stage) + "\n")
        for a in arts:
            if a not in published:
                remove(tmp / a.file)
        publish(tmp, out, remove=_stale_names([a.file for a in arts if a not in published]))
    except OSError as e:
        if e.errno not in _WRITE_ERRNOS:
            raise
        raise FGVCError(f"--out {out}: cannot write the export ({e.strerror}); nothing in {out} changed") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if req.android_assets:
        _android_assets(out, index, req.android_assets, echo)
    table = console_table(rows)
    echo(table)
    echo(f"wrote {len(published)} artifact(s), manifests and validation_report.md to {out} "
         f"in {time.perf_counter() - t_start:.0f} s"
         + (f"; {len(refused)} refused (listed above, exit code {EXIT_REFUSED})" if refused else ""))
    return ExportResult(out, rows, index["artifacts"], table, refused, stage.to_dict())


@torch.no_grad()
def _training_logits(model, rule: str, images: np.ndarray, pre, batch: int = 64) -> np.ndarray:
    """The training model's ``rule`` output (all heads, then combined): what the deploy graph must equal."""
    outs = [model.combine(model.forward_heads(to_float_nchw(images[i : i + batch], pre)), rule)
            for i in range(0, len(images), batch)]
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)


def _stale_names(files: list[str]) -> list[str]:
    """What an earlier export may have left in ``--out`` for the artifacts refused now."""
    return [n for f in files for n in (f, mf.manifest_name(f))]  # its diagnostics are rewritten, not removed


def _finish(tmp: Path, arts, verdicts, meta: dict, deploy: DeployModel, ref_top1: float, val,
            diagnostics: dict[str, list[str]], cost: dict) -> dict:
    """Embed metadata (re-checking the files afterwards), write manifests, diagnostics, labels and the index."""
    mf.write_labels(tmp, list(meta["classes"]))
    entries = []
    for a in arts:
        extra = {"notes": a.notes, "pipeline": pipeline_info(deploy)}
        if a.recipe is not None:
            extra["int8_recipe"] = a.recipe
        if a.file in diagnostics:
            extra["diagnostics"] = diagnostics[a.file]
        ev, v = a.gating(), verdicts[a.file]
        validation = {
            "reference": "fp32 PyTorch deploy graph", "images": val.describe(), "reference_top1": ref_top1,
            "top1": ev.top1, "top1_drop": v.drop, "gate": {"on": a.gate, "passed": v.passed, "note": v.reason,
                                                           **v.tolerance},
            "evaluations": [e.to_dict() for e in a.evaluations], "host": host(),
        }
        manifest = mf.build_manifest(model_file=a.file, fmt=a.fmt, precision=a.precision, meta=meta, rule=deploy.rule,
                                     input_info=a.input, output_info=a.output, validation=validation,
                                     extra=extra, cost=cost)
        rerun = (lambda: a.open_session().predict(val.images[:2])) if a.open_session else None
        before = rerun() if rerun else None
        a.embed(entries_for(manifest))
        if before is not None and not np.array_equal(before, rerun()):
            raise FGVCError(f"{a.file}: outputs changed after embedding metadata")
        if read_metadata(tmp / a.file).get(MANIFEST_KEY) is None:
            raise FGVCError(f"{a.file}: embedded metadata could not be read back")
        mpath = mf.write_manifest(tmp, manifest)
        path = tmp / a.file
        entries.append({**manifest, "manifest": mpath.name, "size_bytes": size_bytes(path),
                        "sha256": file_sha256(path) if path.is_file() else None,
                        "convert_seconds": round(a.seconds, 2)})
    index = mf.index_manifest(entries)
    index["labels_file"] = mf.LABELS_NAME
    index["source"] = mf.source_info(meta)
    return index


def _android_assets(out: Path, index: dict, assets_dir: str, echo) -> None:
    try:
        from fgvc_mobile.export.android_assets import copy_android_assets
    except ImportError:
        raise FGVCError("--android-assets: fgvc_mobile.export.android_assets is not available in this "
                        f"install; the artifacts are in {out}") from None
    tfl = [a for a in index["artifacts"] if a["format"] == "tflite"]
    if not tfl:
        echo(f"warning: --android-assets: no .tflite passed its gate; nothing copied to {assets_dir}")
        return
    pick = next((a for a in tfl if a["precision"] == "int8"), tfl[0])
    copy_android_assets(out / pick["model_file"], out / pick["manifest"], assets_dir)
    echo(f"copied {pick['model_file']} and its manifest to {assets_dir}")


def command_line() -> str:
    return " ".join(["fgvc-mobile", *sys.argv[1:]]) if sys.argv else ""
