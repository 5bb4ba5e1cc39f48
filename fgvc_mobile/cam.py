"""Where the model looks: Grad-CAM of each head of a checkpoint's model, as PNG overlays.

Grad-CAM (Selvaraju et al., 2017) differentiates a head's score for a class with respect to the
feature map the head reads; the spatial mean of the gradient weighs each channel, and
ReLU(sum_k w_k A_k), upsampled to the input, is the map. The map a head reads decides what it
shows:

- RMG-PMSI (and PMG): stage head N reads its own smooth-conv map on tap S_N, before the global
  max pool, so the three stage maps show what each granularity attends to; the concat head and
  the rules (``concat``, ``combined``) read all three maps, and their map is the mean of their
  Grad-CAMs on the three, each scaled to [0, 1] first (a Grad-CAM's scale grows with the
  coarseness of its map: the channel weights are gradient means over fewer cells).
- Every other model (the baseline, ...): its rules on the last backbone stage. For the baseline
  (average pool + linear) this is exactly the classic CAM of Zhou et al. (2016).

All maps are for one class per image, the class the model's deploy rule predicts (what
``predict`` reports), so the panels of an image are comparable.

Written with torch hooks rather than pytorch-grad-cam: that package expects a model returning
one tensor and brings opencv and scikit-learn for what is a few lines here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from fgvc_mobile.errors import FGVCError

#: prefix of a twin head set's heads (models/fgvc.py ``TWIN``); spelled here so that this module
#: needs only the models' attributes, not their classes
_TWIN = "twin_"


@dataclass(frozen=True)
class CamTarget:
    """One panel: the score ``sum(out[h] for h in heads)`` explained on the maps of ``maps``."""

    name: str
    heads: tuple[str, ...]
    maps: tuple[tuple[nn.Module, str], ...]  # (module, "in" | "out"): the map is its input or output


def _pool(smooth: nn.Module) -> nn.Module:
    """The global pool that ends a PMSI smooth conv: its input is the stage map a head reads."""
    pools = [m for m in smooth.modules() if isinstance(m, (nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d))]
    if not pools:
        raise FGVCError(f"--cam: a smooth conv without a global pool ({type(smooth).__name__})")
    return pools[-1]


def _head_maps(model: nn.Module, head: str) -> list[tuple[nn.Module, str]]:
    head_set, name = (getattr(model, "twin", None), head[len(_TWIN):]) if head.startswith(_TWIN) else (model, head)
    smooth = getattr(head_set, "smooth", None)
    if isinstance(smooth, nn.ModuleList):  # PMSI heads: aux_stageN reads map N, concat reads all
        if name.startswith("aux_stage"):
            return [(_pool(smooth[int(name[len("aux_stage"):]) - 1]), "in")]
        return [(_pool(s), "in") for s in smooth]
    return [(model.backbone.stages[-1], "out")]


def cam_targets(model: nn.Module) -> list[CamTarget]:
    """The panels of ``model``: its stage heads (PMSI models), then every inference rule."""
    targets = []
    if isinstance(getattr(model, "smooth", None), nn.ModuleList):
        for i in range(len(model.smooth)):
            head = f"aux_stage{i + 1}"
            targets.append(CamTarget(f"stage{i + 1}", (head,), tuple(_head_maps(model, head))))
    for rule, heads in model.inference_rules.items():
        maps = []
        for h in heads:
            maps += [m for m in _head_maps(model, h) if m not in maps]
        targets.append(CamTarget(rule, tuple(heads), tuple(maps)))
    return targets


def grad_cams(model: nn.Module, x: torch.Tensor, targets: list[CamTarget],
              class_index: int | None = None) -> tuple[int, dict[str, np.ndarray]]:
    """(class explained, {panel name: map in [0, 1] of x's height x width}) for one image ``x``.

    ``class_index`` None: the class the default rule predicts. One forward pass; one gradient per
    panel. A map that is zero everywhere (no positive evidence) stays zero.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError("grad_cams explains one image: x must be 1 x C x H x W")
    captured: dict[tuple[int, str], torch.Tensor] = {}
    hooks = []

    def hook_for(key):
        def hook(_mod, inputs, output):
            if key not in captured:  # the first call: models that run the backbone twice (CMAL) crop later
                captured[key] = inputs[0] if key[1] == "in" else output
        return hook

    for module, where in {m for t in targets for m in t.maps}:
        hooks.append(module.register_forward_hook(hook_for((id(module), where))))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(x.detach().clone().requires_grad_(True))
            rule = model.inference_rules[model.default_rule]
            if class_index is None:
                class_index = int(sum(out[h] for h in rule).argmax(1).item())
            cams = {}
            for t in targets:
                score = sum(out[h] for h in t.heads)[0, class_index]
                maps = [captured[(id(m), w)] for m, w in t.maps]
                grads = torch.autograd.grad(score, maps, retain_graph=True, allow_unused=True)
                total = torch.zeros(x.shape[-2:])
                for a, g in zip(maps, grads):
                    if g is None:  # the score does not depend on this map
                        continue
                    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
                    total += _unit(F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0])
                cams[t.name] = _unit(total).numpy()
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return class_index, cams


def _unit(cam: torch.Tensor) -> torch.Tensor:
    """``cam`` scaled to a peak of 1 (all zero stays zero: no positive evidence)."""
    cam = cam.detach()
    peak = float(cam.max())
    return cam / peak if peak > 0 else cam


def overlay(image: Image.Image, cam: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """``image`` (RGB, the size of ``cam``) blended with the map in matplotlib's ``jet`` colours."""
    import matplotlib

    rgb = (matplotlib.colormaps["jet"](np.clip(cam, 0.0, 1.0))[..., :3] * 255).astype(np.uint8)
    return Image.blend(image.convert("RGB"), Image.fromarray(rgb), alpha)


def panel_sheet(image: Image.Image, cams: dict[str, np.ndarray], title: str, cell: int = 160) -> Image.Image:
    """One PNG per image: the input, then one overlay per panel, each named, with ``title`` above."""
    tiles = [("input", image.convert("RGB"))] + [(name, overlay(image, cam)) for name, cam in cams.items()]
    head = 16
    sheet = Image.new("RGB", (cell * len(tiles), cell + 2 * head), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    d.text((4, 2), title, fill=(0, 0, 0))
    for k, (name, tile) in enumerate(tiles):
        sheet.paste(tile.resize((cell - 4, cell - 4), Image.BILINEAR), (k * cell + 2, 2 * head))
        d.text((k * cell + 4, head + 1), name, fill=(0, 0, 0))
    return sheet


def write_cams(checkpoint: str, paths: list[str], out_dir: str, skipped: list | None = None) -> list[dict]:
    """Grad-CAM panels of every readable image in ``paths`` into ``out_dir`` (one PNG each).

    Returns one row per image written (path, png, predicted label); unreadable images are added
    to ``skipped`` (as ``{"path", "error"}``) and never stop the run.
    """
    from fgvc_mobile.data.images import load_rgb
    from fgvc_mobile.data.preprocess import PreprocessConfig
    from fgvc_mobile.data.transforms import build_transform, geometric_eval
    from fgvc_mobile.serialization import atomic_path
    from fgvc_mobile.models.load import load_trained

    trained = load_trained(checkpoint)
    model, meta = trained.model, trained.meta
    pre = PreprocessConfig.from_dict(meta["preprocess"])
    to_tensor, geometric = build_transform(pre, train=False), geometric_eval(pre)
    targets = cam_targets(model)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FGVCError(f"--cam {out_dir}: cannot create the folder ({e.strerror or e})") from None
    rows, names = [], set()
    for path in paths:
        try:
            img = load_rgb(path)
        except (FGVCError, OSError, ValueError) as e:  # as predict does: listed, never fatal
            if skipped is not None:
                skipped.append({"path": path, "error": str(e).splitlines()[0] if str(e) else e.__class__.__name__})
            continue
        cls, cams = grad_cams(model, to_tensor(img).unsqueeze(0), targets)
        stem = Path(path).stem
        name, k = f"{stem}_cam.png", 1
        while name in names:  # two inputs with one file name (different folders)
            k += 1
            name = f"{stem}_{k}_cam.png"
        names.add(name)
        label = meta["classes"][cls]
        sheet = panel_sheet(geometric(img), cams, f"{os.path.basename(path)}: {label} ({meta['method']})")
        with atomic_path(out / name) as tmp:
            sheet.save(tmp, format="PNG")
        rows.append({"path": path, "png": str(out / name), "label": label})
    return rows
