"""The deploy graph: equal to the training model's chosen output, aux heads gone, model untouched."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.export.deploy import (
    INPUT_KINDS,
    DeployModel,
    Pruned,
    complexity,
    fold_batchnorms,
    reference_logits,
    with_input,
)
from fgvc_mobile.models.fgvc import BaselineMobileNetV2, FGVCModel, PMSIModel

SIZE = 32


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics, so folding them is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def pmsi():
    torch.manual_seed(0)
    return _randomise_bn(PMSIModel(5, feature_size=16, descriptor=32))


@pytest.fixture(scope="module")
def baseline():
    torch.manual_seed(1)
    return _randomise_bn(BaselineMobileNetV2(5))


def _x(n=3, seed=2):
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("rule", ["concat", "combined"])
def test_pmsi_deploy_equals_training_output(pmsi, rule):
    x = _x()
    with torch.no_grad():
        expected = pmsi.combine(pmsi.forward_heads(x), rule)
        exact = DeployModel(pmsi, rule, fold_bn=False, rewrite_elu=False, input_size=SIZE)(x)
        folded = DeployModel(pmsi, rule, input_size=SIZE)(x)
    assert torch.equal(exact, expected)  # same ops, same order: bit-identical
    rounded = DeployModel(pmsi, rule, fold_bn=False, input_size=SIZE)(x)  # BoundedELU: float rounding only
    assert torch.allclose(rounded, expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(folded, expected, rtol=1e-4, atol=1e-5)
    assert folded.shape == (3, 5)


def test_baseline_deploy_equals_training_output(baseline):
    x = _x()
    with torch.no_grad():
        expected = baseline(x)["classifier"]
        assert torch.equal(DeployModel(baseline, fold_bn=False, input_size=SIZE)(x), expected)
        assert torch.allclose(DeployModel(baseline, input_size=SIZE)(x), expected, rtol=1e-4, atol=1e-5)


def test_concat_rule_never_computes_aux_classifiers(pmsi):
    deploy = DeployModel(pmsi, "concat", input_size=SIZE)
    assert "aux_classifiers" in deploy.rewrites["pruned"]
    assert isinstance(deploy.net.aux_classifiers, Pruned)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deploy.modules())  # all folded
    assert not any(isinstance(m, nn.AdaptiveMaxPool2d) for m in deploy.modules())
    combined = DeployModel(pmsi, "combined", input_size=SIZE)
    assert combined.rewrites["pruned"] == []
    c = complexity(pmsi, deploy, SIZE)
    cc = complexity(pmsi, combined, SIZE)
    assert c["deploy_params"] < cc["deploy_params"] < c["train_params"]  # BN folded away, aux heads gone
    assert c["deploy_macs"] < cc["deploy_macs"] <= c["train_macs"]


def test_complexity_compares_with_a_plain_mobilenet_v2_of_the_same_classes(pmsi):
    base = BaselineMobileNetV2(pmsi.num_classes).eval()
    c_base = complexity(base, DeployModel(base, input_size=SIZE), SIZE)
    assert c_base["x_mobilenet_v2"] == pytest.approx(1.0, rel=1e-3)  # BN folding removes no MACs counted
    c = complexity(pmsi, DeployModel(pmsi, "concat", input_size=SIZE), SIZE)
    assert c["mobilenet_v2_macs"] == c_base["mobilenet_v2_macs"]
    assert c["x_mobilenet_v2"] == pytest.approx(c["deploy_macs"] / c_base["deploy_macs"], rel=1e-3)
    assert c["x_mobilenet_v2"] < c["phone_mac_budget"]  # this fixture's heads are tiny
    released = PMSIModel(pmsi.num_classes).eval()
    c_rel = complexity(released, DeployModel(released, "concat", input_size=SIZE), SIZE)
    assert c_rel["x_mobilenet_v2"] > c_rel["phone_mac_budget"]  # the released heads are over the phone budget


def test_training_model_is_not_mutated(pmsi):
    before = copy.deepcopy(pmsi.state_dict())
    pmsi.train()
    DeployModel(pmsi, "concat", input_size=SIZE)
    assert pmsi.training  # mode untouched
    pmsi.eval()
    after = pmsi.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert isinstance(pmsi.aux_classifiers, nn.ModuleList)
    assert any(isinstance(m, nn.AdaptiveMaxPool2d) for m in pmsi.modules())


class _NoHook(FGVCModel):
    """A model with the default forward_rule: forward_heads computes an aux head the default rule does not use."""

    inference_rules = {"main": ("main",), "both": ("main", "aux_extra")}

    def __init__(self):
        super().__init__(4)
        self.head = nn.Sequential(nn.Linear(self.backbone.num_features, 8), nn.BatchNorm1d(8), nn.Linear(8, 4))
        self.aux_extra = nn.Linear(self.backbone.num_features, 4)

    def forward_heads(self, x):
        f = self.backbone(x)[-1].mean(dim=(2, 3))
        return {"main": self.head(f), "aux_extra": self.aux_extra(f)}


def test_generic_fallback_sums_the_rule_heads():
    torch.manual_seed(3)
    model = _randomise_bn(_NoHook())
    x = _x()
    with torch.no_grad():
        out = model(x)
        for rule, heads in model.inference_rules.items():
            got = DeployModel(model, rule, input_size=SIZE)(x)
            assert torch.allclose(got, sum(out[h] for h in heads), rtol=1e-4, atol=1e-5)


def test_fold_batchnorm_before_linear_is_exact_enough():
    torch.manual_seed(4)
    seq = _randomise_bn(nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 3), nn.BatchNorm1d(3), nn.ELU(), nn.Linear(3, 2)))
    x = torch.randn(5, 6)
    ref = seq(x)
    folded = copy.deepcopy(seq)
    assert fold_batchnorms(folded) == 2
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    assert torch.allclose(folded(x), ref, rtol=1e-5, atol=1e-6)


def test_uint8_input_graph_matches_float_reference(pmsi):
    pre = PreprocessConfig.for_size(SIZE)
    deploy = DeployModel(pmsi, input_size=SIZE)
    images = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    ref = reference_logits(deploy, images, pre)
    for kind in INPUT_KINDS.values():
        graph = with_input(deploy, kind, pre)
        x = torch.from_numpy(Contract(kind.layout, kind.dtype, kind.normalization_in_graph, pre).prepare(images))
        assert list(x.shape[1:]) == kind.shape(SIZE)[1:]
        with torch.no_grad():
            np.testing.assert_allclose(graph(x).numpy(), ref, rtol=1e-4, atol=1e-5)


def test_unknown_rule_is_refused(pmsi):
    with pytest.raises(FGVCError, match="--rule 'mean'"):
        DeployModel(pmsi, "mean", input_size=SIZE)


def test_two_pass_cmal_is_one_deploy_graph_with_both_passes():
    from fgvc_mobile.export.deploy import pipeline_info
    from fgvc_mobile.models.cmal import CMALModel

    torch.manual_seed(0)
    model = CMALModel(5, descriptor=8).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    for rule, passes in (("fusion", 2), ("raw", 1), ("concat", 1)):
        deploy = DeployModel(model, rule, input_size=SIZE)
        with torch.no_grad():
            want = model.combine(model.forward_heads(x), rule)
            torch.testing.assert_close(deploy(x), want, atol=1e-4, rtol=1e-4)
        info = pipeline_info(deploy)
        assert (info["graphs"], info["backbone_passes"]) == (1, passes)
        assert ("note" in info) == (passes > 1)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_bounded_elu_equals_elu_and_replaces_it_in_deploy_graphs(alpha):
    from fgvc_mobile.export.deploy import BoundedELU, replace_elus

    x = torch.cat([torch.linspace(-30, 30, 2001), torch.tensor([0.0, -0.0, 1e-8, -1e-8, 80.0])])
    torch.testing.assert_close(BoundedELU(alpha)(x), nn.functional.elu(x, alpha), atol=1e-6, rtol=1e-6)
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ELU(alpha), nn.Sequential(nn.ELU()))
    assert replace_elus(net) == 2 and not any(isinstance(m, nn.ELU) for m in net.modules())

    from fgvc_mobile.models.cmal import CMALModel

    model = CMALModel(4, descriptor=8).eval()
    deploy = DeployModel(model, "concat", input_size=SIZE)
    assert deploy.rewrites["elus"] == 6 and not any(isinstance(m, nn.ELU) for m in deploy.modules())
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(deploy(x), model.single(x, ("concat",))["concat"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("preset", [None, "phone"])
def test_cmal_recipe_models_deploy_equal_to_their_heads(preset):
    """The recipe's CMAL (release classifier, padded boxes) and its phone preset: every rule's deploy
    graph equals the sum of its heads."""
    from fgvc_mobile.methods import get_method

    torch.manual_seed(0)
    model = _randomise_bn(get_method("cmal").build_model(5, **({"preset": preset} if preset else {})))
    assert model.box_padding == 0.1
    x = torch.randn(2, 3, 64, 64)
    for rule in model.inference_rules:
        with torch.no_grad():
            want = model.combine(model.forward_heads(x), rule)
            torch.testing.assert_close(DeployModel(model, rule, input_size=64)(x), want, atol=1e-4, rtol=1e-4)


def test_elope_rules_deploy_equal_to_their_heads():
    from fgvc_mobile.methods import get_method

    torch.manual_seed(0)
    model = _randomise_bn(get_method("elope").build_model(5, embedding=16))
    assert model.box == "upsampled"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        heads = model.forward_heads(x)
        for rule in ("classifier", "full"):
            torch.testing.assert_close(DeployModel(model, rule, input_size=64)(x), heads[rule], atol=1e-4, rtol=1e-4)
