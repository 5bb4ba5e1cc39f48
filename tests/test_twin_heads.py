"""Twin head sets: a cheap PMSI head set trained beside the released heads and deployed alone."""

from __future__ import annotations

import contextlib

import pytest
import torch

from conftest import tiny_config
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.deploy import DeployModel
from fgvc_mobile.methods.base import StepContext, get_method
from fgvc_mobile.models.fgvc import PMSIModel
from fgvc_mobile.models.presets import PMSI_HEAD_PRESETS, deploy_cost

SIZE = 64


@pytest.fixture(scope="module")
def twin():
    torch.manual_seed(0)
    return get_method("rmg-pmsi").build_model(7, twin="light").eval()


def test_rules_and_default(twin):
    assert list(twin.inference_rules) == ["twin_concat", "twin_combined", "concat", "combined"]
    assert twin.default_rule == "twin_concat"
    assert list(PMSIModel.inference_rules) == ["concat", "combined"]  # the class is untouched
    assert PMSIModel(7).default_rule == "concat"


def test_twin_deploy_graph_costs_what_the_twin_preset_costs(twin):
    light = PMSIModel(7, **PMSI_HEAD_PRESETS["light"]).eval()
    for rule in ("concat", "combined"):
        assert deploy_cost(twin, SIZE, "twin_" + rule) == deploy_cost(light, SIZE, rule)
        assert deploy_cost(twin, SIZE, rule) == deploy_cost(PMSIModel(7).eval(), SIZE, rule)
    assert not twin.training  # counting did not flip the model into train mode
    d = DeployModel(twin, input_size=SIZE)
    assert d.rule == "twin_concat"
    assert {"smooth", "msi", "aux_classifiers", "concat_classifier", "twin.aux_classifiers"} <= set(d.rewrites["pruned"])


@torch.no_grad()
def test_every_rule_deploys_equal_to_the_training_model(twin):
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    out = twin(x)
    assert set(out) == {f"{p}{h}" for p in ("", "twin_") for h in ("aux_stage1", "aux_stage2", "aux_stage3", "concat")}
    for rule, heads in twin.inference_rules.items():
        ref = sum(out[h] for h in heads)
        torch.testing.assert_close(DeployModel(twin, rule, input_size=SIZE)(x), ref, atol=1e-4, rtol=1e-4)


def test_twin_option_resolution():
    recipe = get_method("rmg-pmsi")
    kw = recipe.resolve_model_kwargs({"twin": {"preset": "light", "descriptor": 384}})
    assert kw["twin"] == {**PMSI_HEAD_PRESETS["light"], "descriptor": 384}
    assert not recipe.resolve_model_kwargs({}).get("twin")
    with pytest.raises(FGVCError, match="twin preset 'huge'"):
        recipe.resolve_model_kwargs({"twin": "huge"})
    with pytest.raises(FGVCError, match="twin_temperature"):
        recipe.resolve_options({"twin_temperature": 0})
    with pytest.raises(ValueError, match="unknown"):
        PMSIModel(7, twin={"feature_size": 8, "colour": "red"})


def test_each_phase_trains_the_twin_classifier_of_that_phase():
    recipe = get_method("rmg-pmsi")
    torch.manual_seed(0)
    model = recipe.build_model(4, twin={"feature_size": 8, "descriptor": 16, "smooth": "dwsep"}).train()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])

    opts = recipe.resolve_options({})
    ctx = StepContext(criterion=recipe.criterion(opts), generator=torch.Generator().manual_seed(0), epoch=0,
                      options=opts, autocast=contextlib.nullcontext)
    for i, (name, loss) in enumerate(recipe.training_steps(model, x, y, ctx)):
        model.zero_grad()
        loss.backward()
        if i < 3:
            assert model.twin.aux_classifiers[i][-1].weight.grad is not None, name
            assert model.twin.concat_classifier[-1].weight.grad is None, name
        else:
            assert model.twin.concat_classifier[-1].weight.grad is not None
            assert all(c[-1].weight.grad is None for c in model.twin.aux_classifiers)
    # the last phase's loss includes the distillation term only when twin_kd > 0
    losses = {}
    for kd in (0.0, 1.0):
        torch.manual_seed(0)
        o = recipe.resolve_options({"twin_kd": kd})
        c = StepContext(criterion=recipe.criterion(o), generator=torch.Generator().manual_seed(0), epoch=0,
                        options=o, autocast=contextlib.nullcontext)
        model.eval()  # deterministic forward (no dropout, running BN statistics)
        losses[kd] = float(list(recipe.training_steps(model, x, y, c))[-1][1].detach())
    assert losses[1.0] > losses[0.0]


def test_a_twin_run_trains_selects_and_exports_the_twin(tiny_folder, tmp_path):
    from fgvc_mobile.models.load import load_trained
    from fgvc_mobile.train.trainer import fit

    run = tmp_path / "twin"
    fit(tiny_config(tiny_folder, run, max_steps_per_epoch=2,
                    model={"feature_size": 16, "descriptor": 32, "twin": {"feature_size": 8, "descriptor": 16}}),
        show_progress=False)
    loaded = load_trained(run / "best.pt")
    model, meta = loaded.model, loaded.meta
    assert meta["best"]["metric"] == "top1/twin_concat"
    assert meta["model_kwargs"]["twin"]["feature_size"] == 8
    assert {"top1/twin_concat", "top1/twin_combined", "top1/concat", "top1/combined"} <= set(meta["history"][-1])
    assert DeployModel(model, input_size=32).rule == "twin_concat"


def test_the_twin_heads_train_the_backbone_too():
    """What the docs say (models/fgvc.py, docs/deploy_cost.md): the twin's losses reach the backbone."""
    from fgvc_mobile.models.fgvc import TWIN

    torch.manual_seed(0)
    model = get_method("rmg-pmsi").build_model(4, twin={"feature_size": 8, "descriptor": 16, "smooth": "dwsep"}).train()
    out = model(torch.randn(4, 3, 32, 32))
    twin_only = sum(torch.nn.functional.cross_entropy(out[TWIN + h], torch.tensor([0, 1, 2, 3]))
                    for h in ("aux_stage1", "aux_stage2", "aux_stage3", "concat"))
    twin_only.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)
    released = [p.grad for n, p in model.named_parameters() if n.startswith("concat_classifier.")]
    assert all(g is None for g in released)  # and they leave the released heads alone
