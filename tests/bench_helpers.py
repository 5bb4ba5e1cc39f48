"""Tiny artifacts for benchmark tests: a random-init baseline checkpoint and ONNX exports of it."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fgvc_mobile.data.preprocess import PreprocessConfig

PRE = PreprocessConfig(input_size=32, resize=(36, 36))


class Logits(torch.nn.Module):
    """Deploy view of a model: float NCHW normalised input -> the default rule's logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_rule(x)


class Uint8Logits(torch.nn.Module):
    """uint8 NHWC raw RGB in, normalisation inside the graph (what phones feed)."""

    def __init__(self, model, pre: PreprocessConfig):
        super().__init__()
        self.inner = Logits(model)
        self.register_buffer("mean", torch.tensor(pre.mean).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(pre.std).view(1, 3, 1, 1) * 255)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2).float()
        return self.inner((x - self.mean) / self.std)


class Permuted(torch.nn.Module):
    """The same logits with the classes in another order (labels reordered in its manifest)."""

    def __init__(self, inner, perm):
        super().__init__()
        self.inner, self.perm = inner, list(perm)

    def forward(self, x):
        return self.inner(x)[:, self.perm]


def folder_tensors(root: Path, split: str, classes: list[str]):
    """Normalised eval tensors and labels of an image folder split, via the training transform."""
    from fgvc_mobile.data.images import load_rgb
    from fgvc_mobile.data.transforms import build_transform

    tf = build_transform(PRE, train=False)
    paths = sorted((root / split).rglob("*.png"))
    return torch.stack([tf(load_rgb(p)) for p in paths]), torch.tensor([classes.index(p.parent.name) for p in paths])


@torch.no_grad()
def make_checkpoint(path: Path, classes: list[str], data_root: Path, seed: int = 0, outlier: float = 0.0):
    """A tiny baseline whose predictions depend on the image (not a constant class).

    Random weights give the same class for every input; BN statistics taken from the train
    images and a least-squares head make the predictions vary, without any training loop.
    ``outlier``: see :func:`add_outlier_channel` (a model built to quantize badly).
    """
    from fgvc_mobile.methods import get_method
    from fgvc_mobile.train.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    model = get_method("baseline").build_model(len(classes), width_mult=0.25)
    if outlier:
        add_outlier_channel(model, outlier)
    x, y = folder_tensors(data_root, "train", classes)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None
            mod.reset_running_stats()
    model.train()(x)
    model.eval()
    f = model.backbone(x)[-1].mean((2, 3))
    if outlier:  # nearest class mean: wide margins, so only the outlier (not the head) decides int8's fate
        g = f.mean(0)  # centred: no large common term for int8 weights to round away
        w = torch.stack([f[y == c].mean(0) for c in range(len(classes))]) - g
        model.classifier.weight.copy_(w)
        model.classifier.bias.copy_(-(w @ g) - 0.5 * (w * w).sum(1))
    else:
        sol = torch.linalg.lstsq(torch.cat([f, torch.ones(len(f), 1)], 1),
                                 torch.nn.functional.one_hot(y, len(classes)).float(), driver="gelsd").solution
        model.classifier.weight.copy_(sol[:-1].T)
        model.classifier.bias.copy_(sol[-1])
    save_checkpoint(path, model=model.state_dict(), method="baseline", classes=list(classes),
                    preprocess=PRE.to_dict(), model_kwargs={"width_mult": 0.25})
    return model


@torch.no_grad()
def add_outlier_channel(model, factor: float) -> None:
    """Make channel 0 of the first block's output (the residual stream, never clipped) ``factor`` times
    larger and the next 1x1 conv read it ``factor`` times weaker: float is unaffected, but a per-tensor
    int8 range wide enough for that channel leaves the others a few levels -- an outlier channel, as
    trained models have. Applied before BN statistics and the head are fitted."""
    stage = model.backbone.stages[0]
    bn, expand = stage[1].conv[2], stage[2].conv[0][0]
    for block in model.backbone.modules():  # the other residual blocks pass their input through: a random
        if getattr(block, "use_res_connect", False) and block is not stage[1]:  # net is then not chaotic
            block.conv[-1].weight.zero_()
            block.conv[-1].bias.zero_()
    bn.weight[0] *= factor
    bn.bias[0] *= factor
    expand.weight[:, 0] /= factor


def manifest(model_file: str, classes, *, layout, dtype, in_graph, shape, checkpoint=None, fmt="onnx",
             precision="fp32", input_name="input", output_name="logits") -> dict:
    m = {
        "schema_version": 1, "model_file": model_file, "format": fmt, "precision": precision,
        "method": "baseline", "inference_rule": "classifier", "labels": list(classes),
        "input": {"name": input_name, "layout": layout, "dtype": dtype, "shape": shape, "color": "RGB",
                  "normalization_in_graph": in_graph},
        "output": {"name": output_name, "dtype": "float32", "shape": [1, len(classes)], "kind": "logits"},
        "preprocess": {k: v for k, v in PRE.to_dict().items() if k in ("input_size", "resize", "mean", "std", "interpolation")},
    }
    if checkpoint:
        m["source"] = {"checkpoint": checkpoint}
    return m


def export_onnx(module, example, path: Path, dynamic_batch: bool) -> None:
    axes = {"input": {0: "n"}, "logits": {0: "n"}} if dynamic_batch else None
    torch.onnx.export(module.eval(), (example,), str(path), dynamo=False, input_names=["input"],
                      output_names=["logits"], dynamic_axes=axes)


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=1))
    return path
