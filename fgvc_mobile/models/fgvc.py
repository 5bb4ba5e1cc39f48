"""Models: a tapped MobileNetV2 plus method heads, behind one interface (:class:`FGVCModel`).

Heads that exist only for training are named ``aux_*`` so the deploy graph can drop them.
Each model declares its inference rules: a rule is the list of heads whose logits are summed.
"""

from __future__ import annotations

import torch
from torch import nn

from fgvc_mobile.models.backbone import MobileNetV2Taps
from fgvc_mobile.models.heads import BNClassifier, MSIGate, SmoothConv


class FGVCModel(nn.Module):
    """Base class: ``backbone`` (tapped MobileNetV2) + heads; subclasses set the rules.

    Every method's model answers the same three questions:

    * ``forward_heads(x)``: the logits of every head, named, through the model's whole test-time
      pipeline (CMAL's two passes, ELoPE's localised crop);
    * ``forward_rule(x, rule)``: the logits of one inference rule, computing only what it needs;
      the deploy graph, a distillation teacher and the bench reference are built from it;
    * ``forward_train(x, **options)``: training-only outputs (CMAL's expert maps, ELoPE's
      embedding and localiser), for recipes that need more than the heads' logits.

    Calling the module runs ``forward_heads``, or ``forward_train`` when given its options:
    training steps call the module, not the methods, so that a DistributedDataParallel wrapper
    sees every training forward.
    """

    #: the name ``models/registry.py`` builds this class by (written into checkpoints)
    arch: str = ""
    #: rule name -> heads summed for it; the first rule is the default for deployment
    inference_rules: dict[str, tuple[str, ...]] = {}

    def __init__(self, num_classes: int, width_mult: float = 1.0, stem_stride: int = 2):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = MobileNetV2Taps(width_mult, stem_stride)

    @property
    def default_rule(self) -> str:
        return next(iter(self.inference_rules))

    def backbone_passes(self, rule: str) -> int:
        """How many times the deploy graph of ``rule`` runs the backbone (CMAL's fusion: 2)."""
        return 1

    def head_parameters(self):
        """Every parameter not in the backbone (trained at the higher head learning rate)."""
        own = {id(p) for p in self.backbone.parameters()}
        return [p for p in self.parameters() if id(p) not in own]

    def forward(self, x: torch.Tensor, **train_options):
        return self.forward_train(x, **train_options) if train_options else self.forward_heads(x)

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward_rule(self, x: torch.Tensor, rule: str | None = None) -> torch.Tensor:
        """Logits of ``rule`` (default: the deployed one); subclasses skip the heads it leaves out."""
        return self.combine(self.forward_heads(x), rule)

    def forward_train(self, x: torch.Tensor, **options):
        raise TypeError(f"{type(self).__name__} has no training-only outputs (options {sorted(options)})")

    def combine(self, outputs: dict[str, torch.Tensor], rule: str | None = None) -> torch.Tensor:
        """The sum of ``rule``'s heads in ``outputs``, in the rule's order (every path sums alike)."""
        heads = self.inference_rules[rule or self.default_rule]
        out = outputs[heads[0]]
        for h in heads[1:]:
            out = out + outputs[h]
        return out


class BaselineMobileNetV2(FGVCModel):
    """Plain MobileNetV2 classifier (torchvision's head: avg pool, dropout 0.2, linear)."""

    arch = "mobilenetv2"
    inference_rules = {"classifier": ("classifier",)}

    def __init__(self, num_classes: int, width_mult: float = 1.0, dropout: float = 0.2, stem_stride: int = 2):
        super().__init__(num_classes, width_mult, stem_stride)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.backbone.num_features, num_classes)

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.backbone(x)[-1].mean(dim=(2, 3))
        return {"classifier": self.classifier(self.dropout(f))}


#: prefix of the heads of a PMSI model's twin head set (``twin=...``)
TWIN = "twin_"


def _pmsi_heads(chs, num_classes, feature_size, descriptor, smooth, tap_stride, msi, msi_dropout, bn_momentum=0.1):
    """Smooth convs, MSI gate (or None), stage classifiers and concat classifier of one head set."""
    strides = (tap_stride,) * len(chs) if isinstance(tap_stride, int) else tuple(tap_stride)
    smooth_convs = nn.ModuleList(SmoothConv(c, feature_size, descriptor, smooth, st, bn_momentum)
                                 for c, st in zip(chs, strides))
    gate = MSIGate(descriptor, feature_size, len(chs), msi_dropout) if msi else None
    aux = nn.ModuleList(BNClassifier(descriptor, feature_size, num_classes) for _ in chs)
    return smooth_convs, gate, aux, BNClassifier(len(chs) * descriptor, feature_size, num_classes)


def _head_set_logits(hs: nn.Module, taps: list[torch.Tensor], heads) -> dict[str, torch.Tensor]:
    """Logits of ``heads`` (``aux_stageN`` / ``concat``) of the head set ``hs`` (anything holding
    ``smooth``, ``msi``, ``aux_classifiers``, ``concat_classifier``) on the backbone's taps."""
    ms = _descriptors(hs, taps)
    out = {}
    for h in heads:
        if h == "concat":
            out[h] = hs.concat_classifier(torch.cat(ms, dim=1))
        else:
            i = int(h[len("aux_stage"):]) - 1
            out[h] = hs.aux_classifiers[i](ms[i])
    return out


def _descriptors(hs: nn.Module, taps: list[torch.Tensor]) -> list[torch.Tensor]:
    """m_1..m_3: the (MSI-gated) pooled descriptors of the taps."""
    xs = [sm(t) for sm, t in zip(hs.smooth, taps)]
    return hs.msi(xs) if hs.msi is not None else xs


class PMSIHeadSet(nn.Module):
    """One PMSI head set (smooth convs, MSI gate, stage and concat classifiers): a model's twin."""

    def __init__(self, chs, num_classes: int, feature_size: int = 320, descriptor: int = 640, smooth: str = "full",
                 tap_stride: tuple[int, int, int] | int = 1, msi: bool = True, msi_dropout: float = 0.5,
                 bn_momentum: float = 0.1):
        super().__init__()
        self.smooth, self.msi, self.aux_classifiers, self.concat_classifier = _pmsi_heads(
            chs, num_classes, feature_size, descriptor, smooth, tap_stride, msi, msi_dropout, bn_momentum)


class PMSIModel(FGVCModel):
    """RMG-PMSI: smooth conv per tap, MSI gate, three stage classifiers and a concat classifier.

    ``msi=False`` gives PMG's heads (same smooth convs and classifiers, no interaction gate).
    ``twin`` (head keyword arguments, e.g. the ``light`` preset's) adds a second, cheaper head set
    on the same taps, trained beside the released heads in every phase and deployable on its own
    (rules ``twin_concat``, the default, and ``twin_combined``): the backbone is trained by both
    head sets (the twin's losses reach it too), while the deploy graph pays only for the twin's.
    """

    arch = "mobilenetv2-pmsi"
    inference_rules = {
        "concat": ("concat",),
        "combined": ("aux_stage1", "aux_stage2", "aux_stage3", "concat"),
    }

    def __init__(
        self,
        num_classes: int,
        width_mult: float = 1.0,
        feature_size: int = 320,
        descriptor: int = 640,
        smooth: str = "full",
        tap_stride: tuple[int, int, int] | int = 1,
        msi: bool = True,
        msi_dropout: float = 0.5,
        twin: dict | None = None,
        stem_stride: int = 2,
        bn_momentum: float = 0.1,
    ):
        super().__init__(num_classes, width_mult, stem_stride)
        chs = [t.num_chs for t in self.backbone.feature_info]
        # the released head set keeps its own attribute names (checkpoints of earlier runs load)
        self.smooth, self.msi, self.aux_classifiers, self.concat_classifier = _pmsi_heads(
            chs, num_classes, feature_size, descriptor, smooth, tap_stride, msi, msi_dropout, bn_momentum)
        self.twin = None
        if twin:
            unknown = set(twin) - {"feature_size", "descriptor", "smooth", "tap_stride", "msi", "msi_dropout", "bn_momentum"}
            if unknown:
                raise ValueError(f"twin head options {sorted(unknown)} are unknown")
            self.twin = PMSIHeadSet(chs, num_classes, **{"msi": msi, "msi_dropout": msi_dropout,
                                                         "bn_momentum": bn_momentum, **twin})
            own = {TWIN + r: tuple(TWIN + h for h in heads) for r, heads in type(self).inference_rules.items()}
            self.inference_rules = {**own, **type(self).inference_rules}  # twin_concat first: the default

    def _head_logits(self, taps: list[torch.Tensor], heads) -> dict[str, torch.Tensor]:
        """Logits of ``heads``: the released set's by name, the twin's with the ``twin_`` prefix;
        a set none of whose heads is asked for is not run."""
        out = {}
        for hs, prefix in ((self, ""), (self.twin, TWIN)):
            names = [h[len(prefix):] for h in heads if h.startswith(TWIN) == bool(prefix)]
            if names:
                out.update({prefix + h: v for h, v in _head_set_logits(hs, taps, names).items()})
        return out

    def forward_heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        heads = type(self).inference_rules["combined"]
        if self.twin is not None:
            heads = heads + self.inference_rules[TWIN + "combined"]
        return self._head_logits(self.backbone(x), heads)

    def forward_rule(self, x: torch.Tensor, rule: str | None = None) -> torch.Tensor:
        """Only ``rule``'s heads (``concat`` never runs the aux classifiers, ``twin_*`` never runs
        the released heads); summed by ``combine``, so it equals ``combine(forward_heads(x), rule)``."""
        rule = rule or self.default_rule
        return self.combine(self._head_logits(self.backbone(x), self.inference_rules[rule]), rule)
