"""Head building blocks: PMSI smooth convs, the MSI gate and the BN-Linear-ELU classifiers.

Shapes follow docs/rmg-pmsi.md: F = ``feature_size``, D = ``descriptor`` (640 as released).
The light variants (``smooth="dwsep"``, ``tap_stride`` > 1) exist to make the deploy graph
affordable on a phone; they are configs of the same head, not a different method.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int, groups: int = 1, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class SmoothConv(nn.Sequential):
    """Conv1x1(C->F)+BN+ReLU, then Conv3x3(F->D)+BN+ReLU, then global max pool -> [B, D].

    ``smooth="dwsep"`` replaces the 3x3 F->D conv by depthwise 3x3 + pointwise 1x1;
    ``tap_stride`` > 1 applies the 3x3 conv with that stride (the tap is reduced before the
    heavy conv). ``bn_momentum`` 0.01 is the release's (PyTorch's default 0.1 here).
    """

    def __init__(self, cin: int, feature_size: int, descriptor: int, smooth: str = "full", tap_stride: int = 1,
                 bn_momentum: float = 0.1):
        layers = conv_bn_relu(cin, feature_size, 1)
        if smooth == "full":
            layers += conv_bn_relu(feature_size, descriptor, 3, stride=tap_stride)
        elif smooth == "dwsep":
            layers += conv_bn_relu(feature_size, feature_size, 3, groups=feature_size, stride=tap_stride)
            layers += conv_bn_relu(feature_size, descriptor, 1)
        else:
            raise ValueError(f"smooth conv must be 'full' or 'dwsep', got {smooth!r}")
        for m in layers:
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = bn_momentum
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(1)]
        super().__init__(*layers)


class MSIGate(nn.Module):
    """Multi-Stage Interaction: x_m = Linear(F->D)(Dropout(Linear(3D->F)(x_cat))); m_i = sigmoid(x_m*x_i)*x_i + x_i."""

    def __init__(self, descriptor: int, feature_size: int, num_taps: int = 3, dropout: float = 0.5):
        super().__init__()
        self.reduce = nn.Linear(num_taps * descriptor, feature_size)
        self.dropout = nn.Dropout(dropout)
        self.expand = nn.Linear(feature_size, descriptor)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xm = self.expand(self.dropout(self.reduce(torch.cat(xs, dim=1))))
        return [torch.sigmoid(xm * x) * x + x for x in xs]


class BNClassifier(nn.Sequential):
    """BN1d(in) -> Linear(in->F) -> BN1d(F) -> ELU -> Linear(F->C), as in PMG/PMSI."""

    def __init__(self, cin: int, feature_size: int, num_classes: int):
        super().__init__(
            nn.BatchNorm1d(cin),
            nn.Linear(cin, feature_size),
            nn.BatchNorm1d(feature_size),
            nn.ELU(inplace=True),
            nn.Linear(feature_size, num_classes),
        )
