"""Metadata inside a .tflite: our named entries and the standard TFLite Model Metadata.

Our entries (the manifest and labels, :mod:`fgvc_mobile.export.metadata`) are named metadata
buffers in the flatbuffer (``Model.metadata`` -> ``Model.buffers``), written with the LiteRT
flatbuffer schema that ships with ``ai_edge_litert`` (no TensorFlow). Beside them goes the
standard ``TFLITE_METADATA`` table (the TFLite Support schema), with ``labels.txt`` packed after
the flatbuffer.

What MediaPipe Tasks (``ImageClassifier``) and the LiteRT Support Library read from a model:
the input's image properties (RGB, default size) and normalisation (mean/std in pixel units),
value ranges, the output as class scores in 0..1 with the labels as an associated file
(``labels.txt``, type ``TENSOR_AXIS_LABELS``) packed in a zip archive appended to the flatbuffer.

The table is written directly with ``flatbuffers.Builder``, slot by slot, following
``metadata_schema.fbs`` (schema 1.5.0; this subset needs parser 1.0.0). Neither TensorFlow nor
``tflite-support`` nor ``mediapipe`` is needed to write it; the tests read it back with
MediaPipe's generated schema classes and run MediaPipe's ``ImageClassifier`` on the artifact.

Normalisation as MediaPipe applies it: ``float_input = (pixel - mean) / std`` per channel.
* ``uint8`` input with normalisation in the graph: the raw pixels go in (mean 0, std 1); the
  graph applies the training mean/std itself.
* ``float32`` input without it: mean = 255 * preprocess.mean, std = 255 * preprocess.std, which
  is exactly ``(pixel / 255 - mean) / std``. (An NCHW float input cannot be fed by MediaPipe,
  whose image input is NHWC; its metadata is still exact for other readers.)
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from fgvc_mobile.export.metadata import MANIFEST_KEY

METADATA_NAME = "TFLITE_METADATA"  # the Model.metadata entry MediaPipe and the Support Library look for
FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # no field of this subset was added after schema 1.0.0
LABELS_FILE = "labels.txt"

# enums and union tags of metadata_schema.fbs
_TENSOR_AXIS_LABELS = 2
_RGB = 1
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2
_NORMALIZATION_OPTIONS = 1


def normalization(manifest: dict) -> tuple[list[float], list[float]]:
    """(mean, std) in pixel units such that the model input is (pixel - mean) / std."""
    inp, pre = manifest["input"], manifest["preprocess"]
    if inp["normalization_in_graph"]:
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    return [255.0 * m for m in pre["mean"]], [255.0 * s for s in pre["std"]]


class _Writer:
    def __init__(self):
        import flatbuffers

        self.b = flatbuffers.Builder(1024)

    def string(self, s: str) -> int:
        return self.b.CreateString(s)

    def floats(self, values) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype=np.float32))

    def offsets(self, offs: list[int]) -> int:
        self.b.StartVector(4, len(offs), 4)
        for o in reversed(offs):
            self.b.PrependUOffsetTRelative(o)
        return self.b.EndVector()

    def table(self, n_slots: int, offsets: dict[int, int] = (), bytes_: dict[int, int] = (),
              uints: dict[int, int] = ()) -> int:
        """A table: ``offsets`` slot -> offset of a string/vector/table, ``bytes_`` / ``uints`` scalars."""
        b = self.b
        b.StartObject(n_slots)
        for slot, off in dict(offsets).items():
            b.PrependUOffsetTRelativeSlot(slot, off, 0)
        for slot, v in dict(uints).items():
            b.PrependUint32Slot(slot, v, 0)
        for slot, v in dict(bytes_).items():
            b.PrependInt8Slot(slot, v, 0)
        return b.EndObject()


def metadata_buffer(manifest: dict) -> bytes:
    """The ``TFLITE_METADATA`` flatbuffer for an image classifier described by ``manifest``."""
    w = _Writer()
    inp, out, labels = manifest["input"], manifest["output"], manifest["labels"]
    h, wd = (inp["shape"][1], inp["shape"][2]) if inp["layout"] == "NHWC" else (inp["shape"][2], inp["shape"][3])
    mean, std = normalization(manifest)
    lo = [(0.0 - m) / s for m, s in zip(mean, std)]
    hi = [(255.0 - m) / s for m, s in zip(mean, std)]

    # input: image properties, normalisation, value range after normalisation
    size = w.table(2, uints={0: wd, 1: h})
    image_props = w.table(2, offsets={1: size}, bytes_={0: _RGB})
    in_content = w.table(3, offsets={1: image_props}, bytes_={0: _IMAGE_PROPERTIES})
    norm = w.table(2, offsets={0: w.floats(mean), 1: w.floats(std)})
    unit = w.table(2, offsets={1: norm}, bytes_={0: _NORMALIZATION_OPTIONS})
    in_stats = w.table(2, offsets={0: w.floats(hi), 1: w.floats(lo)})
    pre = manifest["preprocess"]
    in_desc = (f"RGB image {wd}x{h} ({inp['dtype']}, {inp['layout']}): resize the short side to {pre['resize']} "
               f"({pre['interpolation']}) and centre-crop {pre['input_size']}; "
               + ("raw 0..255 pixels, the graph applies the training mean/std" if inp["normalization_in_graph"]
                  else "normalised as (pixel - mean) / std"))
    in_meta = w.table(7, offsets={0: w.string("image"), 1: w.string(in_desc), 3: in_content,
                                  4: w.offsets([unit]), 5: in_stats})

    # output: class probabilities (softmax in the graph) with the labels file
    labels_file = w.table(5, offsets={0: w.string(LABELS_FILE), 1: w.string(f"{len(labels)} class labels")},
                          bytes_={2: _TENSOR_AXIS_LABELS})
    feat = w.table(0)
    out_content = w.table(3, offsets={1: feat}, bytes_={0: _FEATURE_PROPERTIES})
    out_stats = w.table(2, offsets={0: w.floats([1.0]), 1: w.floats([0.0])})
    out_desc = f"softmax probabilities of the {len(labels)} classes ({out['dtype']})"
    out_meta = w.table(7, offsets={0: w.string("probability"), 1: w.string(out_desc), 3: out_content,
                                   5: out_stats, 6: w.offsets([labels_file])})

    sub = w.table(10, offsets={2: w.offsets([in_meta]), 3: w.offsets([out_meta])})
    name = f"fgvc-mobile {manifest['method']} ({manifest['inference_rule']}) {manifest['precision']}"
    desc = (f"Fine-grained image classifier ({len(labels)} classes), MobileNetV2 {manifest['method']}. "
            "Full fgvc-mobile manifest in the fgvc_mobile.manifest metadata entry.")
    version = str(manifest.get("source", {}).get("fgvc_mobile_version", ""))
    root = w.table(8, offsets={0: w.string(name), 1: w.string(desc), 2: w.string(version),
                               3: w.offsets([sub]), 4: w.string("fgvc-mobile"), 7: w.string(MIN_PARSER_VERSION)})
    w.b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(w.b.Output())


def append_associated_files(model: bytes, files: dict[str, bytes]) -> bytes:
    """``model`` followed by a zip of ``files`` (stored, offsets absolute), as the Support Library packs them."""
    buf = io.BytesIO(model)
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_STORED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
            z.writestr(info, data)
    return buf.getvalue()


def associated_files(model: bytes) -> dict[str, bytes]:
    """The files packed after the flatbuffer ({} if none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as z:
            return {n: z.read(n) for n in z.namelist()}
    except zipfile.BadZipFile:
        return {}


def labels_bytes(labels: list[str]) -> bytes:
    return ("\n".join(labels) + "\n").encode("utf-8")


# ---- our named entries -----------------------------------------------------------------------


def add_entries(model_bytes: bytes, entries: dict[str, str | bytes]) -> bytes:
    """A copy of the flatbuffer with ``entries`` as named metadata buffers (replacing same names).

    Anything packed after the flatbuffer (associated files) is dropped: append it afterwards.
    """
    import flatbuffers
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


def add_standard_metadata(model_bytes: bytes, entries: dict[str, str]) -> bytes:
    """Our entries plus the standard ``TFLITE_METADATA`` table and its ``labels.txt``, from the manifest entry."""
    manifest = json.loads(entries[MANIFEST_KEY])
    model = add_entries(model_bytes, {**entries, METADATA_NAME: metadata_buffer(manifest)})
    return append_associated_files(model, {LABELS_FILE: labels_bytes(manifest["labels"])})


def _buffers(source: str | os.PathLike | bytes):
    """(name, raw metadata buffer or None) of a .tflite (path or bytes)."""
    from ai_edge_litert import schema_py_generated as fb

    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    model = fb.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        buf = model.Buffers(m.Buffer())
        raw = buf.DataAsNumpy() if buf is not None and not buf.DataIsNone() else None
        yield m.Name().decode("utf-8", "replace"), (raw.tobytes() if isinstance(raw, np.ndarray) else None)


def read_entries(source: str | os.PathLike | bytes) -> dict[str, str]:
    """Named metadata buffers that decode as UTF-8 text (the binary ``TFLITE_METADATA`` left out)."""
    out = {}
    for name, raw in _buffers(source):
        if name != METADATA_NAME and raw is not None:
            try:
                out[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary metadata of the converter (e.g. min_runtime_version is text, others not)
    return out


def read_standard(source: str | os.PathLike | bytes) -> bytes | None:
    """The raw ``TFLITE_METADATA`` flatbuffer of a .tflite, or None."""
    return next((raw for name, raw in _buffers(source) if name == METADATA_NAME), None)
