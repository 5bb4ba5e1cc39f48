"""The deploy graph: a separate module built from a trained model, never the model itself.

``DeployModel`` deep-copies the trained model and returns ONE logits tensor for an explicit
inference rule: the model's ``forward_rule(x, rule)``, which computes only what the rule needs
(``PMSIModel``'s ``concat`` never runs the ``aux_*`` classifiers). Multi-pass pipelines stay one
graph (CMAL's fusion: pass 1, the attention crop as gathers, pass 2), so every artifact takes one
image and returns one logits tensor; ``backbone_passes`` says how many backbone runs that graph
holds. On the copy:

* submodules the deploy forward never calls are replaced by :class:`Pruned` placeholders, so the
  deploy graph's parameter count is what the artifact really carries; pruning is kept only if
  the logits are unchanged afterwards;
* rewrites for exporters, each exact or within float rounding: BatchNorm folded into the
  adjacent conv/linear, ``AdaptiveMax/AvgPool2d(1)`` replaced by global reductions (LiteRT has
  no lowering for adaptive max pooling), ``nn.ELU`` rewritten so that int8 calibration does not
  see exp of large activations (:class:`BoundedELU`).

Input adapters put preprocessing in the graph: ``uint8-nhwc`` takes raw 0..255 RGB in NHWC
(what a phone camera gives) and normalises inside; ``float-nchw`` takes the normalised tensor.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import to_float_nchw
from fgvc_mobile.models.complexity import count_macs, count_params
from fgvc_mobile.models.fgvc import FGVCModel


class Pruned(nn.Module):
    """Stands in for a submodule the deploy rule never calls; calling it is a bug."""

    def __init__(self, name: str):
        super().__init__()
        self.pruned_name = name

    def forward(self, *args, **kwargs):
        raise RuntimeError(f"deploy graph: pruned module {self.pruned_name!r} was called")


class GlobalMaxPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3), keepdim=True)


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=True)


def _fold_bn_into_next_linear(bn: nn.BatchNorm1d, lin: nn.Linear) -> nn.Linear:
    """Linear(BN(x)) = (W * s) x + (W t + b), with s = gamma / sqrt(var + eps), t = beta - mean * s."""
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1.0 / torch.sqrt(bn.running_var + bn.eps)
    t = (bn.bias if bn.affine else 0.0) - bn.running_mean * s
    fused = nn.Linear(lin.in_features, lin.out_features, bias=True).train(lin.training)
    with torch.no_grad():
        fused.weight.copy_(lin.weight * s[None, :])
        b = lin.bias if lin.bias is not None else torch.zeros(lin.out_features)
        fused.bias.copy_(b + lin.weight @ t)
    return fused


def fold_batchnorms(module: nn.Module, groups: dict | None = None) -> int:
    """Fold every eval-mode BatchNorm adjacent to a conv/linear inside an ``nn.Sequential``.

    Handles (Conv2d, BatchNorm2d), (Linear, BatchNorm1d) and (BatchNorm1d, Linear). In place;
    call it on a copy. Returns the number of BatchNorms folded. ``groups``, when given, receives
    ``{fused module name: names of the modules folded into it}`` (QAT writes trained folded
    weights back through it, ``train/qat.py``).
    """
    folded = 0
    for path, seq in [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Sequential)]:
        i = 0
        while True:
            names = [n for n, m in seq._modules.items() if not isinstance(m, nn.Identity)]  # folded BNs skipped
            if i >= len(names) - 1:
                break
            a, b = seq._modules[names[i]], seq._modules[names[i + 1]]
            fused = None
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and b.track_running_stats:
                fused = fuse_conv_bn_eval(a, b)
            elif isinstance(a, nn.Linear) and isinstance(b, nn.BatchNorm1d) and b.track_running_stats:
                fused = fuse_linear_bn_eval(a, b)
            elif isinstance(a, nn.BatchNorm1d) and isinstance(b, nn.Linear) and a.track_running_stats:
                fused = _fold_bn_into_next_linear(a, b)
            if fused is None:
                i += 1
                continue
            seq._modules[names[i]] = fused  # stay at i: BN1d -> Linear -> BN1d folds twice
            seq._modules[names[i + 1]] = nn.Identity()
            folded += 1
            if groups is not None:
                at, gone = (f"{path}.{n}" if path else n for n in names[i : i + 2])
                groups[at] = sorted({at, gone, *groups.get(at, ()), *groups.pop(gone, ())})
    return folded


def replace_global_pools(module: nn.Module) -> int:
    """AdaptiveMax/AvgPool2d with output 1 -> amax/mean over H, W (same values, exporter-friendly)."""
    n = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveMaxPool2d) and child.output_size in (1, (1, 1)) and not child.return_indices:
                setattr(parent, name, GlobalMaxPool())
                n += 1
            elif isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size in (1, (1, 1)):
                setattr(parent, name, GlobalAvgPool())
                n += 1
    return n


class BoundedELU(nn.Module):
    """ELU as relu(x) + alpha * (exp(min(x, 0)) - 1): the same values, but exp only ever sees x <= 0.

    Exporters lower ``nn.ELU`` to ``select(x > 0, x, exp(x) - 1)``, which evaluates exp(x) for the
    positive activations too; int8 calibration then spans exp of the largest activation and the
    negative branch (values in (-1, 0]) rounds to nothing. Measured on CMAL-Net's fusion graph
    (cub100, 500 test images, studies/methods_table.py): int8 TFLite top-1 63.8 with nn.ELU,
    74.0 with this form (fp32: 74.8).
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.relu(x)
        # min(x, 0) written as x - relu(x), not -relu(-x): a converter folds the negation into the
        # preceding linear layer and stores its weights twice (+2.3 MB on the RMG-PMSI concat head)
        return pos + self.alpha * (torch.exp(x - pos) - 1.0)


def replace_elus(module: nn.Module) -> int:
    """nn.ELU -> :class:`BoundedELU` (equal up to float rounding, quantizes well)."""
    n = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ELU):
                setattr(parent, name, BoundedELU(child.alpha))
                n += 1
    return n


def resolve_rule(model: FGVCModel, rule: str | None) -> str:
    rules = getattr(model, "inference_rules", {}) or {}
    if not rules:
        raise FGVCError(f"{type(model).__name__}: the model declares no inference rules")
    if rule is None:
        return next(iter(rules))
    if rule not in rules:
        raise FGVCError(f"--rule {rule!r}: {type(model).__name__} has rules {sorted(rules)}")
    return rule


class DeployModel(nn.Module):
    """Float NCHW normalised image -> logits of one inference rule; a deep copy, eval mode."""

    def __init__(self, model: FGVCModel, rule: str | None = None, fold_bn: bool = True, prune: bool = True,
                 input_size: int = 224, rewrite_elu: bool = True):
        super().__init__()
        self.rule = resolve_rule(model, rule)
        #: backbone runs inside this one graph (CMAL's fusion crops and runs it again: 2)
        self.backbone_passes = model.backbone_passes(self.rule)
        self.net = copy.deepcopy(model).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.rewrites: dict[str, object] = {}
        self.rewrites["global_pools"] = replace_global_pools(self.net)
        self.rewrites["elus"] = replace_elus(self.net) if rewrite_elu else 0
        self.rewrites["bn_folded"] = fold_batchnorms(self.net) if fold_bn else 0
        self.rewrites["pruned"] = self._prune(input_size) if prune else []
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_rule(x, self.rule)

    @torch.no_grad()
    def _prune(self, input_size: int) -> list[str]:
        """Replace submodules (with weights) that the rule's forward never calls; keep it only if exact."""
        x = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
        called: set[str] = set()
        names = {id(m): n for n, m in self.net.named_modules()}
        hooks = [m.register_forward_pre_hook(lambda mod, _a: called.add(names[id(mod)])) for m in self.net.modules()]
        try:
            before = self(x)
        finally:
            for h in hooks:
                h.remove()
        # a module is used when it or any descendant ran (ModuleLists are never called themselves)
        used = set(called)
        for n in called:
            parts = n.split(".")
            used.update(".".join(parts[:k]) for k in range(1, len(parts)))
        unused: list[str] = []
        for name, m in self.net.named_modules():
            if not name or name in used or any(name.startswith(u + ".") for u in unused):
                continue
            if sum(p.numel() for p in m.parameters()) + sum(b.numel() for b in m.buffers()):
                unused.append(name)
        if not unused:
            return []
        pruned = copy.deepcopy(self.net)
        for name in unused:
            parent_name, _, child = name.rpartition(".")
            parent = pruned.get_submodule(parent_name) if parent_name else pruned
            setattr(parent, child, Pruned(name))
        original, self.net = self.net, pruned
        try:
            ok = torch.equal(self(x), before)
        except (RuntimeError, AttributeError, TypeError, KeyError, IndexError):
            ok = False
        if not ok:
            self.net = original
            return []
        return unused


def pipeline_info(deploy: DeployModel) -> dict:
    """The manifest's ``pipeline``: one graph per artifact, and how many backbone runs it holds."""
    info = {"graphs": 1, "backbone_passes": deploy.backbone_passes}
    if deploy.backbone_passes > 1:
        info["note"] = (f"{deploy.backbone_passes} backbone passes and the crop between them run inside this one graph: "
                        "feed one image, read one logits output; its latency is that of all passes")
    return info


def complexity(model: nn.Module, deploy: DeployModel, input_size: int) -> dict:
    """Params and MACs of the training graph (all heads), of the deploy graph, and of a plain
    MobileNetV2 classifier at the same size: the cost a phone app compares against
    (docs/deploy_cost.md; ``MAC_BUDGET`` is the multiple a phone model should stay within)."""
    from fgvc_mobile.models.fgvc import BaselineMobileNetV2
    from fgvc_mobile.models.presets import MAC_BUDGET

    plain = BaselineMobileNetV2(model.num_classes, model.backbone.width_mult).eval()
    deploy_macs, plain_macs = count_macs(deploy, input_size), count_macs(plain, input_size)
    return {
        "train_params": count_params(model),
        "train_macs": count_macs(model, input_size),
        "deploy_params": count_params(deploy),
        "deploy_macs": deploy_macs,
        "mobilenet_v2_macs": plain_macs,
        "x_mobilenet_v2": deploy_macs / plain_macs,
        "phone_mac_budget": MAC_BUDGET,
    }


# ---- input adapters: preprocessing inside the graph -----------------------------------------


@dataclass(frozen=True)
class InputKind:
    """How an artifact takes its image; written verbatim into the manifest's ``input``."""

    name: str
    layout: str
    dtype: str
    normalization_in_graph: bool

    def shape(self, size: int) -> list[int]:
        return [1, size, size, 3] if self.layout == "NHWC" else [1, 3, size, size]


INPUT_KINDS = {
    "uint8-nhwc": InputKind("uint8-nhwc", "NHWC", "uint8", True),
    "float-nchw": InputKind("float-nchw", "NCHW", "float32", False),
}


def input_kind(name: str) -> InputKind:
    if name not in INPUT_KINDS:
        raise FGVCError(f"--input {name!r}: choose one of {sorted(INPUT_KINDS)}")
    return INPUT_KINDS[name]


class NormalizeInGraph(nn.Module):
    """Raw 0..255 RGB NCHW (any dtype) -> (x/255 - mean)/std -> ``net``."""

    def __init__(self, net: nn.Module, pre: PreprocessConfig):
        super().__init__()
        self.net = net
        mean, std = torch.tensor(pre.mean), torch.tensor(pre.std)
        self.register_buffer("scale", (1.0 / (255.0 * std)).view(1, 3, 1, 1))
        self.register_buffer("shift", (-mean / std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(torch.float32) * self.scale + self.shift)


class ChannelsLastInput(nn.Module):
    """NHWC input -> NCHW for ``net`` (for ONNX; TFLite uses litert_torch.to_channel_last_io)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2))


def with_input(deploy: nn.Module, kind: InputKind, pre: PreprocessConfig, channel_last_io=None,
               layout: str | None = None) -> nn.Module:
    """The graph an exporter converts: ``deploy`` behind the input kind's preprocessing.

    ``channel_last_io(module)`` wraps an NCHW-input module into an NHWC one (default:
    :class:`ChannelsLastInput`); ``layout="NCHW"`` keeps a uint8 input channel-first (CoreML
    images are fed by the framework, not by layout).
    """
    net = NormalizeInGraph(deploy, pre) if kind.normalization_in_graph else deploy
    if (layout or kind.layout) == "NHWC":
        net = channel_last_io(net) if channel_last_io is not None else ChannelsLastInput(net)
    return net.eval()


@torch.no_grad()
def reference_logits(deploy: nn.Module, images: np.ndarray, pre: PreprocessConfig, batch: int = 64) -> np.ndarray:
    """fp32 PyTorch deploy-graph logits for uint8 NHWC images (the parity reference)."""
    outs = [deploy(to_float_nchw(images[i : i + batch], pre)) for i in range(0, len(images), batch)]
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)
