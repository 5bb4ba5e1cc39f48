"""Backbone taps and method heads. Never imports training code."""

from fgvc_mobile.models.backbone import MobileNetV2Taps, load_pretrained
from fgvc_mobile.models.complexity import count_macs, count_params
from fgvc_mobile.models.fgvc import BaselineMobileNetV2, FGVCModel, PMSIModel

__all__ = [
    "MobileNetV2Taps",
    "load_pretrained",
    "count_macs",
    "count_params",
    "FGVCModel",
    "BaselineMobileNetV2",
    "PMSIModel",
]
