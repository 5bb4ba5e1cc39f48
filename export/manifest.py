"""Manifests (export/manifest.schema.json, v1): how to feed an artifact and read its output.

Every artifact gets ``<stem>.manifest.json`` beside it; ``manifest.json`` in the output folder
lists all artifacts. The benchmark harness and the Android app read these, so every manifest
is validated against the schema before it is written.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from fgvc_mobile import __version__
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.serialization import atomic_write_text

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
INDEX_NAME = "manifest.json"
LABELS_NAME = "labels.txt"


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_manifest(manifest, where: str = "manifest") -> dict:
    """Raise a one-line FGVCError naming the shallowest schema violation (or self-contradiction);
    return the manifest. The one check the exporter, ``predict``, the harness and the app step run."""
    import jsonschema

    if not isinstance(manifest, dict):
        raise FGVCError(f"{where}: a manifest must be a JSON object")
    errors = list(jsonschema.Draft202012Validator(load_schema()).iter_errors(manifest))
    if errors:
        e = min(errors, key=lambda e: len(e.absolute_path))
        at = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise FGVCError(f"{where}: invalid manifest at {at}: {e.message.splitlines()[0][:200]}")
    from fgvc_mobile.export.manifest_checks import check_manifest

    return check_manifest(manifest, where)  # fields that contradict each other


def source_info(meta: dict) -> dict:
    """Where an artifact came from: the checkpoint (absolute path, sha256) and this toolkit's version."""
    return {
        "checkpoint": os.path.abspath(meta["path"]),
        "checkpoint_sha256": meta["sha256"],
        "fgvc_mobile_version": __version__,
        "method": meta["method"],
        "model_kwargs": meta.get("model_kwargs", {}),
        "data_spec": (meta.get("data") or {}).get("spec"),
        "epoch": meta.get("epoch"),
        **({"qat": meta["qat"]} if meta.get("qat") else {}),  # weights fine-tuned with fake-quant (train/qat.py)
    }


def build_manifest(
    *,
    model_file: str,
    fmt: str,
    precision: str,
    meta: dict,
    rule: str,
    input_info: dict,
    output_info: dict,
    validation: dict | None = None,
    extra: dict | None = None,
    cost: dict | None = None,
) -> dict:
    """One artifact's manifest (validated). ``input_info``/``output_info`` follow the schema; ``cost``
    (the deploy graph's ``params`` and ``macs`` at batch 1) goes into ``source``, where ``bench`` reads
    the MACs it divides by the latency."""
    m = {
        "schema_version": SCHEMA_VERSION,
        "model_file": model_file,
        "format": fmt,
        "precision": precision,
        "method": meta["method"],
        "inference_rule": rule,
        "labels": list(meta["classes"]),
        "labels_file": LABELS_NAME,
        "input": {"color": "RGB", **input_info},
        "output": output_info,
        "preprocess": dict(meta["preprocess"]),
        "source": {**source_info(meta), **(cost or {})},
    }
    if validation is not None:
        m["validation"] = validation
    if extra:
        m.update(extra)
    return validate_manifest(m, f"{model_file} manifest")


def manifest_name(model_file: str) -> str:
    """``model_int8.tflite`` -> ``model_int8.tflite.manifest.json``.

    The full file name, not the stem: ``model_fp32.onnx`` and ``model_fp32.tflite`` share a stem.
    """
    return f"{Path(model_file).name}.manifest.json"


def write_manifest(folder: str | os.PathLike, manifest: dict) -> Path:
    path = Path(folder) / manifest_name(manifest["model_file"])
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return path


def write_labels(folder: str | os.PathLike, labels: list[str]) -> Path:
    bad = [lab for lab in labels if "\n" in lab or "\r" in lab]
    if bad:
        raise FGVCError(f"class name {bad[0]!r} contains a line break; labels.txt needs one label per line")
    path = Path(folder) / LABELS_NAME
    atomic_write_text(path, "".join(f"{lab}\n" for lab in labels))
    return path


def index_manifest(entries: list[dict]) -> dict:
    """``manifest.json``: ``{"artifacts": [full manifest + manifest file, size, sha256], ...}``.

    Each entry is a complete (schema-valid) manifest, so a reader needs only this one file.
    """
    for e in entries:
        validate_manifest(e, f"{INDEX_NAME} entry {e.get('model_file')}")
    return {"schema_version": SCHEMA_VERSION, "fgvc_mobile_version": __version__, "artifacts": entries}


def read_manifest_for(artifact: str | os.PathLike) -> dict:
    """The manifest beside ``artifact``: ``<stem>.manifest.json``, else its entry in ``manifest.json``."""
    art = Path(artifact)
    own = art.parent / manifest_name(art.name)
    for cand in (own, art.parent / f"{art.stem}.manifest.json"):
        if cand.is_file():
            m = read_json(cand)
            if m.get("model_file") == art.name:
                return validate_manifest(m, str(cand))
    index = art.parent / INDEX_NAME
    if index.is_file():
        for entry in read_json(index).get("artifacts", []):
            if isinstance(entry, dict) and entry.get("model_file") == art.name:
                return validate_manifest(entry, f"{index} entry {art.name}")
    raise FGVCError(f"{art}: no manifest beside it (expected {own.name} or an entry in {INDEX_NAME})")


def read_json(path: str | os.PathLike) -> dict:
    """A manifest file (or an export folder's index) as a JSON object, or a one-line FGVCError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FGVCError(f"{path}: no such manifest file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FGVCError(f"{path}: not valid JSON ({e.__class__.__name__}: {str(e).splitlines()[0][:120]})") from None
    except OSError as e:
        raise FGVCError(f"{path}: unreadable manifest ({e.strerror or e})") from None
    if not isinstance(data, dict):
        raise FGVCError(f"{path}: a manifest must be a JSON object")
    return data
