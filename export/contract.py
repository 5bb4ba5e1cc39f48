"""The artifact contract: what an artifact takes and what it gives, and the one way to feed and read it.

Every consumer of an artifact -- the export's validator, ``predict``, the bench harness, the
Android test vectors and golden files -- starts from decoded uint8 RGB crops (N, H, W, 3) and
calls :meth:`Contract.prepare`; every raw output goes through :meth:`Contract.decode`. The
arithmetic is the app's (android_demo/core), so Python and the phone agree byte for byte:

* float input: ``(pixel * float32(1/255) - mean) / std`` in float32 (the training eval transform's
  ToDtype + Normalize; the app's ``pixel / 255f`` differs by at most one ulp), or the raw
  0..255 pixels when the graph normalises itself (``normalization_in_graph``);
* integer input: uint8 raw pixels, or ``clip(rint(float32(v) / float32(scale)) + zero_point)``
  of that float value when the input is quantized (round half to even);
* output: ``(q - zero_point) * float32(scale)`` in float64 for integer outputs (exact, as the app
  computes it), floats widened; ``kind`` says whether the values are logits or probabilities.

A contract is read from a manifest (:meth:`Contract.from_manifest`) and reconciled with what the
loaded model reports about itself (:meth:`Contract.with_model`): its dtype must agree, its
quantization parameters win, since they are what the model applies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError

INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127)}
FLOAT_DTYPES = ("float32", "float16")
LAYOUTS = ("NHWC", "NCHW")
OUTPUT_KINDS = ("logits", "probabilities")
_PREPROCESS_KEYS = ("input_size", "resize", "mean", "std", "interpolation", "channel_order", "hflip", "extra")


def _err(where: str, msg: str) -> FGVCError:
    return FGVCError(f"{where}: {msg}" if where else msg)


@dataclass(frozen=True)
class Quant:
    """Affine int8/uint8 quantization: real = (q - zero_point) * scale."""

    scale: float
    zero_point: int

    @classmethod
    def parse(cls, q) -> Quant | None:
        """From a manifest dict, a LiteRT ``(scale, zero_point)`` tuple, or None; scale 0 means none."""
        if q is None or isinstance(q, Quant):
            return q
        scale, zp = (q.get("scale"), q.get("zero_point")) if isinstance(q, dict) else (q[0], q[1])
        if scale is None or float(scale) == 0.0:
            return None
        return cls(float(scale), int(zp))

    def to_dict(self) -> dict:
        return {"scale": self.scale, "zero_point": self.zero_point}


def preprocess_of(manifest: dict) -> PreprocessConfig:
    """The manifest's ``preprocess`` block as a config (keys the config does not know are ignored)."""
    return PreprocessConfig.from_dict({k: v for k, v in manifest["preprocess"].items() if k in _PREPROCESS_KEYS})


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 NCHW ``(x / 255 - mean) / std``, bit for bit the training eval transform
    (torchvision v2 ``ToDtype(float32, scale=True)`` multiplies by float32(1/255), then ``Normalize``)."""
    x = np.ascontiguousarray(images).astype(np.float32).transpose(0, 3, 1, 2) * np.float32(1.0 / 255.0)
    return (x - np.asarray(mean, np.float32).reshape(1, 3, 1, 1)) / np.asarray(std, np.float32).reshape(1, 3, 1, 1)


def to_float_nchw(images: np.ndarray, pre: PreprocessConfig):
    """The PyTorch model's input for uint8 NHWC ``images``: normalised float NCHW as a tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(normalize(images, pre.mean, pre.std)))


def quantize(values: np.ndarray, quant: Quant, dtype: str) -> np.ndarray:
    """Float values -> integers as the app quantizes them: rint(v / scale) + zero_point, clamped."""
    lo, hi = INT_RANGES[dtype]
    q = np.rint(np.asarray(values, np.float32) / np.float32(quant.scale)).astype(np.int64) + quant.zero_point
    return np.clip(q, lo, hi).astype(dtype)


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Contract:
    """An artifact's input (layout, dtype, normalisation, quantization, size) and output (kind, quantization)."""

    layout: str  # NHWC | NCHW
    dtype: str  # uint8 | int8 | float32 | float16
    normalization_in_graph: bool  # True: raw 0..255 pixels go in, the graph applies mean/std
    pre: PreprocessConfig  # input size, resize rule, mean/std: the one preprocessing config
    input_quant: Quant | None = None
    output_kind: str = "logits"  # logits | probabilities
    output_quant: Quant | None = None

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise FGVCError(f"unsupported input layout {self.layout!r} (expected {' or '.join(LAYOUTS)})")
        if self.dtype not in FLOAT_DTYPES and self.dtype not in INT_RANGES:
            raise FGVCError(f"unsupported input dtype {self.dtype!r}")
        if self.output_kind not in OUTPUT_KINDS:
            raise FGVCError(f"unsupported output kind {self.output_kind!r} (expected {' or '.join(OUTPUT_KINDS)})")

    @classmethod
    def from_manifest(cls, m: dict) -> Contract:
        inp, out = m["input"], m.get("output") or {}
        return cls(inp["layout"], inp["dtype"], bool(inp["normalization_in_graph"]), preprocess_of(m),
                   Quant.parse(inp.get("quantization")), out.get("kind", "logits"), Quant.parse(out.get("quantization")))

    @classmethod
    def reference(cls, pre: PreprocessConfig) -> Contract:
        """The PyTorch model's own contract: normalised float32 NCHW in, logits out."""
        return cls("NCHW", "float32", False, pre)

    @property
    def size(self) -> int:
        return self.pre.input_size

    def shape(self, n: int = 1) -> list[int]:
        s = self.size
        return [n, s, s, 3] if self.layout == "NHWC" else [n, 3, s, s]

    def with_model(self, dtype: str | None = None, input_quant=None, output_quant=None, where: str = "") -> Contract:
        """Reconcile with what the loaded model reports: its dtype must agree, its quant params win."""
        if dtype is not None and dtype != self.dtype:
            raise _err(where, f"the manifest says input dtype {self.dtype} but the model takes {dtype}; "
                       "re-export the artifact or fix its manifest")
        iq, oq = Quant.parse(input_quant), Quant.parse(output_quant)
        return replace(self, input_quant=iq or self.input_quant, output_quant=oq or self.output_quant)

    def prepare(self, images: np.ndarray, where: str = "") -> np.ndarray:
        """uint8 (N, H, W, 3) crops -> exactly the tensor the artifact takes (layout, dtype, quantization)."""
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 (N, H, W, 3) images, got {images.dtype} {images.shape}")
        if images.shape[1] != self.size or images.shape[2] != self.size:
            raise _err(where, f"images are {images.shape[1]}x{images.shape[2]} but the model takes {self.size}")
        q, raw = self.input_quant, self.normalization_in_graph
        if self.dtype in INT_RANGES and (q is None or raw and q == Quant(1.0, 0)):
            if self.dtype != "uint8" or not raw:
                raise _err(where, f"{self.dtype} input without quantization params needs "
                           "normalization_in_graph=true (raw 0..255 RGB)")
            return np.ascontiguousarray(images if self.layout == "NHWC" else images.transpose(0, 3, 1, 2))
        x = images.astype(np.float32).transpose(0, 3, 1, 2) if raw else normalize(images, self.pre.mean, self.pre.std)
        x = quantize(x, q, self.dtype) if self.dtype in INT_RANGES else x.astype(self.dtype, copy=False)
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if self.layout == "NHWC" else x)

    def decode(self, outputs) -> np.ndarray:
        """Raw outputs -> float64 scores (N, C) of the artifact's ``output_kind``, dequantized.

        An integer output without params is only cast: its ranking (top-k, agreement) survives a
        positive affine map, its magnitudes do not.
        """
        out = np.asarray(outputs)
        out = out.reshape(out.shape[0], -1) if out.ndim > 1 else out  # e.g. (N, 1, 1, C) from a runtime
        if np.issubdtype(out.dtype, np.integer) and self.output_quant is not None:
            return (out.astype(np.float64) - self.output_quant.zero_point) * float(np.float32(self.output_quant.scale))
        return out.astype(np.float64)

    def probabilities(self, outputs) -> np.ndarray:
        """Decoded outputs as class probabilities (softmax of logits; probabilities pass through)."""
        scores = self.decode(outputs)
        return softmax(scores) if self.output_kind == "logits" else scores
