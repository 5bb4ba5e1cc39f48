"""Run any artifact (or a checkpoint) on RGB images, driven only by its manifest.

The manifest says the input layout, dtype, whether normalisation is in the graph, and the output
kind; this module turns decoded images into exactly that input and returns class probabilities.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fgvc_mobile.data.images import load_rgb
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import geometric_eval
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.deploy import to_float_nchw
from fgvc_mobile.export.validate import softmax

ARTIFACT_SUFFIXES = (".onnx", ".tflite", ".mlpackage", ".pt")


def preprocess_of(manifest: dict) -> PreprocessConfig:
    known = {"input_size", "resize", "mean", "std", "interpolation", "channel_order", "hflip", "extra"}
    return PreprocessConfig.from_dict({k: v for k, v in manifest["preprocess"].items() if k in known})


def decode(paths: list[str], pre: PreprocessConfig) -> np.ndarray:
    """uint8 [N, H, W, 3]: load_rgb + the eval geometry, the bytes a uint8-nhwc artifact takes."""
    geom = geometric_eval(pre)
    return np.stack([np.asarray(geom(load_rgb(p)), dtype=np.uint8) for p in paths])


def model_input(images: np.ndarray, manifest: dict) -> np.ndarray:
    """The array the artifact takes for uint8 NHWC ``images``, per the manifest's ``input``."""
    inp, pre = manifest["input"], preprocess_of(manifest)
    if inp["normalization_in_graph"]:
        x = images.astype(np.float32) if inp["dtype"].startswith("float") else images
        if inp["layout"] == "NCHW":
            x = x.transpose(0, 3, 1, 2)
    else:
        x = to_float_nchw(images, pre).numpy()
        if inp["layout"] == "NHWC":
            x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x)


def load_artifact(path: str | os.PathLike) -> tuple[dict, Callable[[np.ndarray], np.ndarray]]:
    """(manifest, fn(uint8 NHWC images) -> probabilities [N, C]) for .onnx/.tflite/.mlpackage/.pt."""
    p = Path(path)
    if not p.exists():
        raise FGVCError(f"--model {p}: no such file")
    if p.suffix == ".pt":
        return _checkpoint(p)
    if p.suffix not in ARTIFACT_SUFFIXES:
        raise FGVCError(f"--model {p}: unknown model type (expected one of {', '.join(ARTIFACT_SUFFIXES)})")
    manifest = _manifest(p)
    if p.suffix == ".onnx":
        from fgvc_mobile.export.onnx_export import runner

        run = runner(p)
    elif p.suffix == ".tflite":
        from fgvc_mobile.export.tflite_export import runner

        run = runner(p.read_bytes())
    else:
        if platform.system() != "Darwin":
            raise FGVCError(f"--model {p}: CoreML models run only on macOS (this is {platform.system()})")
        import coremltools as ct

        from fgvc_mobile.export.coreml_export import runner

        image_input = manifest["input"]["normalization_in_graph"]
        coreml_run = runner(ct.models.MLModel(str(p)), image_input)
        return manifest, lambda images: coreml_run(images if image_input else model_input(images, manifest))
    logits = manifest["output"]["kind"] == "logits"

    def predict(images: np.ndarray) -> np.ndarray:
        out = run(model_input(images, manifest))
        return softmax(out) if logits else out

    return manifest, predict


def _manifest(p: Path) -> dict:
    from fgvc_mobile.export.manifest import read_manifest_for, validate_manifest
    from fgvc_mobile.export.metadata import manifest_from_entries, read_metadata

    try:
        return read_manifest_for(p)
    except FGVCError:
        embedded = manifest_from_entries(read_metadata(p), str(p))  # the copy inside the artifact
        return validate_manifest(embedded, f"{p} (embedded manifest)")


def _checkpoint(p: Path) -> tuple[dict, Callable]:
    from fgvc_mobile.export.deploy import DeployModel
    from fgvc_mobile.train.checkpoint import load_checkpoint_model

    model, meta = load_checkpoint_model(p)
    deploy = DeployModel(model, input_size=meta["preprocess"]["input_size"])
    pre = PreprocessConfig.from_dict(meta["preprocess"])
    manifest = {"labels": list(meta["classes"]), "preprocess": meta["preprocess"], "format": "checkpoint",
                "method": meta["method"], "inference_rule": deploy.rule}

    @torch.no_grad()
    def predict(images: np.ndarray) -> np.ndarray:
        return torch.softmax(deploy(to_float_nchw(images, pre)), dim=1).numpy()

    return manifest, predict
