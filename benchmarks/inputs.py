"""Turn decoded uint8 RGB crops into exactly the tensor an artifact takes, and its output back.

The manifest says the layout (NHWC/NCHW), dtype (uint8 raw RGB with normalisation in the
graph, float32 normalised, int8/uint8 quantized) and quantization params; where the runtime
reports its own params (LiteRT does) those win, since they are what the model will apply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fgvc_mobile.errors import FGVCError

_INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127)}


def _err(where: str, msg: str) -> FGVCError:
    return FGVCError(f"{where}: {msg}" if where else msg)


@dataclass(frozen=True)
class QuantParams:
    scale: float
    zero_point: int

    @classmethod
    def parse(cls, q) -> "QuantParams | None":
        """From a manifest dict, a LiteRT (scale, zero_point) tuple, or None; scale 0 means none."""
        if q is None:
            return None
        if isinstance(q, dict):
            scale, zp = q.get("scale"), q.get("zero_point")
        else:
            scale, zp = q[0], q[1]
        if scale is None or float(scale) == 0.0:
            return None
        return cls(float(scale), int(zp))

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.zero_point == 0


@dataclass(frozen=True)
class InputSpec:
    layout: str
    dtype: str
    normalization_in_graph: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    quant: QuantParams | None = None

    @classmethod
    def from_manifest(cls, m: dict) -> "InputSpec":
        inp, pre = m["input"], m["preprocess"]
        return cls(
            layout=inp["layout"],
            dtype=inp["dtype"],
            normalization_in_graph=bool(inp["normalization_in_graph"]),
            mean=tuple(float(v) for v in pre["mean"]),
            std=tuple(float(v) for v in pre["std"]),
            input_size=int(pre["input_size"]),
            quant=QuantParams.parse(inp.get("quantization")),
        )

    def with_model(self, dtype: str | None = None, quant: QuantParams | None = None, where: str = "") -> "InputSpec":
        """Reconcile with what the loaded model reports: its dtype must agree, its quant params win."""
        if dtype is not None and dtype != self.dtype:
            raise _err(where, f"the manifest says input dtype {self.dtype} but the model takes {dtype}; "
                       "re-export the artifact or fix its manifest")
        return replace(self, quant=quant) if quant is not None else self


def _normalised(x_u8: np.ndarray, spec: InputSpec) -> np.ndarray:
    x = x_u8.astype(np.float32)
    if spec.normalization_in_graph:
        return x
    mean = np.asarray(spec.mean, np.float32) * 255.0
    std = np.asarray(spec.std, np.float32) * 255.0
    return (x - mean) / std


def prepare(images: np.ndarray, spec: InputSpec, where: str = "") -> np.ndarray:
    """uint8 (N, H, W, 3) crops -> the artifact's input tensor (layout, dtype, quantization)."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (N, H, W, 3) images, got {images.dtype} {images.shape}")
    if images.shape[1] != spec.input_size or images.shape[2] != spec.input_size:
        raise _err(where, f"images are {images.shape[1]}x{images.shape[2]} but the model takes {spec.input_size}")
    if spec.dtype in ("float32", "float16"):
        x = _normalised(images, spec).astype(spec.dtype)
    elif spec.dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[spec.dtype]
        q = spec.quant
        if q is None or (q.is_identity and spec.normalization_in_graph):
            if spec.dtype != "uint8" or not spec.normalization_in_graph:
                raise _err(where, f"{spec.dtype} input without quantization params needs "
                           "normalization_in_graph=true (raw 0..255 RGB)")
            x = images
        else:
            f = _normalised(images, spec)
            x = np.clip(np.round(f / q.scale) + q.zero_point, lo, hi).astype(spec.dtype)
    else:
        raise _err(where, f"unsupported input dtype {spec.dtype!r}")
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    elif spec.layout != "NHWC":
        raise _err(where, f"unsupported input layout {spec.layout!r}")
    return np.ascontiguousarray(x)


def dequantize(out: np.ndarray, quant: QuantParams | None) -> np.ndarray:
    """Integer outputs -> float scores with (q - zero_point) * scale; floats pass through.

    Without params an integer output is only cast: the ranking, hence top-k and agreement,
    is unchanged by a positive affine map, but the magnitudes are not logits.
    """
    out = np.asarray(out)
    if np.issubdtype(out.dtype, np.integer):
        if quant is None:
            return out.astype(np.float32)
        return ((out.astype(np.float32) - quant.zero_point) * quant.scale).astype(np.float32)
    return out.astype(np.float32, copy=False)
