"""CMAL-Net and ELoPE models and recipes: CAMs, attention boxes, the test-time crop pipelines,
which parameters each training step reaches, and ELoPE's online class means."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import StepContext, get_method
from fgvc_mobile.models.cmal import CMALModel, RAW_HEADS
from fgvc_mobile.models.elope import ELoPEModel

torch.manual_seed(0)



def _ctx(name: str, **opts) -> StepContext:
    recipe = get_method(name)
    options = recipe.resolve_options(opts)
    return StepContext(recipe.criterion(options), torch.Generator().manual_seed(0), 0, options, contextlib.nullcontext)


def _owner(name: str) -> str:
    """backbone.stages.1.x -> backbone.1; experts.0.x -> experts.0; localiser.body.x -> localiser."""
    parts = name.split(".")
    if parts[0] == "backbone":
        return f"backbone.{parts[2]}"
    return f"{parts[0]}.{parts[1]}" if parts[1].isdigit() else parts[0]


def _grad_owners(model: torch.nn.Module) -> set[str]:
    return {_owner(n) for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


# ---- CMAL ------------------------------------------------------------------------------------------
def test_cam_is_equation_4_for_the_predicted_class():
    m = CMALModel(5, descriptor=8).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out, maps = m.single(x, return_maps=True)
        cams = m.class_activation_maps(maps, out)
    for n in range(3):
        k = out[f"expert{n + 1}"].argmax(1)
        for b in range(2):
            w = m.classifiers[n].weight[k[b]]
            torch.testing.assert_close(cams[n][b], (w[:, None, None] * maps[n][b]).sum(0))


def test_release_classifier_cam_is_its_linear_part_and_survives_bn_folding():
    """By hand: W2[k] * s2 @ W1 * s1 with s = gamma / sqrt(var + eps); the exporter's BN folding
    must leave the map (and so the crop box) unchanged."""
    import copy

    from fgvc_mobile.export.deploy import fold_batchnorms

    torch.manual_seed(0)
    m = CMALModel(5, descriptor=8, classifier="release", hidden=6).eval()
    for bn in m.modules():
        if isinstance(bn, torch.nn.BatchNorm1d):  # non-trivial statistics
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out, maps = m.single(x, return_maps=True)
        cams = m.class_activation_maps(maps, out)
        for n in range(3):
            bn1, fc1, bn2, _, fc2 = m.classifiers[n]
            s1 = bn1.weight / torch.sqrt(bn1.running_var + bn1.eps)
            s2 = bn2.weight / torch.sqrt(bn2.running_var + bn2.eps)
            k = out[f"expert{n + 1}"].argmax(1)
            for b in range(2):
                w = ((fc2.weight[k[b]] * s2) @ fc1.weight) * s1
                torch.testing.assert_close(cams[n][b], (w[:, None, None] * maps[n][b]).sum(0))
        folded = copy.deepcopy(m)
        assert fold_batchnorms(folded) > 0
        out_f, maps_f = folded.single(x, return_maps=True)
        for a, b in zip(cams, folded.class_activation_maps(maps_f, out_f)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_overall_box_covers_exactly_the_region_above_threshold(monkeypatch):
    m = CMALModel(4, descriptor=8, threshold=0.5).eval()
    cams = [torch.zeros(1, 4, 4) for _ in range(3)]
    cams[0][0, 1, 2] = 1.0
    cams[1][0, 1, 2], cams[1][0, 2, 3] = 2.0, 1.0
    cams[2][0, 3, 0] = 0.3
    monkeypatch.setattr(m, "class_activation_maps", lambda maps, out: cams)
    _, box = m.pass1(torch.randn(1, 3, 32, 32))
    # independent: upsample, min-max, average, min-max, > t
    ups = [F.interpolate(c[:, None], size=(32, 32), mode="bilinear", align_corners=False)[0, 0] for c in cams]
    norm = [(u - u.min()) / (u.max() - u.min()) for u in ups]
    overall = sum(norm) / 3
    above = (overall - overall.min()) / (overall.max() - overall.min()) > 0.5
    ys, xs = above.nonzero(as_tuple=True)
    assert box[0].tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    assert 0 < above.sum() < 32 * 32


def test_eval_forward_is_the_two_pass_fusion_and_the_deploy_graph_holds_both_passes():
    torch.manual_seed(1)  # a model whose three boxes are all smaller than the image
    m = CMALModel(6, descriptor=8).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        out = m(x)
        raw = m.single(x)
        _, box = m.pass1(x)
        crops = torch.cat([  # the crop an app would do by hand: slice, then torch's own bilinear resize
            F.interpolate(x[i : i + 1, :, y0:y1, x0:x1], size=(64, 64), mode="bilinear", align_corners=False)
            for i, (x0, y0, x1, y1) in enumerate(box.long().tolist())
        ])
        crop = m.single(crops)
        deployed = {rule: m.forward_rule(x, rule) for rule in m.inference_rules}
    assert set(out) == set(m.inference_rules["fusion"])
    for h in RAW_HEADS:
        torch.testing.assert_close(out[h], raw[h])
        torch.testing.assert_close(out[f"crop_{h}"], crop[h], atol=1e-4, rtol=1e-4)
    by_hand = m.combine(raw, "raw") + m.combine(crop, "raw")
    torch.testing.assert_close(deployed["fusion"], by_hand, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(deployed["raw"], sum(raw[h] for h in RAW_HEADS))
    torch.testing.assert_close(deployed["concat"], raw["concat"])
    assert [m.backbone_passes(r) for r in ("fusion", "raw", "concat")] == [2, 1, 1]
    assert (box[:, 2:] > box[:, :2]).all() and (box != torch.tensor([0.0, 0.0, 64.0, 64.0])).any(dim=1).all(), \
        "every image of the test should be cropped"


def test_cmal_runs_n_plus_2_steps_and_each_expert_step_reaches_only_its_expert():
    recipe, ctx = get_method("cmal"), _ctx("cmal")
    m = CMALModel(4, descriptor=8).train()
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    names, owners = [], {}
    for name, loss in recipe.training_steps(m, x, y, ctx):
        m.zero_grad(set_to_none=True)
        loss.backward()
        names.append(name)
        owners[name] = _grad_owners(m)
    assert names == recipe.step_names(ctx.options)
    assert owners["expert1"] == {"backbone.0", "experts.0", "classifiers.0"}
    assert owners["expert2"] == {"backbone.0", "backbone.1", "experts.1", "classifiers.1"}
    assert owners["expert3"] == {"backbone.0", "backbone.1", "backbone.2", "experts.2", "classifiers.2"}
    assert "concat_classifier" in owners["concat"] and not any(o.startswith("classifiers") for o in owners["concat"])
    assert {"classifiers.0", "classifiers.1", "classifiers.2", "concat_classifier"} <= owners["attention"]


# ---- ELoPE -----------------------------------------------------------------------------------------
def test_localisation_box_scales_heat_map_cells_to_pixels(monkeypatch):
    m = ELoPEModel(5, embedding=8, tau=0.3).eval()
    heat = torch.zeros(1, 7, 7)
    heat[0, 2:5, 1:4] = 1.0  # rows 2-4, cols 1-3 -> pixels y 64..160, x 32..128 at 224 px
    heat[0, 6, 6] = 0.2  # below tau after min-max normalisation
    monkeypatch.setattr(m, "heat_map", lambda x: heat)
    x = torch.randn(1, 3, 224, 224)
    assert m.localisation_box(x).tolist() == [[32.0, 64.0, 128.0, 160.0]]
    with torch.no_grad():
        expected = m.classify(F.interpolate(x[:, :, 64:160, 32:128], size=(224, 224), mode="bilinear"))[0]
        torch.testing.assert_close(m(x)["classifier"], expected, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(m(x, localiser=False)[0]["classifier"], m.classify(x)[0])


def test_localiser_starts_as_the_backbone_first_layers():
    m = ELoPEModel(5, embedding=8).eval()
    x = torch.randn(2, 3, 64, 64)
    m.localiser.init_from(m.backbone)
    with torch.no_grad():
        torch.testing.assert_close(m.localiser.body(x), m.backbone.stages[0][:4](x))


def test_elope_steps_update_present_class_means_and_train_the_localiser_alone():
    recipe, ctx = get_method("elope"), _ctx("elope")
    m = ELoPEModel(5, embedding=8).train()
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 0, 3, 1])
    before = m.class_means.clone()
    owners = {}
    for name, loss in recipe.training_steps(m, x, y, ctx):
        m.zero_grad(set_to_none=True)
        loss.backward()
        owners[name] = _grad_owners(m)
    assert owners["localiser"] == {"localiser"}
    assert "localiser" not in owners["embedding"] and "embedding" in owners["embedding"]
    changed = (m.class_means != before).any(dim=1)
    assert changed.tolist() == [True, True, False, True, False]
    assert int(m.localiser_initialised) == 1


def test_cmal_box_padding_is_the_releases_clipped_to_the_image():
    """The release: rows [max(y_min - 0.1 H, 0), min(y_max + 0.1 H, H)) around the pixels above t."""
    m = CMALModel(4, descriptor=8, box_padding=0.1).eval()
    att = torch.zeros(2, 50, 40)
    att[0, 10:20, 30:35] = 1.0  # x 30..35 +- 4 px; y 10..20 +- 5 px
    att[1, 0:3, 5:6] = 1.0  # clipped at the top
    att[1, 45:, 38:] = 1.0  # ... and at the bottom right
    assert m.region_box(att).tolist() == [[26.0, 5.0, 39.0, 25.0], [1.0, 0.0, 40.0, 50.0]]
    assert CMALModel(4, descriptor=8).region_box(att).tolist() == [[30.0, 10.0, 35.0, 20.0], [5.0, 0.0, 40.0, 50.0]]


def test_cmal_phone_preset_is_light_and_keeps_the_cam_pipeline():
    from fgvc_mobile.models.fgvc import BaselineMobileNetV2
    from fgvc_mobile.models.presets import deploy_cost

    recipe = get_method("cmal")
    m = recipe.build_model(10, preset="phone").eval()
    assert [len(e.expand) for e in m.experts] == [2, 2, 2]  # depthwise 3x3 + pointwise per expert
    assert [e.expand[0][0].stride for e in m.experts] == [(2, 2), (2, 2), (1, 1)]
    base = deploy_cost(BaselineMobileNetV2(10), 96)["macs"]
    fusion, raw = (deploy_cost(m, 96, r)["macs"] / base for r in ("fusion", "raw"))
    full = deploy_cost(recipe.build_model(10), 96, "raw")["macs"] / base
    assert raw < 1.2 and fusion < 2.4 and full > 5 * raw, (raw, fusion, full)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out, maps = m.single(x, return_maps=True)
        assert [c.shape for c in m.class_activation_maps(maps, out)] == [mp.shape[:1] + mp.shape[2:] for mp in maps]
        torch.testing.assert_close(m.forward_rule(x, "fusion"), m.combine(m(x), "fusion"), atol=1e-4, rtol=1e-4)


# ---- ELoPE: rules, box, schedules ------------------------------------------------------------------
def test_elope_full_rule_classifies_the_uncropped_input_and_upsampled_box_is_pixel_exact(monkeypatch):
    m = ELoPEModel(5, embedding=8, tau=0.3, box="upsampled").eval()
    heat = torch.zeros(1, 4, 4)
    heat[0, 1, 2] = 1.0
    monkeypatch.setattr(m, "heat_map", lambda x: heat)
    x = torch.randn(1, 3, 64, 64)
    up = F.interpolate(heat[:, None], size=(64, 64), mode="bilinear", align_corners=False)[0, 0]
    ys, xs = ((up - up.min()) / (up.max() - up.min()) > 0.3).nonzero(as_tuple=True)
    want = [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    assert m.localisation_box(x)[0].tolist() == want and want[2] - want[0] not in (16, 32)  # not whole cells
    with torch.no_grad():
        heads = m(x)
        torch.testing.assert_close(heads["full"], m.classify(x)[0])
        torch.testing.assert_close(m.forward_rule(x, "full"), heads["full"])
        torch.testing.assert_close(m.forward_rule(x, "classifier"), heads["classifier"])
        torch.testing.assert_close(heads["classifier"], m.classify(m.localise(x))[0])
    assert list(m.inference_rules) == ["classifier", "full"]


def _elope_step_inputs(epoch: int, epochs: int, **opts):
    """(the input the embedding step's backbone saw, whether the GKMP weights got a gradient)."""
    recipe = get_method("elope")
    options = recipe.resolve_options(opts)
    ctx = StepContext(recipe.criterion(options), torch.Generator().manual_seed(0), epoch, options,
                      contextlib.nullcontext, epochs=epochs)
    torch.manual_seed(0)
    m = ELoPEModel(5, embedding=8, box="upsampled").train()
    m.localiser.init_from(m.backbone)
    m.localiser_initialised.fill_(1)
    with torch.no_grad():  # a localiser whose box is smaller than the image
        m.localiser.head.weight.normal_()
    seen = []
    hook = m.backbone.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    steps = recipe.training_steps(m, x, y, ctx)
    _, loss = next(steps)
    hook.remove()
    loss.backward()
    with torch.no_grad():
        crop = m.eval().localise(x)
    return seen[0], x, crop, m.pool.weights.grad


def test_elope_classifier_trains_on_the_test_time_crop_from_crop_from():
    seen, x, crop, _ = _elope_step_inputs(epoch=1, epochs=4, crop_from=0.5)
    assert torch.equal(seen, x)  # epoch 1 < 0.5 * 4: the full image
    seen, x, crop, _ = _elope_step_inputs(epoch=2, epochs=4, crop_from=0.5)
    assert not torch.equal(crop, x)
    torch.testing.assert_close(seen, crop)  # the deployed rule's input, localiser in eval mode
    seen, x, _, _ = _elope_step_inputs(epoch=3, epochs=4, crop_from=1.0)
    assert torch.equal(seen, x)


def test_elope_gkmp_weights_learn_only_from_weights_from():
    assert _elope_step_inputs(epoch=2, epochs=4, weights_from=0.75)[3] is None
    assert _elope_step_inputs(epoch=3, epochs=4, weights_from=0.75)[3].abs().sum() > 0
    assert _elope_step_inputs(epoch=0, epochs=4, weights_from=0.0)[3].abs().sum() > 0


def test_elope_presets_are_the_papers_tau_and_schedule_options_are_checked():
    recipe = get_method("elope")
    assert {p: recipe.resolve_model_kwargs({"preset": p})["tau"] for p in ("cub", "cars", "aircraft")} == \
        {"cub": 0.3, "cars": 0.2, "aircraft": 0.2}
    with pytest.raises(FGVCError, match="crop_from"):
        recipe.resolve_options({"crop_from": 1.5})


def test_cmal_heads_train_at_half_the_runs_head_rate(tiny_folder, tmp_path):
    """Each CMAL head takes two optimizer steps per batch: the trainer gives the heads lr * mult * 0.5."""
    from conftest import tiny_config

    from fgvc_mobile.models.load import read_checkpoint
    from fgvc_mobile.train.trainer import fit

    cfg = tiny_config(tiny_folder, tmp_path, method="cmal", model={"descriptor": 8}, img_size=64, resize=72,
                      batch_size=8, limit_train=8, limit_test=4, lr=0.01, head_lr_mult=10.0)
    fit(cfg, show_progress=False)
    groups = {g["name"]: g["initial_lr"] for g in read_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]}
    assert groups == {"backbone": 0.01, "heads": pytest.approx(0.05)}
    with pytest.raises(FGVCError, match="head_lr_scale"):
        get_method("cmal").resolve_options({"head_lr_scale": 0})


def test_checkpoints_from_before_the_options_keep_their_weights_and_behaviour():
    """Old checkpoints record model_kwargs without the new options: they build the old structure
    (the same state-dict keys as before) and the old test-time behaviour."""
    old = CMALModel(5, descriptor=8)
    expert_keys = {k.split(".", 2)[2] for k in old.state_dict() if k.startswith("experts.0.")}
    assert expert_keys == {f"{block}.{i}.{p}" for block in ("reduce", "expand") for i, p in
                           [(0, "weight"), (1, "weight"), (1, "bias"), (1, "running_mean"), (1, "running_var"),
                            (1, "num_batches_tracked")]}
    assert old.box_padding == 0.0 and isinstance(old.classifiers[0], torch.nn.Linear)
    assert ELoPEModel(5, embedding=8).box == "grid"
