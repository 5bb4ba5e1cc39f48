"""``make test-slow``: real-data checks on cub100 (a 100-species CUB-200-2011 subset).

A short run of the baseline and of RMG-PMSI from ImageNet weights (96 px, one epoch on the first
600 training images, i.e. about the first 20 species, judged on the first 500 test images, the
same species) must beat chance many times over; the baseline is then exported to ONNX fp32 +
int8 with its gates on real cub100 images, and benchmarked. Skipped, with the reason, when
``../shared`` (data set and weights) is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CUB100, IMAGENET_WEIGHTS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CUB100 / "images.txt").is_file(), reason=f"cub100 not found at {CUB100} (../shared absent)"),
    pytest.mark.skipif(not IMAGENET_WEIGHTS.is_file(), reason=f"ImageNet MobileNetV2 weights not found at {IMAGENET_WEIGHTS}"),
]

DATA = f"cub:{CUB100}"
#: the first 600 training images hold about 20 of the 100 species (chance: ~5% on their test
#: images, 1% over all outputs); one epoch from ImageNet weights must do far better
FLOOR = {"baseline": 30.0, "rmg-pmsi": 30.0}


def _train(out: Path, method: str) -> dict:
    from fgvc_mobile.train.config import TrainConfig
    from fgvc_mobile.train.trainer import fit

    cfg = TrainConfig(data=DATA, method=method, out=str(out), pretrained=str(IMAGENET_WEIGHTS), img_size=96,
                      resize=110, epochs=1, batch_size=16, lr=0.001, head_lr_mult=10.0, workers=0, seed=0,
                      limit_train=600, limit_test=500)
    return fit(cfg, show_progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    root = tmp_path_factory.mktemp("cub100")
    return {m: (root / m, _train(root / m, m)) for m in ("baseline", "rmg-pmsi")}


@pytest.mark.parametrize("method", ["baseline", "rmg-pmsi"])
def test_one_short_epoch_learns_cub100(runs, method):
    out, result = runs[method]
    m = result["test"]  # best.pt (chosen on the validation split), evaluated once on test
    rule = "classifier" if method == "baseline" else "concat"
    assert m["n_images"] == 500
    assert m[f"top1/{rule}"] >= FLOOR[method], f"{method}: top-1 {m[f'top1/{rule}']:.1f}% on cub100"
    assert (out / "best.pt").is_file() and (out / "metrics.csv").is_file()


def test_export_with_gates_and_bench_on_cub100(runs, tmp_path):
    from fgvc_mobile.cli import main
    from fgvc_mobile.export.pipeline import ExportRequest, run_export

    out, _ = runs["baseline"]
    dist = tmp_path / "dist"
    # a one-epoch model on ~20 of the 100 species scores ~19% on 100 test images, where one image is a
    # point: the 1-point int8 budget decides by noise (seen: 19 -> 17 refused). The gate's verdict
    # is checked, then the drop is accepted so the bench half runs; int8 budgets on a trained model
    # are issue 17's table.
    req = dict(checkpoint=str(out / "best.pt"), out=str(dist), format="onnx", int8=True, val_data=DATA,
               val_images=100, calib_images=32)
    result = run_export(ExportRequest(**req, accept_drop=True), echo=lambda *_: None)
    index = json.loads((dist / "manifest.json").read_text())
    arts = {a["precision"]: a for a in index["artifacts"]}
    assert set(arts) == {"fp32", "int8"}
    for a in arts.values():
        assert a["preprocess"]["input_size"] == 96 and a["preprocess"]["resize"] == [110, 110]
    fp32_gate, int8 = arts["fp32"]["validation"]["gate"], arts["int8"]["validation"]
    assert fp32_gate["passed"] and fp32_gate["max_rel_logit_error"] == 1e-3
    # the verdict is the budget's: passed exactly when the drop is within 1 point, accepted otherwise
    assert int8["top1_drop"] == pytest.approx(int8["reference_top1"] - int8["top1"])
    within = int8["top1_drop"] <= 1.0 + 1e-9
    assert int8["gate"]["passed"] and (within or int8["gate"].get("accepted_drop")), int8["gate"]
    assert result.rows
    rep = tmp_path / "bench"
    rc = main(["bench", "--artifacts", str(dist), "--data", DATA, "--out", str(rep), "--runs", "3", "--warmup", "1",
                     "--limit", "50", "--no-progress"])
    assert rc == 0
    report = json.loads((rep / "report.json").read_text())
    rows = {r["artifact"]: r for r in report["results"]}
    assert {"model_fp32.onnx", "model_int8.onnx"} <= set(rows)
    for name in ("model_fp32.onnx", "model_int8.onnx"):
        assert rows[name]["latency_ms"]["p50"] > 0 and rows[name]["accuracy"]["top1"] >= 0
    # 50 test images spread over all 100 species (the model saw ~20): judge agreement, not accuracy
    assert rows["model_fp32.onnx"]["agreement_with_reference"] >= 0.99, rows["model_fp32.onnx"]  # a fraction
