"""``eval --crops five``: the four corner crops and the centre crop of the resized image, scored by
the mean of each head's logits (DB + GCE's "multi-scale" evaluation); artifacts stay single-crop."""

from __future__ import annotations

import json

import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import v2 as T

from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import build_transform, eval_transform
from fgvc_mobile.models.fgvc import FGVCModel
from fgvc_mobile.train.engine import evaluate


def test_five_crop_transform_is_torchvisions_five_crop_of_the_resized_image():
    cfg = PreprocessConfig(input_size=32, resize=(40, 48))
    img = Image.frombytes("RGB", (60, 50), bytes(range(256)) * 35 + bytes(100))
    crops = eval_transform(cfg, "five")(img)
    assert crops.shape == (5, 3, 32, 32)
    resized = T.Resize((40, 48))(img)
    to_tensor = T.Compose([T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(cfg.mean, cfg.std)])
    for got, crop in zip(crops, T.FiveCrop(32)(resized)):
        torch.testing.assert_close(got, to_tensor(crop))
    torch.testing.assert_close(crops[4], build_transform(cfg, train=False)(img))  # the centre one is the contract's


class PixelClassifier(FGVCModel):
    """A linear classifier of the mean colour: logits that differ from crop to crop."""

    inference_rules = {"classifier": ("classifier",)}

    def __init__(self):
        super().__init__(4)
        self.fc = torch.nn.Linear(3, 4)

    def forward_heads(self, x):
        return {"classifier": self.fc(x.mean(dim=(2, 3)))}


def test_evaluate_scores_the_mean_logits_over_the_crops():
    torch.manual_seed(0)
    model = PixelClassifier().eval()
    images = torch.randn(16, 5, 3, 1, 1).expand(16, 5, 3, 8, 8)  # each crop its own colour
    with torch.no_grad():
        per_crop = torch.stack([model(images[:, i])["classifier"] for i in range(5)])  # [5, B, C]
    labels = per_crop.mean(0).argmax(1)  # right exactly when the crops' logits are averaged
    assert all((p.argmax(1) != labels).any() for p in per_crop), "no single crop should score every image right"
    got = evaluate(model, DataLoader(list(zip(images, labels)), batch_size=4), torch.device("cpu"), show_progress=False)
    assert got["n_images"] == 16 and got["top1/classifier"] == 100.0


def test_eval_command_five_crops(tiny_checkpoints, tiny_folder, tmp_path, capsys):
    from fgvc_mobile.cli import main

    out = tmp_path / "m.json"
    assert main(["eval", "--checkpoint", str(tiny_checkpoints["baseline"]), "--data", f"folder:{tiny_folder}",
                 "--crops", "five", "--workers", "0", "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["crops"] == "five" and metrics["n_images"] == 12
    assert "five crops" in capsys.readouterr().out
