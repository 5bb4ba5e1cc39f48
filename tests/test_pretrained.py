"""``--pretrained``: imagenet by default, one line offline, and every checkpoint says what it grew from."""

from __future__ import annotations

import hashlib
import urllib.error

import pytest
import torch
from torchvision.models import mobilenet_v2

from fgvc_mobile.cli import main
from fgvc_mobile.models.load import read_checkpoint
from fgvc_mobile.train.config import TrainConfig
from fgvc_mobile.models.load import describe
from fgvc_mobile.train.pretrained import imagenet_cache_file

TRAIN = ["--img-size", "32", "--resize", "36", "--epochs", "1", "--batch-size", "4", "--workers", "0",
         "--method", "baseline", "--device", "cpu", "--limit-train", "8", "--limit-test", "4"]


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and a download that fails as it does without network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def no_network(*_a, **_k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch_home"


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_imagenet_is_the_default():
    assert TrainConfig().pretrained == "imagenet"


def test_offline_default_is_one_line_naming_both_ways_out(offline_hub, tiny_folder, tmp_path, capsys):
    rc = main(["train", "--data", f"folder:{tiny_folder}", "--out", str(tmp_path / "run"), *TRAIN])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: --pretrained imagenet:") and "URLError" in err
    assert "--pretrained PATH" in err and "--pretrained none" in err
    assert not (tmp_path / "run").exists()


def test_cached_imagenet_weights_are_used_offline_and_recorded(offline_hub, tiny_folder, tmp_path, capsys):
    cached = imagenet_cache_file()
    assert cached.startswith(str(offline_hub))
    (offline_hub / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(mobilenet_v2(weights=None).state_dict(), cached)  # stands in for the real download
    rc = main(["train", "--data", f"folder:{tiny_folder}", "--out", str(tmp_path / "run"), *TRAIN])
    assert rc == 0, capsys.readouterr().err
    record = read_checkpoint(tmp_path / "run" / "best.pt")["pretrained"]
    assert record == {"source": "imagenet", "weights": "torchvision:IMAGENET1K_V1", "sha256": _sha256(offline_hub / cached)}
    rc = main(["eval", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--data", f"folder:{tiny_folder}",
               "--workers", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and f"started from: imagenet (torchvision:IMAGENET1K_V1, sha256 {record['sha256'][:12]})" in out


def test_a_file_and_none_are_recorded(tiny_folder, tmp_path, capsys):
    weights = tmp_path / "mine.pth"
    torch.save(mobilenet_v2(weights=None).state_dict(), weights)
    assert main(["train", "--data", f"folder:{tiny_folder}", "--out", str(tmp_path / "a"), *TRAIN,
                 "--pretrained", str(weights)]) == 0
    assert read_checkpoint(tmp_path / "a" / "best.pt")["pretrained"] == {
        "source": str(weights), "weights": "file:mine.pth", "sha256": _sha256(weights)}
    assert main(["train", "--data", f"folder:{tiny_folder}", "--out", str(tmp_path / "b"), *TRAIN,
                 "--pretrained", "none"]) == 0
    record = read_checkpoint(tmp_path / "b" / "best.pt")["pretrained"]
    assert record == {"source": "none", "weights": None, "sha256": None}
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(tmp_path / "b" / "best.pt"), "--data", f"folder:{tiny_folder}",
                 "--workers", "0"]) == 0
    assert "started from: none (trained from scratch)" in capsys.readouterr().out


def test_records_of_older_checkpoints_still_read():
    assert describe(None) == "none (trained from scratch)"
    assert describe("torchvision:IMAGENET1K_V1") == "torchvision:IMAGENET1K_V1"
    assert describe({"source": "x.pth", "weights": "file:x.pth", "sha256": "ab" * 32}) == \
        f"x.pth (file:x.pth, sha256 {'ab' * 6})"
