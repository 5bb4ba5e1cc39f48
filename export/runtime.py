"""Run any artifact (or a checkpoint) on RGB images, driven only by its manifest.

The manifest's input and output make the artifact's :class:`Contract`; the format module of the
file's suffix opens it; the contract turns decoded images into exactly its input and its output
into class probabilities.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fgvc_mobile.data.images import load_rgb
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import geometric_eval
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract, to_float_nchw
from fgvc_mobile.export.formats import FORMATS, Format, format_of

ARTIFACT_SUFFIXES = (*(f.suffix for f in FORMATS.values()), ".pt")


def load_crops(paths: list[str], pre: PreprocessConfig) -> np.ndarray:
    """uint8 [N, H, W, 3]: load_rgb + the eval geometry, the images every contract prepares from."""
    geom = geometric_eval(pre)
    return np.stack([np.asarray(geom(load_rgb(p)), dtype=np.uint8) for p in paths])


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
    fmt = format_of(p)
    manifest = _manifest(p)
    session = _open_checked(p, fmt, manifest)
    contract = session.contract

    def predict(images: np.ndarray) -> np.ndarray:
        try:
            out = session.predict(images)
        except FGVCError:
            raise
        except Exception as e:  # noqa: BLE001 - a graph that fails at run time (damaged or crafted ops)
            raise FGVCError(f"--model {p}: inference failed ({_first_line(e)})") from None
        if out.ndim != 2 or out.shape[1] != len(manifest["labels"]):
            raise FGVCError(f"--model {p}: the model gives outputs of shape {list(out.shape)}, "
                            f"its manifest lists {len(manifest['labels'])} labels")
        quant = contract.output_quant
        if contract.output_kind == "probabilities" and not _are_probabilities(out, quant and quant.scale):
            raise FGVCError(f"--model {p}: its manifest says the output is probabilities, but the rows are not "
                            f"(min {out.min():.3g}, row sums {out.sum(1).min():.3g}..{out.sum(1).max():.3g})")
        return contract.probabilities(out)

    return manifest, predict


def _are_probabilities(out: np.ndarray, scale: float | None = None) -> bool:
    """Rows of probabilities; a quantized output (int8 softmax) may miss 1 by half a step per class."""
    tol = 1e-2 + (out.shape[1] * scale / 2 if scale else 0.0)
    return bool(np.isfinite(out).all() and out.min() >= -1e-3 and np.abs(out.sum(1) - 1).max() <= tol)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [e.__class__.__name__])[0][:200]


def _open_checked(p: Path, fmt: Format, manifest: dict):
    """A session of the artifact, once the file has parsed and agrees with its manifest."""
    from fgvc_mobile.export.manifest_checks import io_problem

    try:
        problem = io_problem(manifest, *fmt.io_info(p))
        if problem:
            raise FGVCError(f"its manifest does not describe this model: {problem}")
        return fmt.open(p, Contract.from_manifest(manifest))
    except FGVCError as e:  # e.g. CoreML off macOS, a model with two inputs
        raise FGVCError(f"--model {p}: {e}") from None
    except ImportError:  # a missing extra, named by the CLI
        raise
    except Exception as e:  # noqa: BLE001 - parsers of a damaged or hostile file raise anything
        raise FGVCError(f"--model {p}: not a readable {fmt.name} model ({_first_line(e)})") from None


def _manifest(p: Path) -> dict:
    from fgvc_mobile.export.manifest import read_manifest_for, validate_manifest
    from fgvc_mobile.export.formats import read_metadata
    from fgvc_mobile.export.metadata import manifest_from_entries

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
