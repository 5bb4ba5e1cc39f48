"""``predict --cam``: Grad-CAM of each head, checked on models whose evidence sits where we put it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fgvc_mobile.cam import cam_targets, grad_cams
from fgvc_mobile.cli import main
from fgvc_mobile.models.fgvc import BaselineMobileNetV2, PMSIModel

SIZE = 64
H = SIZE // 2
QUADRANTS = {"top-left": (slice(0, H), slice(0, H)), "top-right": (slice(0, H), slice(H, SIZE)),
             "bottom-left": (slice(H, SIZE), slice(0, H)), "bottom-right": (slice(H, SIZE), slice(H, SIZE))}


def _quadrant_of_peak(cam: np.ndarray) -> str:
    y, x = np.unravel_index(np.argmax(cam), cam.shape)
    return ("top" if y < H else "bottom") + "-" + ("left" if x < H else "right")


def _channel_picker(channel: int) -> nn.Conv2d:
    conv = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, channel] = 1.0
    return conv


def _linear(weight) -> nn.Linear:
    lin = nn.Linear(len(weight[0]), len(weight), bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(weight, dtype=torch.float32))
    return lin


def _pmsi_by_construction() -> PMSIModel:
    """A PMSI model whose stage-N head sees only colour channel N: the backbone only pools,
    smooth conv N keeps channel N (then the release's global max pool), every classifier is
    linear, scoring class 0 by the evidence and class 1 by its negative."""
    model = PMSIModel(2, feature_size=8, descriptor=8, msi=False)
    model.backbone.stages = nn.ModuleList([nn.AvgPool2d(4), nn.AvgPool2d(2), nn.AvgPool2d(2)])
    model.smooth = nn.ModuleList(
        nn.Sequential(_channel_picker(c), nn.AdaptiveMaxPool2d(1), nn.Flatten(1)) for c in range(3))
    model.aux_classifiers = nn.ModuleList(_linear([[1.0], [-1.0]]) for _ in range(3))
    model.concat_classifier = _linear([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]])
    return model.eval()


def _three_squares() -> torch.Tensor:
    """Red evidence top-left, green top-right, blue bottom-left, nothing bottom-right; each square
    in its quadrant's outer corner, one cell of the coarsest (4 x 4) map, so that upsampling that
    map cannot carry it over a quadrant's border."""
    x = torch.zeros(1, 3, SIZE, SIZE)
    corner = slice(0, 16), slice(SIZE - 16, SIZE)
    for channel, (ys, xs) in enumerate(((corner[0], corner[0]), (corner[0], corner[1]), (corner[1], corner[0]))):
        x[0, channel, ys, xs] = 1.0
    return x


def test_each_stage_map_peaks_where_its_head_finds_its_evidence():
    model = _pmsi_by_construction()
    targets = cam_targets(model)
    assert [t.name for t in targets] == ["stage1", "stage2", "stage3", "concat", "combined"]
    cls, cams = grad_cams(model, _three_squares(), targets)
    assert cls == 0  # class 0 adds the evidence up; class 1 subtracts it
    expected = {"stage1": "top-left", "stage2": "top-right", "stage3": "bottom-left"}
    for name, where in expected.items():
        cam = cams[name]
        assert cam.shape == (SIZE, SIZE) and cam.max() == pytest.approx(1.0)
        assert _quadrant_of_peak(cam) == where, name
        others = [q for q in QUADRANTS if q != where]
        assert all(cam[QUADRANTS[q]].max() < 0.05 for q in others), name  # nothing elsewhere
    for rule in ("concat", "combined"):  # the rules read all three maps: every square shows, the empty quadrant not
        cam = cams[rule]
        assert all(cam[QUADRANTS[q]].max() > 0.5 for q in expected.values()), rule
        assert cam[QUADRANTS["bottom-right"]].max() < 0.05, rule


def test_the_explained_class_can_be_chosen_and_negative_evidence_shows_nothing():
    model = _pmsi_by_construction()
    _, cams = grad_cams(model, _three_squares(), cam_targets(model), class_index=1)
    assert all(float(c.max()) == 0.0 for c in cams.values())  # class 1's score only falls with the evidence


def test_baseline_grad_cam_is_the_classic_cam():
    """For average pool + linear, Grad-CAM equals CAM (Zhou et al.): relu(W_c . A), computed here
    directly from the last backbone stage and the classifier weights."""
    torch.manual_seed(0)
    model = BaselineMobileNetV2(5, width_mult=0.35).eval()
    x = torch.rand(1, 3, SIZE, SIZE)
    targets = cam_targets(model)
    assert [t.name for t in targets] == ["classifier"]
    cls, cams = grad_cams(model, x, targets)
    with torch.no_grad():
        a = model.backbone(x)[-1]
        assert cls == int(model.classifier(a.mean(dim=(2, 3))).argmax())
        cam = torch.relu(torch.einsum("c,bchw->bhw", model.classifier.weight[cls], a))[:, None]
        cam = torch.nn.functional.interpolate(cam, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0, 0]
        cam = (cam / cam.max()).numpy()
    np.testing.assert_allclose(cams["classifier"], cam, atol=1e-5)


def test_predict_cam_writes_one_panel_png_per_image(tiny_checkpoints, tiny_folder, tmp_path, capsys):
    images = sorted((tiny_folder / "test" / "class_0").glob("*.png"))[:2]
    rc = main(["predict", "--model", str(tiny_checkpoints["rmg-pmsi"]), *map(str, images), "--cam",
               str(tmp_path / "cams"), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    pngs = sorted((tmp_path / "cams").glob("*.png"))
    assert [p.name for p in pngs] == [f"{i.stem}_cam.png" for i in images]
    with Image.open(pngs[0]) as im:  # the input and five panels: stage1-3, concat, combined
        assert im.size[0] == 6 * 160
    assert "2 Grad-CAM panel(s)" in captured.err


def test_predict_cam_refuses_exported_artifacts(tmp_path, tiny_folder, capsys):
    image = next((tiny_folder / "test" / "class_0").glob("*.png"))
    for artifact in ("model_int8.tflite", "model.onnx"):
        rc = main(["predict", "--model", str(tmp_path / artifact), str(image), "--cam", str(tmp_path / "cams")])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1
        assert err.startswith("error: --cam:") and artifact in err and ".pt checkpoint" in err
    assert not (tmp_path / "cams").exists()
