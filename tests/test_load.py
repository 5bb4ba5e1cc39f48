"""The one loader: ``load_trained`` gives a typed trained model; checkpoints name their arch in
the model registry, and those written before they did still load."""

import pytest
import torch

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.methods import METHODS, get_method
from fgvc_mobile.models.load import file_sha256, load_trained, read_checkpoint
from fgvc_mobile.models.registry import ARCHS, LEGACY_METHOD_ARCHS, create_model


def test_every_method_builds_a_registered_arch_and_old_checkpoints_map_to_it():
    for name, recipe in METHODS.items():
        assert recipe.arch in ARCHS, name
        assert type(recipe.build_model(3, width_mult=0.25)) is ARCHS[recipe.arch], name
        assert LEGACY_METHOD_ARCHS[name] == recipe.arch, name


def test_load_trained_is_typed_and_in_eval_mode(tiny_checkpoints):
    for method, path in tiny_checkpoints.items():
        t = load_trained(path)
        assert (t.method, t.arch) == (method, get_method(method).arch)
        assert not t.model.training and isinstance(t.model, ARCHS[t.arch])
        assert isinstance(t.preprocess, PreprocessConfig) and t.preprocess.input_size == 32
        assert t.labels == tuple(read_checkpoint(path)["classes"])
        assert t.default_rule == next(iter(t.rules)) and t.rules == t.model.inference_rules
        assert (t.sha256, t.path) == (file_sha256(path), str(path))
        assert t.meta["arch"] == t.arch and "optimizer" not in t.meta and "model" not in t.meta


@pytest.mark.parametrize("method", ["rmg-pmsi", "baseline"])
def test_a_checkpoint_without_arch_loads_as_its_methods_model(tiny_checkpoints, tmp_path, method):
    ckpt = read_checkpoint(tiny_checkpoints[method])
    old = {k: v for k, v in ckpt.items() if k != "arch"}
    torch.save(old, tmp_path / "old.pt")
    new, legacy = load_trained(tiny_checkpoints[method]), load_trained(tmp_path / "old.pt")
    assert legacy.arch == new.arch and type(legacy.model) is type(new.model)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(legacy.model.forward_rule(x), new.model.forward_rule(x))


def test_arch_and_options_are_checked(tiny_checkpoints, tmp_path):
    ckpt = read_checkpoint(tiny_checkpoints["baseline"])
    torch.save({**ckpt, "arch": "mobilenetv2-pmsi"}, tmp_path / "wrong.pt")
    with pytest.raises(FGVCError, match="wrong.pt: model options .* do not fit the mobilenetv2-pmsi model"):
        load_trained(tmp_path / "wrong.pt")
    with pytest.raises(FGVCError, match="here: unknown model arch 'resnet'"):
        create_model("resnet", 3, {}, "here")
    with pytest.raises(FGVCError, match="here: model options .* do not fit the mobilenetv2-cmal model"):
        create_model("mobilenetv2-cmal", 3, {"threshold": 2.0}, "here")
