import pytest
import torch

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models import BaselineMobileNetV2, MobileNetV2Taps, PMSIModel, count_macs, count_params
from fgvc_mobile.models.backbone import load_pretrained

from conftest import IMAGENET_WEIGHTS


@pytest.mark.parametrize("size", [64, 96])
def test_tap_shapes_and_channels(size):
    bb = MobileNetV2Taps()
    taps = bb(torch.zeros(1, 3, size, size))
    assert [t.shape[1] for t in taps] == [32, 96, 1280]
    assert [i.num_chs for i in bb.feature_info] == [32, 96, 1280]
    assert [i.reduction for i in bb.feature_info] == [8, 16, 32]
    assert [t.shape[-1] for t in taps] == [size // 8, size // 16, size // 32]


def test_width_multiplier_changes_channels():
    bb = MobileNetV2Taps(width_mult=0.5)
    assert [i.num_chs for i in bb.feature_info] == [16, 48, 1280]


def test_pmsi_named_logits_and_rules():
    m = PMSIModel(7, feature_size=16, descriptor=32).eval()
    out = m(torch.zeros(2, 3, 64, 64))
    assert set(out) == {"aux_stage1", "aux_stage2", "aux_stage3", "concat"}
    assert all(v.shape == (2, 7) for v in out.values())
    assert m.default_rule == "concat"
    combined = m.combine(out, "combined")
    assert torch.allclose(combined, sum(out.values()))


def test_released_head_cost_matches_the_doc():
    # docs: C=200, 224 px: MobileNetV2 0.30 GMACs; PMSI with aux heads ~10.5 M params, 2.23 GMACs
    base, pmsi = BaselineMobileNetV2(200), PMSIModel(200)
    assert abs(count_macs(base, 224) / 1e9 - 0.30) < 0.01
    assert abs(count_macs(pmsi, 224) / 1e9 - 2.23) < 0.02
    assert 10.0e6 < count_params(pmsi) < 11.0e6


def test_light_heads_are_cheaper():
    full = count_macs(PMSIModel(10), 224)
    light = count_macs(PMSIModel(10, smooth="dwsep", feature_size=160, tap_stride=(2, 1, 1)), 224)
    assert light < full / 3


def test_head_parameters_exclude_backbone():
    m = PMSIModel(5, feature_size=16, descriptor=32)
    ids = {id(p) for p in m.backbone.parameters()}
    assert not any(id(p) in ids for p in m.head_parameters())
    assert len(m.head_parameters()) + len(list(m.backbone.parameters())) == len(list(m.parameters()))


@pytest.mark.skipif(not IMAGENET_WEIGHTS.exists(), reason=f"shared ImageNet weights absent at {IMAGENET_WEIGHTS}")
def test_pretrained_weights_load_into_taps():
    bb = MobileNetV2Taps()
    before = bb.stages[0][0][0].weight.clone()
    assert load_pretrained(bb, str(IMAGENET_WEIGHTS)).startswith("file:")
    assert not torch.equal(before, bb.stages[0][0][0].weight)


def test_pretrained_errors(tmp_path):
    bb = MobileNetV2Taps()
    with pytest.raises(FGVCError, match="no such file"):
        load_pretrained(bb, str(tmp_path / "missing.pth"))
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(FGVCError, match="not a MobileNetV2"):
        load_pretrained(bb, str(tmp_path / "other.pth"))
    (tmp_path / "junk.pth").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(FGVCError, match="refused"):
        load_pretrained(bb, str(tmp_path / "junk.pth"))


def test_pretrained_width_mismatch(tmp_path):
    torch.save({f"features.{k}": v for k, v in _tv_state(1.0).items()}, tmp_path / "w.pth")
    with pytest.raises(FGVCError, match="shape mismatch"):
        load_pretrained(MobileNetV2Taps(width_mult=0.5), str(tmp_path / "w.pth"))


def _tv_state(width):
    from torchvision.models import mobilenet_v2

    sd = mobilenet_v2(width_mult=width).state_dict()
    return {k[len("features.") :]: v for k, v in sd.items() if k.startswith("features.")}


def test_pretrained_from_an_fgvc_checkpoint_takes_its_backbone_only(tiny_checkpoints, tmp_path):
    """--pretrained best.pt: light heads can start from the backbone a full RMG-PMSI run trained."""
    from fgvc_mobile.models.load import read_checkpoint

    ckpt = tiny_checkpoints["rmg-pmsi"]
    state = read_checkpoint(ckpt)["model"]
    model = PMSIModel(3, feature_size=8, descriptor=16, smooth="dwsep", tap_stride=[2, 2, 1])
    heads_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    assert load_pretrained(model.backbone, str(ckpt)) == "checkpoint:best.pt (rmg-pmsi)"
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, state[f"backbone.{k}"]), k
    for k, v in model.state_dict().items():
        if not k.startswith("backbone."):
            assert torch.equal(v, heads_before[k]), f"{k}: heads must not be touched"
    with pytest.raises(FGVCError, match="shape mismatch"):
        load_pretrained(MobileNetV2Taps(width_mult=0.5), str(ckpt))
    hollow = read_checkpoint(ckpt)
    hollow["model"] = {k: v for k, v in state.items() if not k.startswith("backbone.stages.2")}
    torch.save(hollow, tmp_path / "hollow.pt")
    with pytest.raises(FGVCError, match="hollow.pt: not a checkpoint with a tapped MobileNetV2 backbone"):
        load_pretrained(MobileNetV2Taps(), str(tmp_path / "hollow.pt"))


def test_stride_one_stem_doubles_every_tap_and_costs_what_twice_the_input_costs():
    """Identity independent of the counter: a stride-1 stem on a 112 px input computes every layer at
    the output size a stride-2 stem computes on 224 px, so the MACs are equal."""
    from fgvc_mobile.models.complexity import count_macs
    from fgvc_mobile.models.fgvc import BaselineMobileNetV2
    from fgvc_mobile.models.presets import RuleGraph

    one, two = BaselineMobileNetV2(10, stem_stride=1).eval(), BaselineMobileNetV2(10).eval()
    assert [t.reduction for t in one.backbone.feature_info] == [4, 8, 16]
    assert [t.reduction for t in two.backbone.feature_info] == [8, 16, 32]
    assert count_macs(RuleGraph(one), 112) == count_macs(RuleGraph(two), 224)
    two.load_state_dict(one.state_dict())  # same weights: ImageNet checkpoints load into either
    with pytest.raises(ValueError, match="stem_stride must be 1 or 2"):
        BaselineMobileNetV2(10, stem_stride=4)


def test_bn_momentum_reaches_every_smooth_conv_batchnorm_and_only_them():
    m = PMSIModel(5, feature_size=16, descriptor=32, bn_momentum=0.01, twin={"feature_size": 8, "descriptor": 16})
    smooth = [b for hs in (m, m.twin) for sc in hs.smooth for b in sc.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    assert len(smooth) == 12 and all(b.momentum == 0.01 for b in smooth)  # 2 BNs x 3 taps x 2 head sets
    assert all(b.momentum == 0.1 for b in m.backbone.modules() if isinstance(b, torch.nn.BatchNorm2d))
