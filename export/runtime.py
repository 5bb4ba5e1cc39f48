"""Run any artifact (or a checkpoint) on RGB images, driven only by its manifest.

The manifest says the input layout, dtype, whether normalisation is in the graph, and the output
kind; this module turns decoded images into exactly that input and returns class probabilities.
"""

from __future__ import annotations

import logging
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
    if p.is_file() and p.stat().st_size == 0:
        raise FGVCError(f"--model {p}: empty file (0 bytes)")
    if p.suffix == ".pt":
        return _checkpoint(p)
    if p.suffix not in ARTIFACT_SUFFIXES:
        raise FGVCError(f"--model {p}: unknown model type (expected one of {', '.join(ARTIFACT_SUFFIXES)})")
    manifest = _manifest(p)
    if p.suffix in (".onnx", ".tflite"):
        run = _open_checked(p, manifest)
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
        x = model_input(images, manifest)
        try:
            out = run(x)
        except Exception as e:  # noqa: BLE001 - a graph that fails at run time (damaged or crafted ops)
            raise FGVCError(f"--model {p}: inference failed ({_first_line(e)})") from None
        if out.ndim != 2 or out.shape[1] != len(manifest["labels"]):
            raise FGVCError(f"--model {p}: the model gives outputs of shape {list(out.shape)}, "
                            f"its manifest lists {len(manifest['labels'])} labels")
        if not logits and not _are_probabilities(out, (manifest["output"].get("quantization") or {}).get("scale")):
            raise FGVCError(f"--model {p}: its manifest says the output is probabilities, but the rows are not "
                            f"(min {out.min():.3g}, row sums {out.sum(1).min():.3g}..{out.sum(1).max():.3g})")
        return softmax(out) if logits else out

    return manifest, predict


def _are_probabilities(out: np.ndarray, scale: float | None = None) -> bool:
    """Rows of probabilities; a quantized output (int8 softmax) may miss 1 by half a step per class."""
    tol = 1e-2 + (out.shape[1] * scale / 2 if scale else 0.0)
    return bool(np.isfinite(out).all() and out.min() >= -1e-3 and np.abs(out.sum(1) - 1).max() <= tol)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [e.__class__.__name__])[0][:200]


def _open_checked(p: Path, manifest: dict):
    """The runner of a .onnx/.tflite, once the file has parsed and agrees with its manifest."""
    from fgvc_mobile.export.manifest_checks import io_problem

    fmt = p.suffix[1:]
    try:
        if fmt == "onnx":
            from fgvc_mobile.export.onnx_export import io_info, runner

            (inp, out), run = io_info(p), runner(p)
        else:
            from fgvc_mobile.export.tflite_export import io_info, runner

            data = p.read_bytes()
            (inp, out), run = io_info(data), runner(data)
    except (FGVCError, ImportError):  # ImportError: a missing extra, named by the CLI
        raise
    except Exception as e:  # noqa: BLE001 - parsers of a damaged or hostile file raise anything
        raise FGVCError(f"--model {p}: not a readable {fmt} model ({_first_line(e)})") from None
    problem = io_problem(manifest, inp, out)
    if problem:
        raise FGVCError(f"--model {p}: its manifest does not describe this model: {problem}")
    return run


def _manifest(p: Path) -> dict:
    from fgvc_mobile.export.manifest import read_manifest_for, validate_manifest
    from fgvc_mobile.export.metadata import manifest_from_entries, read_metadata

    try:
        return read_manifest_for(p)
    except FGVCError as beside:
        try:
            entries = read_metadata(p)  # the copy inside the artifact
        except ImportError:
            raise
        except Exception as e:  # noqa: BLE001 - a damaged or hostile file
            raise FGVCError(f"{beside}; and the file itself is not a readable model ({_first_line(e)})") from None
        embedded = validate_manifest(manifest_from_entries(entries, str(p)), f"{p} (embedded manifest)")
        if "no manifest beside it" not in str(beside):
            logging.getLogger("fgvc_mobile.export").warning("%s; using the manifest embedded in the model", beside)
        return embedded


def _checkpoint(p: Path) -> tuple[dict, Callable]:
    from fgvc_mobile.export.deploy import DeployModel
    from fgvc_mobile.models.load import load_trained

    trained = load_trained(p)
    meta, pre = trained.meta, trained.preprocess
    deploy = DeployModel(trained.model, input_size=pre.input_size)
    manifest = {"labels": list(meta["classes"]), "preprocess": meta["preprocess"], "format": "checkpoint",
                "method": meta["method"], "inference_rule": deploy.rule}

    @torch.no_grad()
    def predict(images: np.ndarray) -> np.ndarray:
        return torch.softmax(deploy(to_float_nchw(images, pre)), dim=1).numpy()

    return manifest, predict
