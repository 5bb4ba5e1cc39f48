"""PMSI head presets: measured deploy cost ordering, the phone preset within the MAC budget,
preset selection through the recipe, and checkpoints that store plain keyword arguments."""

from __future__ import annotations

import pytest
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import get_method
from fgvc_mobile.models.complexity import count_params
from fgvc_mobile.models.fgvc import BaselineMobileNetV2, PMSIModel
from fgvc_mobile.models.presets import MAC_BUDGET, PHONE_PRESET, PMSI_HEAD_PRESETS, deploy_cost
from fgvc_mobile.models.load import load_trained
from fgvc_mobile.train.trainer import fit

from conftest import tiny_config

C = 200


@pytest.fixture(scope="module")
def costs_224() -> dict[str, dict]:
    out = {"baseline": deploy_cost(BaselineMobileNetV2(C), 224)}
    for name, kw in PMSI_HEAD_PRESETS.items():
        out[name] = deploy_cost(PMSIModel(C, **kw), 224, "concat")
    return out


def test_presets_are_ordered_by_deploy_macs(costs_224):
    macs = [costs_224[n]["macs"] for n in ("released", "dwsep", "light", "tiny", "baseline")]
    assert macs == sorted(macs, reverse=True) and len(set(macs)) == len(macs)
    params = [costs_224[n]["params"] for n in ("released", "dwsep", "light", "tiny", "baseline")]
    assert params == sorted(params, reverse=True)


def test_released_heads_are_far_over_budget_and_phone_preset_within(costs_224):
    base = costs_224["baseline"]["macs"]
    assert costs_224["released"]["macs"] > 5 * base  # the problem the presets solve
    assert costs_224[PHONE_PRESET]["macs"] <= MAC_BUDGET * base


@pytest.mark.parametrize("size", [128, 448])
def test_phone_preset_within_budget_at_other_sizes(size):
    base = deploy_cost(BaselineMobileNetV2(C), size)["macs"]
    for rule in ("concat", "combined"):
        assert deploy_cost(PMSIModel(C, **PMSI_HEAD_PRESETS[PHONE_PRESET]), size, rule)["macs"] <= MAC_BUDGET * base


def test_deploy_params_of_concat_leave_out_the_aux_classifiers():
    m = PMSIModel(10, feature_size=16, descriptor=32)
    concat = deploy_cost(m, 64, "concat")["params"]
    combined = deploy_cost(m, 64, "combined")["params"]
    assert combined == count_params(m)
    assert concat == count_params(m) - count_params(m.aux_classifiers)


def test_recipe_expands_presets_and_explicit_keys_win():
    recipe = get_method("rmg-pmsi")
    kw = recipe.resolve_model_kwargs({"preset": "light", "feature_size": 64})
    assert "preset" not in kw and kw["feature_size"] == 64
    assert kw["descriptor"] == PMSI_HEAD_PRESETS["light"]["descriptor"] and kw["smooth"] == "dwsep"
    assert recipe.resolve_model_kwargs({"preset": "released"}) == recipe.resolve_model_kwargs({})
    with pytest.raises(FGVCError, match="preset 'huge'.*light"):
        recipe.resolve_model_kwargs({"preset": "huge"})
    with pytest.raises(FGVCError, match="--method baseline has presets none"):
        get_method("baseline").resolve_model_kwargs({"preset": "light"})


def test_checkpoint_of_a_preset_run_stores_plain_kwargs(tiny_folder, tmp_path):
    cfg = tiny_config(tiny_folder, tmp_path, model={"preset": "tiny", "feature_size": 8, "descriptor": 16},
                      max_steps_per_epoch=1)
    fit(cfg, show_progress=False)
    loaded = load_trained(tmp_path / "last.pt")
    model, meta = loaded.model, loaded.meta
    assert "preset" not in meta["model_kwargs"] and meta["config"]["model"]["preset"] == "tiny"
    assert list(meta["model_kwargs"]["tap_stride"]) == PMSI_HEAD_PRESETS["tiny"]["tap_stride"]
    dw = model.smooth[0][3]  # the depthwise 3x3 of tap S1, strided by the preset
    assert dw.groups == dw.in_channels == 8 and dw.stride == (2, 2)
