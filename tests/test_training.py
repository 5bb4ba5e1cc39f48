"""Trainer behaviour on tiny data: gradients per phase, freezing, schedule, resume equality."""

import contextlib
import math

import pytest
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import StepContext, get_method
from fgvc_mobile.models.load import read_checkpoint
from fgvc_mobile.train.trainer import _lr_lambda, fit

from conftest import TINY_PMSI, tiny_config


def _ctx(recipe, **opts):
    return StepContext(
        criterion=torch.nn.CrossEntropyLoss(),
        generator=torch.Generator().manual_seed(0),
        epoch=0,
        options=recipe.resolve_options(opts),
        autocast=contextlib.nullcontext,
    )


def test_each_phase_reaches_the_parameters_it_should():
    recipe = get_method("rmg-pmsi")
    model = recipe.build_model(4, **TINY_PMSI).train()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    groups = {
        "backbone": list(model.backbone.parameters()),
        **{f"smooth{i}": list(m.parameters()) for i, m in enumerate(model.smooth)},
        "msi": list(model.msi.parameters()),
        **{f"aux{i}": list(m.parameters()) for i, m in enumerate(model.aux_classifiers)},
        "concat": list(model.concat_classifier.parameters()),
    }
    expected_head = ["aux0", "aux1", "aux2", "concat"]
    steps = list(recipe.training_steps(model, x, y, _ctx(recipe)))
    assert [n for n, _ in steps] == ["phase1", "phase2", "phase3", "phase4"]
    for (name, loss), head in zip(steps, expected_head):
        params = [p for ps in groups.values() for p in ps]
        grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
        reached, i = {}, 0
        for g, ps in groups.items():
            reached[g] = any(gr is not None for gr in grads[i : i + len(ps)])
            i += len(ps)
        # the MSI gate mixes all taps: every phase reaches all three smooth convs and the backbone
        assert reached["backbone"] and reached["msi"], name
        assert all(reached[f"smooth{i}"] for i in range(3)), name
        heads = {g for g in expected_head if reached[g]}
        assert heads == {head}, f"{name} trained {heads}"


def test_baseline_single_step():
    recipe = get_method("baseline")
    model = recipe.build_model(3)
    steps = list(recipe.training_steps(model, torch.randn(2, 3, 32, 32), torch.tensor([0, 2]), _ctx(recipe)))
    assert [n for n, _ in steps] == ["loss"]


def test_cosine_schedule_decays_to_zero_with_warmup():
    f = _lr_lambda(total_steps=100, warmup_steps=10)
    assert f(0) == pytest.approx(0.1)
    assert f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5)
    assert f(100) == pytest.approx(0.0, abs=1e-12)
    assert f(99) < 0.01
    g = _lr_lambda(total_steps=100, warmup_steps=0)
    assert g(25) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))


def test_frozen_backbone_is_not_stepped(tiny_folder, tmp_path):
    cfg = tiny_config(tiny_folder, tmp_path / "run", freeze_backbone_epochs=1, epochs=1)
    from fgvc_mobile.methods import get_method as gm

    torch.manual_seed(0)
    fit(cfg, show_progress=False)
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt")
    # same initialisation again: fit seeds everything from cfg.seed before building the model
    from fgvc_mobile.train.trainer import seed_everything

    seed_everything(cfg.seed)
    fresh = gm("rmg-pmsi").build_model(3, **TINY_PMSI).state_dict()
    changed = {k for k in fresh if not torch.equal(fresh[k], ckpt["model"][k])}
    backbone_weights = [k for k in fresh if k.startswith("backbone.") and k.endswith("weight")]
    # BN running statistics still update in train mode; weights must not
    assert not any(k in changed for k in backbone_weights if "running" not in k)
    assert any(k.startswith("concat_classifier.") for k in changed)


def test_resume_after_stop_is_bit_exact(tiny_folder, tmp_path, monkeypatch):
    """A 2-epoch run stopped after epoch 1 (as a crash would) and resumed equals the full run."""
    import fgvc_mobile.train.trainer as trainer

    full = tmp_path / "full"
    fit(tiny_config(tiny_folder, full, epochs=2), show_progress=False)

    stopped = tmp_path / "stopped"
    real_train = trainer.train_one_epoch
    calls = {"n": 0}

    def crash_on_second_epoch(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real_train(*a, **k)

    monkeypatch.setattr(trainer, "train_one_epoch", crash_on_second_epoch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(tiny_config(tiny_folder, stopped, epochs=2), show_progress=False)
    monkeypatch.setattr(trainer, "train_one_epoch", real_train)
    assert read_checkpoint(stopped / "last.pt")["epoch"] == 1
    fit(tiny_config(tiny_folder, stopped, epochs=2, resume=str(stopped / "last.pt")), show_progress=False)

    a, b = read_checkpoint(full / "last.pt"), read_checkpoint(stopped / "last.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["history"][-1]["top1/concat"] == b["history"][-1]["top1/concat"]
    assert (stopped / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs, no duplicates


def test_interrupt_writes_resumable_checkpoint(tiny_folder, tmp_path, monkeypatch):
    calls = {"n": 0}
    recipe = get_method("rmg-pmsi")
    orig = type(recipe).training_steps

    def interrupt_on_third_batch(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        yield from orig(self, *a, **k)

    monkeypatch.setattr(type(recipe), "training_steps", interrupt_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(tiny_folder, tmp_path / "r", epochs=1), show_progress=False)
    ckpt = read_checkpoint(tmp_path / "r" / "last.pt")
    assert ckpt["epoch"] == 0 and ckpt["batches_done"] == 2
    monkeypatch.setattr(type(recipe), "training_steps", orig)
    fit(tiny_config(tiny_folder, tmp_path / "r", epochs=1, resume=str(tmp_path / "r" / "last.pt")), show_progress=False)
    assert read_checkpoint(tmp_path / "r" / "last.pt")["epoch"] == 1


def test_resume_refuses_other_method(tiny_folder, tmp_path):
    fit(tiny_config(tiny_folder, tmp_path / "r", epochs=1), show_progress=False)
    with pytest.raises(FGVCError, match="method"):
        cfg = tiny_config(tiny_folder, tmp_path / "r", method="baseline", resume=str(tmp_path / "r" / "last.pt"))
        # the checkpoint's config wins except for epochs/workers/device/out; a method change is refused
        cfg_dict = cfg.to_dict()
        from fgvc_mobile.train import trainer

        ckpt = read_checkpoint(tmp_path / "r" / "last.pt")
        trainer._compatible_resume(type(cfg)(**cfg_dict), ckpt, ckpt["classes"])


def test_bad_image_size_for_rmg(tiny_folder, tmp_path):
    with pytest.raises(FGVCError, match="divisible by 2\\^3"):
        fit(tiny_config(tiny_folder, tmp_path / "r", img_size=36, resize=40), show_progress=False)


def test_batch_larger_than_data(tiny_folder, tmp_path):
    with pytest.raises(FGVCError, match="batch-size"):
        fit(tiny_config(tiny_folder, tmp_path / "r", batch_size=1000), show_progress=False)
