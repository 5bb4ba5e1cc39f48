"""Metadata inside every artifact: the manifest (labels, preprocessing, method, source hash,
validation figures) travels with the model file, not only beside it.

* ONNX: ``metadata_props`` key/value strings.
* TFLite: named metadata buffers in the flatbuffer (``Model.metadata`` -> ``Model.buffers``),
  written with the LiteRT flatbuffer schema that ships with ``ai_edge_litert`` (no TensorFlow),
  next to the standard TFLite Model Metadata (``TFLITE_METADATA``, with ``labels.txt`` packed
  after the flatbuffer) that MediaPipe Tasks and the LiteRT Support Library read
  (:mod:`fgvc_mobile.export.tflite_metadata`, written without TensorFlow or tflite-support).
* CoreML: ``user_defined_metadata`` in the model spec.

Keys: ``fgvc_mobile.manifest`` (JSON) and ``fgvc_mobile.labels`` (one label per line).
"""

from __future__ import annotations

import json
import os

import flatbuffers
import numpy as np

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


# ---- ONNX --------------------------------------------------------------------------------------


def set_onnx_metadata(model_proto, entries: dict[str, str]) -> None:
    """Replace our keys in ``model_proto.metadata_props`` (other keys are kept)."""
    keep = [(p.key, p.value) for p in model_proto.metadata_props if p.key not in entries]
    del model_proto.metadata_props[:]
    for k, v in keep + list(entries.items()):
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = k, v


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


# ---- TFLite ------------------------------------------------------------------------------------


def add_tflite_metadata(model_bytes: bytes, entries: dict[str, str | bytes]) -> bytes:
    """A copy of the flatbuffer with ``entries`` as named metadata buffers (replacing same names).

    Anything packed after the flatbuffer (associated files) is dropped: append it afterwards.
    """
    from ai_edge_litert import schema_py_generated as fb

    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    raw = memoryview(model_bytes)
    for b in model.buffers or []:
        if b.offset > 1:  # weights appended after the flatbuffer (ai_edge_quantizer does this): inline them
            b.data = np.frombuffer(raw[b.offset : b.offset + b.size], dtype=np.uint8).copy()
            b.offset, b.size = 0, 0
    model.metadata = [m for m in (model.metadata or []) if m.name not in entries]
    for name, text in entries.items():
        buf = fb.BufferT()
        raw_entry = text if isinstance(text, bytes) else text.encode("utf-8")
        buf.data = np.frombuffer(raw_entry, dtype=np.uint8)
        model.buffers.append(buf)
        meta = fb.MetadataT()
        meta.name, meta.buffer = name, len(model.buffers) - 1
        model.metadata.append(meta)
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def add_tflite_standard_metadata(model_bytes: bytes, entries: dict[str, str]) -> bytes:
    """Our entries plus the standard ``TFLITE_METADATA`` table and its ``labels.txt``, from the manifest entry."""
    from fgvc_mobile.export import tflite_metadata as tm

    manifest = json.loads(entries[MANIFEST_KEY])
    model = add_tflite_metadata(model_bytes, {**entries, tm.METADATA_NAME: tm.metadata_buffer(manifest)})
    return tm.append_associated_files(model, {tm.LABELS_FILE: tm.labels_bytes(manifest["labels"])})


def read_tflite_metadata(source: str | os.PathLike | bytes) -> dict[str, str]:
    """Named metadata buffers of a .tflite (path or bytes) that decode as UTF-8 text.

    The binary ``TFLITE_METADATA`` table is left out (:func:`read_tflite_standard_metadata`).
    """
    from ai_edge_litert import schema_py_generated as fb

    data = source if isinstance(source, (bytes, bytearray)) else open(source, "rb").read()
    model = fb.Model.GetRootAs(data, 0)
    out = {}
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if m.Name() == b"TFLITE_METADATA":
            continue
        buf = model.Buffers(m.Buffer())
        raw = buf.DataAsNumpy() if buf is not None and not buf.DataIsNone() else None
        if isinstance(raw, np.ndarray):
            try:
                out[m.Name().decode("utf-8")] = raw.tobytes().decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary metadata of the converter (e.g. min_runtime_version is text, others not)
    return out


def read_tflite_standard_metadata(source: str | os.PathLike | bytes) -> bytes | None:
    """The raw ``TFLITE_METADATA`` flatbuffer of a .tflite, or None."""
    from ai_edge_litert import schema_py_generated as fb

    data = source if isinstance(source, (bytes, bytearray)) else open(source, "rb").read()
    model = fb.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if m.Name() == b"TFLITE_METADATA":
            return model.Buffers(m.Buffer()).DataAsNumpy().tobytes()
    return None


# ---- CoreML ------------------------------------------------------------------------------------


def set_coreml_metadata(mlmodel, entries: dict[str, str], short_description: str = "") -> None:
    for k, v in entries.items():
        mlmodel.user_defined_metadata[k] = v
    if short_description:
        mlmodel.short_description = short_description


def read_coreml_metadata(path: str | os.PathLike) -> dict[str, str]:
    import coremltools as ct

    spec = ct.utils.load_spec(os.fspath(path))
    return dict(spec.description.metadata.userDefined)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Metadata entries of any artifact, by its suffix."""
    p = os.fspath(path)
    if p.endswith(".onnx"):
        return read_onnx_metadata(p)
    if p.endswith(".tflite"):
        return read_tflite_metadata(p)
    if p.endswith(".mlpackage") or p.endswith(".mlmodel"):
        return read_coreml_metadata(p)
    raise FGVCError(f"{p}: unknown artifact type (expected .onnx, .tflite or .mlpackage)")
