"""Metadata inside every artifact: the manifest (labels, preprocessing, method, source hash,
validation figures) travels with the model file, not only beside it.

Keys: ``fgvc_mobile.manifest`` (JSON) and ``fgvc_mobile.labels`` (one label per line). How a
format stores them is its module's business (ONNX ``metadata_props``, TFLite named metadata
buffers next to the standard TFLite Model Metadata, CoreML ``user_defined_metadata``); reading
them back from any artifact is ``formats.read_metadata``.
"""

from __future__ import annotations

import json
import os

from fgvc_mobile.errors import FGVCError

MANIFEST_KEY = "fgvc_mobile.manifest"
LABELS_KEY = "fgvc_mobile.labels"


def entries_for(manifest: dict) -> dict[str, str]:
    """The metadata entries written into an artifact for ``manifest``."""
    return {
        MANIFEST_KEY: json.dumps(manifest, sort_keys=True, separators=(",", ":")),
        LABELS_KEY: "\n".join(manifest["labels"]) + "\n",
    }


def manifest_from_entries(entries: dict[str, str], where: str) -> dict:
    if MANIFEST_KEY not in entries:
        raise FGVCError(f"{where}: no {MANIFEST_KEY} metadata in the artifact")
    try:
        return json.loads(entries[MANIFEST_KEY])
    except json.JSONDecodeError as e:
        raise FGVCError(f"{where}: {MANIFEST_KEY} metadata is not valid JSON ({e.msg})") from None
