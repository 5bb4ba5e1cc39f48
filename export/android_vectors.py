"""Shared test vectors: what Python's preprocessing and output decoding produce, byte for byte.

The Android app re-implements preprocessing in its pure-JVM core (android_demo/core). The most
common Python-vs-phone bug is a silent preprocessing or dtype mismatch, so this module writes
small images, manifests, the exact input tensors Python feeds for them, and model outputs with
their expected top-5; the JVM tests (android_demo/run_jvm_tests.sh) must reproduce all of it.

The reference is the project's own eval geometry (``load_rgb`` -> ``geometric_eval``: PIL resize +
center crop) followed by the artifact contract's ``prepare`` (:mod:`fgvc_mobile.export.contract`:
ToTensor + Normalize in float32, or raw bytes, quantized as
``clip(rint(float32(v) / float32(scale)) + zero_point)``), and its ``decode`` for outputs.

    python -m fgvc_mobile.export.android_vectors OUTDIR
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from fgvc_mobile.data.images import load_rgb
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import geometric_eval
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract, Quant
from fgvc_mobile.serialization import atomic_path, atomic_write_json

VECTORS_VERSION = 1

#: preprocessing geometries covered: square/non-square resize, odd crop offsets (banker's
#: rounding in CenterCrop), an int resize, every interpolation the config allows, the default.
CONFIGS = {
    "s32": PreprocessConfig(input_size=32, resize=(36, 36)),
    "s32r": PreprocessConfig(input_size=32, resize=(37, 39)),
    "s32bicubic": PreprocessConfig(input_size=32, resize=36, interpolation="bicubic"),
    "s32nearest": PreprocessConfig(input_size=32, resize=(37, 39), interpolation="nearest"),
    "s224": PreprocessConfig(),
}

#: how an artifact takes its input (manifest ``input`` minus shape): the common export variants
INPUT_VARIANTS = {
    "u8_nhwc": dict(layout="NHWC", dtype="uint8", normalization_in_graph=True, quantization=None),
    "f32_nchw": dict(layout="NCHW", dtype="float32", normalization_in_graph=False, quantization=None),
    "i8_nhwc": dict(layout="NHWC", dtype="int8", normalization_in_graph=False,
                    quantization={"scale": 0.018658447, "zero_point": -14}),
    "f32_nhwc_raw": dict(layout="NHWC", dtype="float32", normalization_in_graph=True, quantization=None),
    "i8_nchw_raw": dict(layout="NCHW", dtype="int8", normalization_in_graph=True,
                        quantization={"scale": 1.0, "zero_point": -128}),
    "u8_nhwc_q": dict(layout="NHWC", dtype="uint8", normalization_in_graph=False,
                      quantization={"scale": 0.0186584, "zero_point": 114}),
}

#: (config, variant) pairs written; s224 keeps to the three main variants to stay small
CASES = [(c, v) for c in CONFIGS if c != "s224" for v in INPUT_VARIANTS] + [
    ("s224", v) for v in ("u8_nhwc", "f32_nchw", "i8_nhwc")
]
#: bare Image.resize checks (W_in, H_in, W_out, H_out, filter) on both sides of Pillow 13's
#: pass-order rule (vertical first iff the height shrinks by > 2x the width's shrink), up and down
RESIZES = [
    (13, 21, 8, 11, "bilinear"), (13, 22, 8, 11, "bilinear"), (13, 22, 8, 11, "bicubic"),
    (41, 45, 39, 40, "bicubic"), (41, 45, 39, 41, "bicubic"), (120, 260, 64, 64, "bilinear"),
    (260, 120, 64, 64, "bicubic"), (17, 9, 64, 40, "bilinear"), (17, 9, 64, 40, "bicubic"),
    (30, 70, 45, 20, "bilinear"), (37, 53, 19, 29, "nearest"), (11, 7, 29, 23, "nearest"),
]
_PIL_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                "nearest": Image.Resampling.NEAREST}

#: which images each config is fed: the 224 geometry gets one larger image, the rest the small ones
SMALL_IMAGES = ("wide_50x37.png", "tiny_20x13.png", "exact_36x36.png", "alpha_41x45.png")
IMAGES_FOR = {"s224": ("photo_300x200.png",)}


def reference_input(image_path, cfg: PreprocessConfig, variant: dict) -> np.ndarray:
    """The exact input tensor (batch 1, manifest layout and dtype) Python feeds for one image."""
    crop = np.asarray(geometric_eval(cfg)(load_rgb(image_path)), dtype=np.uint8)[None]
    return Contract.from_manifest({"input": variant, "preprocess": cfg.to_dict()}).prepare(crop)


def output_contract(case: dict) -> Contract:
    """How the app reads an output case: its kind and quantization (the input side does not matter)."""
    return replace(Contract.reference(PreprocessConfig()), output_kind=case["kind"],
                   output_quant=Quant.parse(case["quantization"]))


def top_k(values: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest values; ties go to the lower index (the app's rule)."""
    order = sorted(range(len(values)), key=lambda i: (-float(values[i]), i))
    return order[:k]


def latency_summary(samples_ms) -> dict[str, float]:
    """mean, population std, linear-interpolated p50/p90/p99, min, max: the harness's definition
    (benchmarks/stats.py; export/ may not import benchmarks/, a test checks they agree)."""
    x = np.asarray(samples_ms, np.float64)
    p50, p90, p99 = np.percentile(x, [50, 90, 99], method="linear")
    return {"mean": float(x.mean()), "std": float(x.std(ddof=0)), "p50": float(p50), "p90": float(p90),
            "p99": float(p99), "min": float(x.min()), "max": float(x.max())}


def _synthetic_images() -> dict[str, Image.Image]:
    """Deterministic images with edges, gradients, noise and pure 0/255 areas (overshoot)."""
    rng = np.random.default_rng(20240517)

    def pattern(w: int, h: int, channels: int = 3) -> np.ndarray:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        base = np.stack([
            127.5 + 127.5 * np.sin(xx / 3.1 + c) * np.cos(yy / 4.7 - c) for c in range(channels)
        ], axis=-1)
        base += rng.normal(0, 25, base.shape)
        base[: h // 5, : w // 4] = 255.0   # a saturated block: bicubic overshoot must clip
        base[-(h // 6):, -(w // 5):] = 0.0
        return np.clip(np.rint(base), 0, 255).astype(np.uint8)

    rgba = pattern(41, 45, 4)
    rgba[..., 3] = np.clip(np.linspace(0, 255, 41)[None, :] + rng.normal(0, 30, (45, 41)), 0, 255).astype(np.uint8)
    rgba[:5, :, 3] = 0
    rgba[-5:, :, 3] = 255
    return {
        "wide_50x37.png": Image.fromarray(pattern(50, 37)),       # non-square, downscale
        "tiny_20x13.png": Image.fromarray(pattern(20, 13)),       # needs upscaling
        "exact_36x36.png": Image.fromarray(pattern(36, 36)),      # resize is a no-op for s32
        "alpha_41x45.png": Image.fromarray(rgba),                # composited over white
        "photo_300x200.png": Image.fromarray(pattern(300, 200)),
    }


def _manifest(cfg: PreprocessConfig, variant: dict, labels: list[str], output: dict) -> dict:
    size = cfg.input_size
    shape = [1, size, size, 3] if variant["layout"] == "NHWC" else [1, 3, size, size]
    precision = "fp32" if variant["dtype"] == "float32" and output["dtype"] == "float32" else "int8"
    return {
        "schema_version": 1,
        "model_file": "vectors.tflite",
        "format": "tflite",
        "precision": precision,
        "method": "baseline",
        "inference_rule": "default",
        "labels": labels,
        "labels_file": "labels.txt",
        "input": {"name": "image", "shape": shape, "color": "RGB", **variant},
        "output": {"name": "logits", "dtype": output["dtype"], "shape": [1, len(labels)],
                   "kind": output["kind"], "quantization": output["quantization"]},
        "preprocess": cfg.to_dict(),
    }


def _outputs(rng: np.random.Generator) -> list[dict]:
    """Model-output cases: float logits, int8 logits with ties, uint8 probabilities."""
    logits = (rng.normal(0, 3, 10)).astype(np.float32)
    i8 = rng.integers(-128, 128, 12).astype(np.int8)
    i8[[2, 7, 9]] = 90   # a three-way tie inside the top-5: lower index must win
    i8[4] = 127
    u8 = rng.integers(0, 60, 7).astype(np.uint8)
    u8[[1, 5]] = 200
    return [
        {"name": "float_logits", "dtype": "float32", "kind": "logits", "quantization": None, "values": logits},
        {"name": "int8_logits", "dtype": "int8", "kind": "logits",
         "quantization": {"scale": 0.1173, "zero_point": 5}, "values": i8},
        {"name": "uint8_probs", "dtype": "uint8", "kind": "probabilities",
         "quantization": {"scale": 0.00390625, "zero_point": 0}, "values": u8},
    ]


def write_vectors(outdir) -> Path:
    """Write images, manifests, tensors, outputs and latency stats under ``outdir``; returns index.json."""
    out = Path(outdir)
    for sub in ("images", "raw", "manifests", "tensors", "outputs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    index: dict = {"vectors_version": VECTORS_VERSION, "byte_order": "little", "images": [], "resizes": [],
                   "cases": [], "outputs": [], "latency": None}

    for name, img in _synthetic_images().items():
        with atomic_path(out / "images" / name) as tmp:
            img.save(tmp, format="PNG")
        # the decoded pixels as straight (non-premultiplied) RGBA, what Bitmap.getPixels gives
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        _write_bytes(out / "raw" / f"{name}.rgba", rgba.tobytes())
        index["images"].append({"file": f"images/{name}", "rgba": f"raw/{name}.rgba",
                                "width": img.width, "height": img.height, "mode": img.mode})

    for out_case in _outputs(rng):
        vals = out_case.pop("values")
        contract = output_contract(out_case)
        deq, sc = contract.decode(vals), contract.probabilities(vals)
        top = top_k(deq, 5)
        _write_bytes(out / "outputs" / f"{out_case['name']}.bin", vals.astype(vals.dtype.newbyteorder("<")).tobytes())
        index["outputs"].append({**out_case, "file": f"outputs/{out_case['name']}.bin", "num_classes": len(vals),
                                 "dequantized": deq.tolist(), "top5": top, "top5_scores": [float(sc[i]) for i in top]})

    for w_in, h_in, w_out, h_out, filt in RESIZES:
        src = rng.integers(0, 256, (h_in, w_in, 3), dtype=np.uint8)
        src[: h_in // 3, : w_in // 3] = 255   # hard edges: bicubic overshoot must clip
        out_img = Image.fromarray(src).resize((w_out, h_out), _PIL_FILTERS[filt])
        stem = f"resize_{w_in}x{h_in}_to_{w_out}x{h_out}_{filt}"
        _write_bytes(out / "raw" / f"{stem}.in.rgb", src.tobytes())
        _write_bytes(out / "raw" / f"{stem}.out.rgb", np.asarray(out_img, dtype=np.uint8).tobytes())
        index["resizes"].append({"input": f"raw/{stem}.in.rgb", "expected": f"raw/{stem}.out.rgb", "filter": filt,
                                 "in_size": [w_in, h_in], "out_size": [w_out, h_out]})

    labels = [f"species_{i:03d}" for i in range(10)]
    for cfg_name, var_name in CASES:
        cfg, variant = CONFIGS[cfg_name], INPUT_VARIANTS[var_name]
        output = {"dtype": "float32", "kind": "logits", "quantization": None}
        manifest_rel = f"manifests/{cfg_name}__{var_name}.json"
        atomic_write_json(out / manifest_rel, _manifest(cfg, variant, labels, output))
        for entry in index["images"]:
            image_name = Path(entry["file"]).name
            if image_name not in IMAGES_FOR.get(cfg_name, SMALL_IMAGES):
                continue
            x = reference_input(out / entry["file"], cfg, variant)
            rel = f"tensors/{image_name}__{cfg_name}__{var_name}.bin"
            _write_bytes(out / rel, x.astype(x.dtype.newbyteorder("<")).tobytes())
            index["cases"].append({"image": entry["file"], "manifest": manifest_rel, "tensor": rel,
                                   "dtype": variant["dtype"], "shape": list(x.shape)})

    samples = (rng.gamma(4.0, 2.5, 37) + 3.0).round(4).tolist()
    index["latency"] = {"samples_ms": samples, "expected": latency_summary(samples)}
    atomic_write_json(out / "index.json", index)
    return out / "index.json"


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fgvc_mobile.export.android_vectors", description=__doc__.splitlines()[0])
    p.add_argument("outdir", help="folder to write the vectors into (created if missing)")
    args = p.parse_args(argv)
    try:
        path = write_vectors(args.outdir)
    except FGVCError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
