"""Find the artifacts to benchmark: every manifest in a folder, each naming its model file.

A manifest JSON is either one manifest object (``<name>.manifest.json`` beside
``<name>.<ext>``) or ``{"artifacts": [manifest, ...]}`` (a combined ``manifest.json``); both
are read, checked against ``export/manifest.schema.json`` and de-duplicated by model file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.manifest import read_json, validate_manifest
from fgvc_mobile.export.report import size_bytes


@dataclass
class Artifact:
    """One exported model file and the manifest that says how to feed it."""

    name: str
    path: Path
    manifest: dict
    manifest_path: Path
    checkpoint: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @property
    def size_bytes(self) -> int:
        return size_bytes(self.path)  # .mlpackage bundles are folders

    @property
    def source(self) -> dict:
        return self.manifest.get("source") or {}

    def params(self) -> int | None:
        """Stored weights: the manifest's ``source.params``, else counted from ONNX initializers."""
        if self.source.get("params") is not None:
            return int(self.source["params"])
        if self.format == "onnx":
            try:
                import onnx

                graph = onnx.load(str(self.path), load_external_data=False).graph
                return sum(math.prod(t.dims) for t in graph.initializer)
            except Exception:  # an unreadable graph fails later with a clearer message
                return None
        return None


def manifests_in(path: Path) -> list[tuple[dict, Path, str]]:
    """(manifest, manifest file, where-string) for each manifest object in one JSON file."""
    data = read_json(path)
    if isinstance(data, dict) and "artifacts" in data and "model_file" not in data:
        items = data["artifacts"]
        if not isinstance(items, list) or not items:
            raise FGVCError(f"{path}: 'artifacts' must be a non-empty list of manifests")
        return [(m, path, f"{path} artifacts[{i}]") for i, m in enumerate(items)]
    return [(data, path, str(path))]


def _resolve_checkpoint(ckpt, base: Path) -> str | None:
    if not ckpt:
        return None
    p = Path(ckpt)
    for cand in ((base / p) if not p.is_absolute() else p, p):
        if cand.exists():
            return str(cand.resolve())
    return str(ckpt)


def discover(artifacts: str | os.PathLike) -> list[Artifact]:
    """All artifacts under ``artifacts`` (a folder, searched recursively, or one manifest file)."""
    root = Path(artifacts)
    if not root.exists():
        raise FGVCError(f"--artifacts {root}: no such folder")
    if root.is_file():
        files = [root]
        root = root.parent
    else:
        files = sorted(set(root.rglob("*.manifest.json")) | set(root.rglob("manifest.json")))
    found: dict[Path, Artifact] = {}
    for mf in files:
        for m, mpath, where in manifests_in(mf):
            validate_manifest(m, where)
            model = Path(m["model_file"])
            model = model if model.is_absolute() else (mpath.parent / model)
            if not model.exists():
                raise FGVCError(f"{where}: model_file {m['model_file']!r} not found at {model}")
            key = model.resolve()
            if key in found:
                continue
            try:
                name = key.relative_to(root.resolve()).as_posix()
            except ValueError:
                name = model.name
            ckpt = _resolve_checkpoint((m.get("source") or {}).get("checkpoint"), mpath.parent)
            found[key] = Artifact(name, model, m, mpath, ckpt)
    if not found:
        raise FGVCError(f"--artifacts {artifacts}: no artifact manifests (*.manifest.json or manifest.json) found")
    return sorted(found.values(), key=lambda a: a.name)

