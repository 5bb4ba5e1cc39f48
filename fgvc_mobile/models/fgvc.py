"""Models: a tapped MobileNetV2 plus method heads; ``forward`` returns named logits.

Heads that exist only for training are named ``aux_*`` so the deploy graph can drop them.
Each model declares its inference rules: a rule is the list of heads whose logits are summed.
"""

from __future__ import annotations

import torch
from torch import nn

from fgvc_mobile.models.backbone import MobileNetV2Taps
from fgvc_mobile.models.heads import BNClassifier, MSIGate, SmoothConv


class FGVCModel(nn.Module):
    """Base class: ``backbone`` (tapped MobileNetV2) + heads; subclasses set the rules."""

    #: rule name -> heads summed for it; the first rule is the default for deployment
    inference_rules: dict[str, tuple[str, ...]] = {}

    def __init__(self, num_classes: int, width_mult: float = 1.0):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = MobileNetV2Taps(width_mult)

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

    @staticmethod
    def apply_rule(outputs: dict[str, torch.Tensor], heads: tuple[str, ...]) -> torch.Tensor:
        out = outputs[heads[0]]
        for h in heads[1:]:
            out = out + outputs[h]
        return out


class BaselineMobileNetV2(FGVCModel):
    """Plain MobileNetV2 classifier (torchvision's head: avg pool, dropout 0.2, linear)."""

    inference_rules = {"classifier": ("classifier",)}

    def __init__(self, num_classes: int, width_mult: float = 1.0, dropout: float = 0.2):
        super().__init__(num_classes, width_mult)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.backbone.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.backbone(x)[-1].mean(dim=(2, 3))
        return {"classifier": self.classifier(self.dropout(f))}


class PMSIModel(FGVCModel):
    """RMG-PMSI: smooth conv per tap, MSI gate, three stage classifiers and a concat classifier.

    ``msi=False`` gives PMG's heads (same smooth convs and classifiers, no interaction gate).
    """

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
    ):
        super().__init__(num_classes, width_mult)
        strides = (tap_stride,) * 3 if isinstance(tap_stride, int) else tuple(tap_stride)
        chs = [t.num_chs for t in self.backbone.feature_info]
        self.smooth = nn.ModuleList(
            SmoothConv(c, feature_size, descriptor, smooth, s) for c, s in zip(chs, strides)
        )
        self.msi = MSIGate(descriptor, feature_size, len(chs), msi_dropout) if msi else None
        self.aux_classifiers = nn.ModuleList(BNClassifier(descriptor, feature_size, num_classes) for _ in chs)
        self.concat_classifier = BNClassifier(len(chs) * descriptor, feature_size, num_classes)

    def descriptors(self, x: torch.Tensor) -> list[torch.Tensor]:
        """m_1..m_3: the (MSI-gated) pooled descriptors of the three taps."""
        xs = [sm(t) for sm, t in zip(self.smooth, self.backbone(x))]
        return self.msi(xs) if self.msi is not None else xs

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        ms = self.descriptors(x)
        out = {f"aux_stage{i + 1}": clf(m) for i, (clf, m) in enumerate(zip(self.aux_classifiers, ms))}
        out["concat"] = self.concat_classifier(torch.cat(ms, dim=1))
        return out

    def deploy_forward(self, x: torch.Tensor, rule: str) -> torch.Tensor:
        """Logits of ``rule`` computing only its heads (``concat`` never runs the aux classifiers).

        Used by the export deploy graph; the sum order is ``apply_rule``'s, so the result equals
        ``apply_rule(forward(x), heads)`` exactly.
        """
        heads = self.inference_rules[rule]
        ms = self.descriptors(x)
        out = {}
        for h in heads:
            if h == "concat":
                out[h] = self.concat_classifier(torch.cat(ms, dim=1))
            else:
                i = int(h[len("aux_stage"):]) - 1
                out[h] = self.aux_classifiers[i](ms[i])
        return self.apply_rule(out, heads)
