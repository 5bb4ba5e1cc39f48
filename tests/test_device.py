"""Device and dtype correctness: every tensor RMG, PMG's jigsaw, the heads and the recipes create
follows the input's device and dtype.

Without a GPU the mix-up a CUDA run would crash on (a CPU index meeting a CUDA tensor) is caught
on the ``meta`` device: a :class:`TorchFunctionMode` sees every torch call of a training step and
records each one whose tensor arguments sit on more than one device. With CUDA present, a real
training step runs there as well.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from fgvc_mobile.methods import StepContext, get_method
from fgvc_mobile.rmg import jigsaw, recursive_mosaic

from conftest import TINY_PMSI

TINY_MODEL = {"rmg-pmsi": TINY_PMSI, "pmg": TINY_PMSI}


class DeviceMixes(TorchFunctionMode):
    """Records every torch call whose tensor arguments span several devices.

    A 0-dim CPU tensor beside a tensor of another device is allowed (torch treats it as a
    scalar, on every device).
    """

    def __init__(self):
        super().__init__()
        self.mixes: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        devices = {t.device for t in tensors if not (t.device.type == "cpu" and t.dim() == 0)}
        if len(devices) > 1:
            self.mixes.append(f"{getattr(func, '__name__', func)}: {sorted(map(str, devices))}")
        return func(*args, **kwargs)


def _ctx(recipe, options=None):
    opts = recipe.resolve_options(options or {})
    return StepContext(criterion=recipe.criterion(opts), generator=torch.Generator().manual_seed(0), epoch=0,
                       options=opts, autocast=contextlib.nullcontext)


def test_the_detector_catches_a_cpu_index_on_another_device():
    """The check itself: the jigsaw bug as it was (a CPU permutation indexing a meta tensor)."""
    x = torch.zeros(2, 3, 4, 4, device="meta")
    with DeviceMixes() as mode:
        torch.gather(x, 1, torch.zeros(2, 3, 4, 4, dtype=torch.long))
    assert mode.mixes and "gather" in mode.mixes[0]


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.uint8])
def test_rmg_and_jigsaw_follow_device_and_dtype(per_image, dtype):
    x = torch.zeros(3, 3, 16, 16, dtype=dtype, device="meta")
    for augment, g in ((recursive_mosaic, 3), (jigsaw, 4), (jigsaw, 8)):
        with DeviceMixes() as mode:
            y = augment(x, g, per_image=per_image, generator=torch.Generator().manual_seed(0))
        assert mode.mixes == [], f"{augment.__name__}({g}): {mode.mixes}"
        assert (y.device, y.dtype, y.shape) == (x.device, dtype, x.shape)


@pytest.mark.parametrize("method", ["rmg-pmsi", "pmg", "baseline", "db-gce", "cmal"])
def test_every_training_step_stays_on_the_input_device(method):
    """Model, images and labels on ``meta``: any tensor made on the CPU and used with them is a mix."""
    recipe = get_method(method)
    model = recipe.build_model(4, **TINY_MODEL.get(method, {})).to("meta").train()
    ctx = _ctx(recipe)
    images, labels = torch.zeros(4, 3, 64, 64, device="meta"), torch.zeros(4, dtype=torch.long, device="meta")
    steps = []
    with DeviceMixes() as mode:
        for name, loss in recipe.training_steps(model, images, labels, ctx):
            loss.backward()
            steps.append((name, loss.device.type))
    assert mode.mixes == [], mode.mixes
    assert steps and all(dev == "meta" for _, dev in steps), steps


@pytest.mark.parametrize("method", ["rmg-pmsi", "pmg", "baseline", "cmal", "elope"])
def test_heads_follow_the_input_device_and_dtype(method):
    """Inference of every head (and rule) on ``meta``, and in float64 on the CPU: a head that makes
    a float32 tensor of its own would turn float64 logits into a mix or a float32 result."""
    recipe = get_method(method)
    model = recipe.build_model(4, **TINY_MODEL.get(method, {})).eval().to("meta")
    with torch.no_grad(), DeviceMixes() as mode:
        out = model(torch.zeros(2, 3, 64, 64, device="meta"))
    assert mode.mixes == [], mode.mixes
    assert {v.device.type for v in out.values()} == {"meta"}
    with torch.no_grad():
        model = recipe.build_model(4, **TINY_MODEL.get(method, {})).eval().to(torch.float64)
        out = model(torch.rand(2, 3, 64, 64, dtype=torch.float64))
    assert {k: v.dtype for k, v in out.items()} == {k: torch.float64 for k in out}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (meta-device checks above stand in)")
@pytest.mark.parametrize("method", ["rmg-pmsi", "pmg", "baseline", "cmal", "elope", "db-gce"])
def test_a_training_step_on_cuda(method):
    recipe = get_method(method)
    device = torch.device("cuda")
    model = recipe.build_model(4, **TINY_MODEL.get(method, {})).to(device).train()
    ctx = _ctx(recipe)
    ctx.state = recipe.setup(model, None, device, ["a", "b", "c", "d"])
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    images, labels = torch.rand(4, 3, 64, 64, device=device), torch.tensor([0, 1, 2, 3], device=device)
    for _, loss in recipe.training_steps(model, images, labels, ctx):
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert loss.device.type == "cuda" and torch.isfinite(loss)
