"""Distillation recipe: the loss mathematics, the teacher set-up, and a 1-epoch run whose student
is an ordinary MobileNetV2 checkpoint (loads and builds a deploy graph without the teacher)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import get_method
from fgvc_mobile.methods.distill import distill_loss, kd_loss
from fgvc_mobile.models.complexity import count_params
from fgvc_mobile.models.fgvc import BaselineMobileNetV2
from fgvc_mobile.models.load import load_trained, read_checkpoint
from fgvc_mobile.train.trainer import fit

from conftest import make_image_folder, tiny_config


@pytest.fixture(scope="module")
def teacher(tiny_folder, tmp_path_factory):
    """A tiny RMG-PMSI teacher (32 px, one step of its 4 phases) trained here; its best.pt."""
    run = tmp_path_factory.mktemp("teacher")
    fit(tiny_config(tiny_folder, run, method="rmg-pmsi", max_steps_per_epoch=1), show_progress=False)
    return run / "best.pt"


def _logits(seed: int, n: int = 5, c: int = 7) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3


@pytest.mark.parametrize("temperature", [1.0, 2.5, 4.0])
def test_kd_term_is_t_squared_kl_of_softened_teacher_and_student(temperature):
    s, t = _logits(0), _logits(1)
    p_t = torch.softmax(t / temperature, dim=1)
    p_s = torch.softmax(s / temperature, dim=1)
    manual = (p_t * (p_t.log() - p_s.log())).sum(dim=1).mean() * temperature**2
    assert kd_loss(s, t, temperature).item() == pytest.approx(manual.item(), rel=1e-5)


def test_kd_gradient_is_t_times_softened_difference():
    # d/ds [T^2 KL] = T (softmax(s/T) - softmax(t/T)) / B: the T^2 factor keeps the scale ~ T^1, not T^-1
    temperature, s, t = 4.0, _logits(2).float().requires_grad_(True), _logits(3).float()
    kd_loss(s, t, temperature).backward()
    expected = temperature * (torch.softmax(s.detach() / temperature, 1) - torch.softmax(t / temperature, 1)) / s.shape[0]
    assert torch.allclose(s.grad, expected, atol=1e-6)


def test_kd_is_zero_for_identical_logits_and_positive_otherwise():
    s = _logits(4)
    assert kd_loss(s, s.clone(), 3.0).item() == pytest.approx(0.0, abs=1e-9)
    assert kd_loss(s, _logits(5), 3.0).item() > 0


def test_distill_loss_weights_kd_and_ce():
    s, t, y = _logits(6).float(), _logits(7).float(), torch.tensor([0, 1, 2, 3, 4])
    got = distill_loss(s, t, y, F.cross_entropy, 2.0, kd_weight=0.3, ce_weight=0.7)
    want = 0.3 * kd_loss(s, t, 2.0) + 0.7 * F.cross_entropy(s, y)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    only_ce = distill_loss(s, t, y, F.cross_entropy, 2.0, kd_weight=0.0, ce_weight=1.0)
    assert only_ce.item() == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-6)


@pytest.mark.parametrize(
    "options",
    [{"temperature": 0}, {"kd_weight": 0, "ce_weight": 0}, {"ce_weight": -1}, {"levels": []}, {"levels": [-1]}],
)
def test_bad_options_are_refused(options):
    with pytest.raises(FGVCError, match="--method distill"):
        get_method("distill").resolve_options(options)


def test_setup_freezes_teacher_and_can_initialise_student_backbone(teacher, tiny_folder, tmp_path):
    recipe = get_method("distill")
    teacher_path = teacher
    cfg = tiny_config(tiny_folder, tmp_path, method="distill", model={}, distill={"teacher": str(teacher_path)},
                      method_options={"init_from_teacher": True})
    classes = read_checkpoint(teacher_path)["classes"]
    student = recipe.build_model(len(classes))
    state = recipe.setup(student, cfg, torch.device("cpu"), list(classes))
    teacher = state["teacher"]
    assert teacher.rule == "combined" and not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())
    for k, v in teacher.model.backbone.state_dict().items():
        assert torch.equal(student.backbone.state_dict()[k], v)
    x = torch.randn(2, 3, 32, 32)
    out = teacher.model(x)
    assert torch.allclose(teacher(x), sum(out[h] for h in ("aux_stage1", "aux_stage2", "aux_stage3", "concat")))


def test_one_epoch_student_is_a_plain_mobilenetv2(teacher, tiny_folder, tmp_path):
    teacher_path = teacher
    cfg = tiny_config(tiny_folder, tmp_path, method="distill", model={}, distill={"teacher": str(teacher_path)},
                      method_options={"levels": [1, 0], "temperature": 2.0})
    result = fit(cfg, show_progress=False)
    m = result["metrics"]
    assert math.isfinite(m["loss/distill"]) and math.isfinite(m["loss/distill_r1"])

    loaded = load_trained(tmp_path / "best.pt")
    model, meta = loaded.model, loaded.meta
    assert meta["method"] == "distill" and meta["config"]["distill"]["teacher"] == str(teacher_path)
    assert type(model) is BaselineMobileNetV2
    fresh = BaselineMobileNetV2(len(meta["classes"]))
    assert set(model.state_dict()) == set(fresh.state_dict())  # nothing of the teacher inside
    assert 0.0 <= m["top1/classifier"] <= 100.0


def test_student_deploy_graph_is_the_baselines(teacher, tiny_folder, tmp_path):
    deploy = pytest.importorskip("fgvc_mobile.export.deploy")
    cfg = tiny_config(tiny_folder, tmp_path, method="distill", model={},
                      distill={"teacher": str(teacher)}, max_steps_per_epoch=1)
    fit(cfg, show_progress=False)
    student = load_trained(tmp_path / "last.pt").model
    baseline = BaselineMobileNetV2(len(student.classifier.bias)).eval()
    g_student, g_base = deploy.DeployModel(student, input_size=32), deploy.DeployModel(baseline, input_size=32)
    assert type(g_student.net) is BaselineMobileNetV2 and g_student.rule == "classifier"
    assert count_params(g_student) == count_params(g_base)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(g_student(x), student(x)["classifier"], atol=1e-3)  # BatchNorm folded


def test_teacher_with_other_classes_is_refused(teacher, tmp_path):
    other = make_image_folder(tmp_path / "four", classes=4, train=2, test=1, size=32)
    cfg = tiny_config(other, tmp_path / "run", method="distill", model={}, val_split=0.5,
                      distill={"teacher": str(teacher)})
    with pytest.raises(FGVCError, match="classes differ"):
        fit(cfg, show_progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_missing_or_unknown_teacher_options_are_refused(tiny_folder, tmp_path):
    with pytest.raises(FGVCError, match="needs --teacher"):
        fit(tiny_config(tiny_folder, tmp_path, method="distill", model={}), show_progress=False)
    with pytest.raises(FGVCError, match="unknown option"):
        fit(tiny_config(tiny_folder, tmp_path, method="distill", model={}, distill={"teachr": "x.pt"}),
            show_progress=False)
    with pytest.raises(FGVCError, match="no such file"):
        fit(tiny_config(tiny_folder, tmp_path, method="distill", model={}, distill={"teacher": str(tmp_path / "no.pt")}),
            show_progress=False)
