"""Model architectures by name: a checkpoint names its ``arch``, ``create_model`` builds it.

As in timm, the name picks a model class and keyword arguments configure it; every class
answers the same interface (``models/fgvc.py``). Adding an architecture is adding a model
module and its class to ``ARCHS``.
"""

from __future__ import annotations

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models.cmal import CMALModel
from fgvc_mobile.models.diversification import DBModel
from fgvc_mobile.models.elope import ELoPEModel
from fgvc_mobile.models.fgvc import BaselineMobileNetV2, FGVCModel, PMSIModel

ARCHS: dict[str, type[FGVCModel]] = {
    cls.arch: cls for cls in (BaselineMobileNetV2, PMSIModel, CMALModel, ELoPEModel, DBModel)
}

#: the arch of each method's model for checkpoints written before checkpoints named their arch
#: (frozen: a method added later always writes ``arch``)
LEGACY_METHOD_ARCHS = {
    "baseline": "mobilenetv2", "distill": "mobilenetv2", "rmg-pmsi": "mobilenetv2-pmsi",
    "pmg": "mobilenetv2-pmsi", "cmal": "mobilenetv2-cmal", "elope": "mobilenetv2-elope", "db-gce": "mobilenetv2-db",
}


def create_model(arch: str, num_classes: int, model_kwargs: dict | None = None, source: str = "model") -> FGVCModel:
    """``ARCHS[arch](num_classes, **model_kwargs)``; an unknown arch or options that do not fit it
    are one line naming ``source``."""
    if arch not in ARCHS:
        raise FGVCError(f"{source}: unknown model arch {arch!r}; known: {sorted(ARCHS)}")
    kwargs = dict(model_kwargs or {})
    try:
        return ARCHS[arch](num_classes, **kwargs)
    except FGVCError:
        raise
    except (TypeError, ValueError, RuntimeError, KeyError, IndexError, AssertionError, OverflowError) as e:
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:200]
        raise FGVCError(f"{source}: model options {kwargs} do not fit the {arch} model ({first})"[:400]) from None
