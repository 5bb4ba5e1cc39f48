"""MobileNetV2 with stage taps: one feature interface for every method's heads.

Like timm's ``features_only``, the backbone answers "give me stages S1, S2, S3" together with
each tap's channels and reduction, so heads never hard-code torchvision indices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import mobilenet_v2

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.serialization import safe_torch_load

#: ``format`` of an fgvc-mobile checkpoint (models/load.py), accepted by --pretrained
FGVC_CHECKPOINT_FORMAT = "fgvc-mobile-checkpoint"

# torchvision `features` slices for the three taps used by RMG-PMSI (see docs/rmg-pmsi.md)
TAP_SLICES = ((0, 7), (7, 14), (14, 19))


@dataclass(frozen=True)
class TapInfo:
    name: str
    num_chs: int
    reduction: int


class MobileNetV2Taps(nn.Module):
    """MobileNetV2 feature extractor returning the outputs of stages S1, S2, S3.

    S1 = ``features[:7]`` (stride 8), S2 = ``features[7:14]`` (stride 16),
    S3 = ``features[14:]`` including the final 1x1 conv to 1280 (stride 32).

    ``stem_stride=1`` is the RMG-PMSI release's stem (every tap at twice the resolution, about 4x
    the MACs at the same input size); the ImageNet weights load either way.
    """

    def __init__(self, width_mult: float = 1.0, stem_stride: int = 2):
        super().__init__()
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride!r}")
        tv = mobilenet_v2(weights=None, width_mult=width_mult)
        tv.features[0][0].stride = (stem_stride, stem_stride)
        self.width_mult = width_mult
        self.stages = nn.ModuleList(nn.Sequential(*tv.features[a:b]) for a, b in TAP_SLICES)
        with torch.no_grad():
            outs = self.forward(torch.zeros(1, 3, 64, 64))
        self.feature_info = [
            TapInfo(f"stage{i + 1}", o.shape[1], 64 // o.shape[-1]) for i, o in enumerate(outs)
        ]

    @property
    def num_features(self) -> int:
        return self.feature_info[-1].num_chs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return taps

    def load_torchvision_state_dict(self, state: dict, source: str) -> None:
        """Load a torchvision ``mobilenet_v2`` state_dict (``features.N.*`` keys; classifier ignored)."""
        mapped = {}
        for k, v in state.items():
            if not k.startswith("features."):
                continue
            idx = int(k.split(".")[1])
            for s, (a, b) in enumerate(TAP_SLICES):
                if a <= idx < b:
                    rest = k.split(".", 2)[2]
                    mapped[f"stages.{s}.{idx - a}.{rest}"] = v
        _check_and_load(self, mapped, source, "a MobileNetV2 state_dict")

    def load_fgvc_checkpoint_state(self, model_state, source: str) -> None:
        """Load the ``backbone.*`` weights of an fgvc-mobile checkpoint's model state (heads ignored)."""
        if not isinstance(model_state, dict):
            raise FGVCError(f"{source}: checkpoint has no model state_dict")
        prefix = "backbone."
        mapped = {k[len(prefix):]: v for k, v in model_state.items() if isinstance(k, str) and k.startswith(prefix)}
        _check_and_load(self, mapped, source, "a checkpoint with a tapped MobileNetV2 backbone")


def _check_and_load(backbone: nn.Module, mapped: dict, source: str, what: str) -> None:
    own = backbone.state_dict()
    missing = sorted(set(own) - set(mapped))
    if missing:
        raise FGVCError(f"{source}: not {what} (missing {missing[0]} and {len(missing) - 1} more)")
    for k in own:
        if own[k].shape != mapped[k].shape:
            raise FGVCError(
                f"{source}: shape mismatch for {k}: {tuple(mapped[k].shape)} vs {tuple(own[k].shape)}"
                f" (width_mult={backbone.width_mult}?)"
            )
    backbone.load_state_dict({k: mapped[k] for k in own}, strict=True)


def load_pretrained(backbone: MobileNetV2Taps, spec: str | None) -> str | None:
    """``imagenet`` -> torchvision's weights API (downloads); a path -> local state_dict, or the
    backbone of an fgvc-mobile checkpoint (any method: e.g. lighter heads on the backbone a full
    RMG-PMSI run trained).

    Local files are loaded with ``weights_only=True``: a pickle that would run code is refused.
    Returns a description of the source, for the checkpoint.
    """
    if not spec or spec == "none":
        return None
    if spec == "imagenet":
        if backbone.width_mult != 1.0:
            raise FGVCError("--pretrained imagenet: torchvision only ships width_mult=1.0 weights")
        from torchvision.models import MobileNet_V2_Weights

        weights = MobileNet_V2_Weights.IMAGENET1K_V1
        try:
            state = weights.get_state_dict(progress=True)
        except Exception as e:  # no network, proxy, ...
            raise FGVCError(
                f"--pretrained imagenet: the weights are not in torch hub's cache and the download failed "
                f"({e.__class__.__name__}); use --pretrained PATH (a MobileNetV2 state_dict or an fgvc-mobile "
                "checkpoint) or --pretrained none (train from scratch)"
            ) from None
        backbone.load_torchvision_state_dict(state, "torchvision IMAGENET1K_V1")
        return "torchvision:IMAGENET1K_V1"
    if not os.path.isfile(spec):
        raise FGVCError(f"--pretrained {spec}: no such file (use 'imagenet' or a state_dict path)")
    state = safe_torch_load(spec)
    if isinstance(state, dict) and state.get("format") == FGVC_CHECKPOINT_FORMAT:
        backbone.load_fgvc_checkpoint_state(state.get("model"), spec)
        return f"checkpoint:{os.path.basename(spec)} ({state.get('method')})"
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise FGVCError(f"--pretrained {spec}: expected a state_dict, got {type(state).__name__}")
    backbone.load_torchvision_state_dict(state, spec)
    return f"file:{os.path.basename(spec)}"

