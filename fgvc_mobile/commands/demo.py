"""``fgvc-mobile demo``: the whole pipeline on the embedded synthetic data set, no download.

synthetic birds -> train baseline and rmg-pmsi -> export (ONNX/TFLite/CoreML, fp32 + int8,
validated) -> benchmark every artifact -> one summary. A few CPU minutes with the defaults.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fgvc_mobile.errors import FGVCError


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="folder for data, runs, artifacts and reports")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--img-size", type=int, default=64, dest="img_size")
    p.add_argument("--classes", type=int, default=10, help="synthetic bird species")
    p.add_argument(
        "--pretrained", default="auto",
        help="auto (the shared ImageNet weights if present, else torchvision's download, else from scratch), "
        "'imagenet', a local state_dict path, or none",
    )
    p.add_argument("--methods", nargs="+", default=["baseline", "rmg-pmsi"])
    p.add_argument("--skip-export", action="store_true", help="stop after training")
    p.add_argument("--seed", type=int, default=0)


SHARED_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "mobilenet_v2_imagenet.pth"


def resolve_pretrained(spec: str | None) -> str | None:
    """``auto``: local shared weights, else the torchvision download, else none (with a warning)."""
    if spec != "auto":
        return None if spec in (None, "none") else spec
    if SHARED_WEIGHTS.is_file():
        return str(SHARED_WEIGHTS)
    try:
        from torchvision.models import MobileNet_V2_Weights

        MobileNet_V2_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
        return "imagenet"
    except Exception:
        print("warning: no ImageNet weights available (offline?): training from scratch, expect low accuracy")
        return None


def run(args) -> int:
    from fgvc_mobile.data.synthetic import make_synthetic, save_contact_sheet
    from fgvc_mobile.train.config import TrainConfig
    from fgvc_mobile.train.trainer import fit

    out = Path(args.out)
    data_dir = out / "data"
    splits = make_synthetic(data_dir, num_classes=args.classes, size=args.img_size, seed=args.seed)
    save_contact_sheet(splits, out / "synthetic_samples.png")
    print(f"[1/4] synthetic data: {len(splits.train)} train / {len(splits.test)} test images, "
          f"{len(splits.classes)} classes -> {data_dir} (samples: {out / 'synthetic_samples.png'})")

    pretrained = resolve_pretrained(args.pretrained)
    results = {}
    for method in args.methods:
        cfg = TrainConfig(
            data=f"folder:{data_dir}", method=method, out=str(out / "runs" / method), pretrained=pretrained,
            img_size=args.img_size, resize=args.img_size, epochs=args.epochs, batch_size=32,
            optimizer="adamw", lr=1e-3, head_lr_mult=1.0, seed=args.seed, workers=0,
        )
        r = fit(cfg)
        results[method] = r
        test = (r.get("test") or {}).get(r["best"]["metric"], float("nan"))
        print(f"[2/4] trained {method}: {r['best']['metric']} {test:.1f}% on the test split, best epoch "
              f"{r['best']['epoch']} chosen on val ({r['best']['value']:.1f}%; chance {100 / len(splits.classes):.0f}%) -> {cfg.out}")
    if args.skip_export:
        return 0
    if importlib.util.find_spec("fgvc_mobile.export.pipeline") is None:
        raise FGVCError("demo: the exporters are not installed; pip install 'fgvc-mobile[export]' or use --skip-export")

    from fgvc_mobile.benchmarks.bench import run_bench
    from fgvc_mobile.export.pipeline import ExportRequest, run_export

    dist = out / "dist"
    for method in args.methods:
        req = ExportRequest(
            checkpoint=str(out / "runs" / method / "best.pt"), out=str(dist / method), format="all", int8=True,
            accept_drop=True, command=f"fgvc-mobile export --checkpoint {out}/runs/{method}/best.pt --format all "
            f"--int8 --accept-drop --out {dist / method}",
        )
        run_export(req)
        print(f"[3/4] exported {method} -> {dist / method}")
    report_dir = out / "report"
    run_bench(str(dist), f"folder:{data_dir}", str(report_dir), runs=20, warmup=5)
    print(f"[4/4] benchmark -> {report_dir}/report.md (and report.html, PNG plots)")
    print((report_dir / "report.md").read_text(encoding="utf-8"))
    return 0
