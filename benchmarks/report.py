"""The versioned benchmark report: build, validate, save and load.

One JSON shape (``report.schema.json``) is shared by the host harness, the adb backend and
the Android app's benchmark mode, so every table and plot is drawn from the same fields.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from functools import lru_cache
from pathlib import Path

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.serialization import atomic_write_json

SCHEMA_VERSION = 1
KIND = "fgvc-mobile-bench"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")

#: every field a result row may carry, in the order tables show them
ROW_FIELDS = (
    "name", "artifact", "format", "precision", "method", "target", "runtime", "delegate", "threads",
    "batch", "input_size", "size_bytes", "params", "macs", "backbone_passes", "load_ms", "first_inference_ms",
    "warmup_runs", "runs", "latency_ms", "cpu_time_ms", "peak_rss_mb", "rss_delta_mb", "accuracy",
    "reference", "agreement_with_reference", "top1_delta_vs_reference", "compute", "skipped_reason", "notes",
)


@lru_cache(maxsize=1)
def report_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _where(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def validate_report(report, source: str = "report") -> dict:
    """Raise a one-line FGVCError naming ``source`` and the first offending field."""
    import jsonschema

    if not isinstance(report, dict):
        raise FGVCError(f"{source}: a benchmark report must be a JSON object, got {type(report).__name__}")
    if report.get("schema_version") not in (None, SCHEMA_VERSION) and report.get("kind") == KIND:
        raise FGVCError(
            f"{source}: report schema_version {report.get('schema_version')!r} is not supported "
            f"(this fgvc-mobile reads version {SCHEMA_VERSION})"
        )
    validator = jsonschema.Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        e = errors[0]
        msg = e.message.splitlines()[0][:200]
        raise FGVCError(f"{source}: invalid benchmark report at {_where(e.absolute_path)}: {msg}")
    return report


def new_report(machine: dict, results: list[dict] | None = None, **extra) -> dict:
    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "results": list(results or []),
    }
    report.update(extra)
    return report


def make_row(**fields) -> dict:
    """A result row with every known field present (None where not measured)."""
    unknown = set(fields) - set(ROW_FIELDS)
    if unknown:
        raise ValueError(f"unknown result fields {sorted(unknown)}")
    return {k: fields.get(k) for k in ROW_FIELDS}


def normalise_row(row: dict) -> dict:
    """Fill the fields an imported row (e.g. from the Android app) left out with None."""
    out = make_row(**{k: v for k, v in row.items() if k in ROW_FIELDS})
    out.update({k: v for k, v in row.items() if k not in ROW_FIELDS})
    return out


def save_report(report: dict, path: str | os.PathLike) -> Path:
    validate_report(report, str(path))
    atomic_write_json(path, report)
    return Path(path)


def load_report(path: str | os.PathLike) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FGVCError(f"{p}: no such report file")
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise FGVCError(f"{p}: not a UTF-8 JSON file") from None
    except json.JSONDecodeError as e:
        raise FGVCError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    validate_report(report, str(p))
    report["results"] = [normalise_row(r) for r in report["results"]]
    return report
