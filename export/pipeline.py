"""The export run: checkpoint -> deploy graph -> artifacts -> gates -> metadata, manifests, report.

Everything is written into a temporary folder beside ``--out`` and moved into ``--out`` only when
every artifact passed its gate, so a failed or interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import errno
import json
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
from fgvc_mobile.export.gate import judge
from fgvc_mobile.export.validate import DEFAULT_MAX_INT8_DROP, top1_accuracy
from fgvc_mobile.models.load import file_sha256, load_trained
from fgvc_mobile.serialization import atomic_write_json, atomic_write_text

log = logging.getLogger("fgvc_mobile.export")
# a converter writing into the staging folder on a full or read-only disk
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG)


@dataclass
class ExportRequest:
    checkpoint: str
    out: str
    format: str = "all"
    int8: bool = False
    calib_data: str | None = None
    calib_images: int | None = None
    val_data: str | None = None
    val_images: int | None = None
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
    artifacts: list[dict]  # index entries of manifest.json
    table: str


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


def run_export(req: ExportRequest, echo=print) -> ExportResult:
    t_start = time.perf_counter()
    formats, opts, out = _check_request(req)
    recover_interrupted_publish(out, echo)
    loaded = load_trained(req.checkpoint)
    model, meta, pre = loaded.model, loaded.meta, loaded.preprocess
    kind = input_kind(req.input)
    deploy = DeployModel(model, req.rule, input_size=pre.input_size)
    val = validation_set(_data_spec(req.val_data, meta, "--val-data"), meta["classes"], pre, req.val_images,
                         req.skip_bad)
    calib = calibration_set(_data_spec(req.calib_data, meta, "--calib-data"), meta["classes"], pre,
                            req.calib_images, req.skip_bad) if req.int8 else None
    for option, images in (("--val-data", val), ("--calib-data", calib)):
        if images is not None and images.skipped:
            echo(f"warning: {option}: skipped {len(images.skipped)} unreadable image(s) (--skip-bad), "
                 f"first {images.skipped[0]}")
    ref = reference_logits(deploy, val.images, pre)
    with torch.no_grad():
        trained = model.combine(model.forward_heads(to_float_nchw(val.images, pre)), deploy.rule).numpy()
    ref_top1 = top1_accuracy(ref, val.labels)
    summary = {
        "checkpoint": os.path.abspath(req.checkpoint), "sha256": meta["sha256"], "method": meta["method"],
        "rule": deploy.rule, "input": kind.name, "preprocess": pre.to_dict(), "val": val.describe(),
        "calib": calib.describe() if calib else None, "command": req.command or "(python API)",
        "complexity": complexity(model, deploy, pre.input_size), "rewrites": deploy.rewrites,
        "pipeline": pipeline_info(deploy),
        "deploy_equality": float(np.abs(trained - ref).max()) if len(ref) else 0.0,
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
        ctx = BuildContext(deploy, pre, kind, list(meta["classes"]), tmp, val, ref, calib)
        arts = []
        for fmt in formats:
            echo(f"converting {fmt} ...")
            arts += FORMATS[fmt].build(ctx, opts[fmt])
        verdicts = {a.file: judge(a.fmt, a.precision, a.gating(), ref_top1, req.max_int8_drop, req.accept_drop)
                    for a in arts}
        failed = [a for a in arts if not verdicts[a.file].passed]
        if failed:
            first = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            hint = " (--accept-drop keeps it anyway)" if first.int8 else ""
            raise FGVCError(f"export failed, nothing written to {out}: {first.file}: "
                            f"{verdicts[first.file].reason}{hint}{more}")
        index = _finish(tmp, arts, verdicts, meta, deploy, ref_top1, val)
        rows = table_rows(arts, verdicts, ref_top1, tmp)
        atomic_write_text(tmp / "validation_report.md", markdown(summary, arts, verdicts, rows) + "\n")
        _publish(tmp, out)
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
    echo(f"wrote {len(arts)} artifact(s), manifests and validation_report.md to {out} "
         f"in {time.perf_counter() - t_start:.0f} s")
    return ExportResult(out, rows, index["artifacts"], table)


def _finish(tmp: Path, arts, verdicts, meta: dict, deploy: DeployModel, ref_top1: float, val) -> dict:
    """Embed metadata (re-checking the files afterwards), write manifests, labels and the index."""
    mf.write_labels(tmp, list(meta["classes"]))
    entries = []
    for a in arts:
        ev, v = a.gating(), verdicts[a.file]
        validation = {
            "reference": "fp32 PyTorch deploy graph", "images": val.describe(), "reference_top1": ref_top1,
            "top1": ev.top1, "top1_drop": v.drop, "gate": {"on": a.gate, "passed": v.passed, "note": v.reason,
                                                           **v.tolerance},
            "evaluations": [e.to_dict() for e in a.evaluations], "host": host(),
        }
        manifest = mf.build_manifest(model_file=a.file, fmt=a.fmt, precision=a.precision, meta=meta, rule=deploy.rule,
                                     input_info=a.input, output_info=a.output, validation=validation,
                                     extra={"notes": a.notes, "pipeline": pipeline_info(deploy)})
        before = a.rerun() if a.rerun else None
        a.embed(entries_for(manifest))
        if before is not None and not np.array_equal(before, a.rerun()):
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
    atomic_write_json(tmp / mf.INDEX_NAME, index)
    return index


def _umask_permissions(root: Path) -> None:
    """Temp files are created private (0600/0700); published files get the user's usual modes."""
    mask = os.umask(0)
    os.umask(mask)
    for p in [root, *root.rglob("*")]:
        with contextlib.suppress(OSError):
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


#: in a publish's ``.previous-*`` folder: one JSON line per file about to be swapped, written before
#: the swap, so that a publish killed half-way (SIGKILL, power loss) can be undone by the next export
JOURNAL_NAME = "journal.jsonl"
ASIDE_PREFIX = ".previous-"


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished files into ``out`` (the index last); a fresh ``out`` is one rename.

    Into an existing ``out`` each file is swapped in while the file it replaces is kept aside;
    if any move fails (read-only folder, a folder where a file should go, ...) every swap is
    undone, so ``out`` holds either the whole new export or exactly what it held before. Each
    swap is journalled first: if the process dies between swaps, ``recover_interrupted_publish``
    (run by the next export into ``out``) puts the previous export back.
    """
    _umask_permissions(tmp)
    try:
        if not out.exists():
            os.replace(tmp, out)
            return
        aside = Path(tempfile.mkdtemp(prefix=ASIDE_PREFIX, dir=out))
        journal = open(aside / JOURNAL_NAME, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as e:
        raise FGVCError(f"--out {out}: cannot publish the export ({e.strerror or e}); nothing in it changed") from None
    done: list[tuple[Path, Path | None]] = []  # (destination, its previous version kept aside)
    try:
        with journal:
            for entry in sorted(tmp.iterdir(), key=lambda p: p.name == mf.INDEX_NAME):
                dest = out / entry.name
                had = dest.exists() or dest.is_symlink()
                journal.write(json.dumps({"name": entry.name, "kept": had}) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
                kept = aside / entry.name if had else None
                if kept is not None:
                    os.replace(dest, kept)
                done.append((dest, kept))
                os.replace(entry, dest)
    except OSError as e:
        for dest, kept in reversed(done):
            _undo_swap(dest, kept)
        _remove_aside(aside)
        raise FGVCError(f"--out {out}: cannot publish the export ({e.strerror or e}); its previous files are "
                        "intact") from None
    shutil.rmtree(aside, ignore_errors=True)
    with contextlib.suppress(OSError):
        tmp.rmdir()


def _undo_swap(dest: Path, kept: Path | None) -> None:
    """Remove the new ``dest`` and move its previous version ``kept`` (if any) back."""
    with contextlib.suppress(OSError):
        if dest.exists() and not dest.is_symlink() and dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        if kept is not None:
            os.replace(kept, dest)


def _remove_aside(aside: Path) -> None:
    """Drop the journal and the (then empty) aside folder; anything still kept there stays."""
    with contextlib.suppress(OSError):
        (aside / JOURNAL_NAME).unlink()
    with contextlib.suppress(OSError):
        aside.rmdir()  # only when everything went back


def recover_interrupted_publish(out: Path, echo=print) -> int:
    """Undo publishes into ``out`` that died between swaps; returns how many were undone.

    Per journal line: a file that existed before is restored if its old version is still aside
    (else the swap had not started and ``out`` still holds it); a file that did not exist is
    removed. The result is exactly the export ``out`` held before the interrupted publish.
    """
    if not out.is_dir():
        return 0
    undone = 0
    for aside in sorted(out.glob(ASIDE_PREFIX + "*")):
        journal = aside / JOURNAL_NAME
        if not aside.is_dir() or not journal.is_file():
            continue
        entries = []
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by the kill: its swap never started
        for e in reversed(entries):
            name = Path(e["name"]).name  # a plain file name; never a path out of ``out``
            kept = aside / name
            if e["kept"] and not (kept.exists() or kept.is_symlink()):
                continue  # killed before the old file was moved aside: out still holds it
            _undo_swap(out / name, kept if e["kept"] else None)
        _remove_aside(aside)
        if aside.exists():
            raise FGVCError(f"--out {out}: an interrupted export left {aside} that could not be undone; "
                            "move its files back into the folder by hand")
        undone += 1
        echo(f"warning: --out {out}: an earlier export was interrupted while publishing; its previous files "
             "were put back")
    return undone


def _android_assets(out: Path, index: dict, assets_dir: str, echo) -> None:
    try:
        from fgvc_mobile.export.android_assets import copy_android_assets
    except ImportError:
        raise FGVCError("--android-assets: fgvc_mobile.export.android_assets is not available in this "
                        f"install; the artifacts are in {out}") from None
    tfl = [a for a in index["artifacts"] if a["format"] == "tflite"]
    pick = next((a for a in tfl if a["precision"] == "int8"), tfl[0])
    copy_android_assets(out / pick["model_file"], out / pick["manifest"], assets_dir)
    echo(f"copied {pick['model_file']} and its manifest to {assets_dir}")


def command_line() -> str:
    return " ".join(["fgvc-mobile", *sys.argv[1:]]) if sys.argv else ""
