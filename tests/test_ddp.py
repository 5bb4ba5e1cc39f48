"""Training under torchrun with 2 CPU processes (gloo): real DDP, no home-made distribution."""

import os
import subprocess
import sys

from fgvc_mobile.models.load import read_checkpoint


def test_two_process_ddp_run(tiny_folder, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "fgvc_mobile.cli", "train", "--data", f"folder:{tiny_folder}", "--method", "rmg-pmsi",
        "--img-size", "32", "--resize", "36", "--epochs", "2", "--batch-size", "4", "--workers", "0",
        "--freeze-backbone-epochs", "1", "--model", '{"feature_size": 16, "descriptor": 32}', "--out", str(out),
        "--pretrained", "none",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = read_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 2
    # 24 training images less the 3 held out for validation = 21; 10 per rank // batch 4 = 2 steps x 2 epochs
    assert ckpt["scheduler"]["last_epoch"] == 4
    assert "top1/concat" in ckpt["history"][-1]
    # only rank 0 writes: one metrics row per epoch
    assert (out / "metrics.csv").read_text().count("\n") == 3
