"""``fgvc-mobile demo``: the whole pipeline on the embedded synthetic data set, offline, in minutes.

synthetic birds -> train the baseline from scratch -> fine-tune RMG-PMSI (the phone preset's
heads) from the baseline's backbone -> export (ONNX/TFLite/CoreML, fp32 + int8, validated) ->
benchmark every artifact -> a summary: top-1 per method, int8 agreement, the demo's run time.

Nothing is downloaded: the set (data/synthetic.py) is drawn to be learnt from scratch in a few
CPU minutes (48 px, fixed part layout, small local differences), so the default is
``--pretrained none``. Every later method starts from the first one's backbone, as it would
start from ImageNet weights on real data, so it needs only a few epochs of its own.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from fgvc_mobile.errors import FGVCError


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="folder for data, runs, artifacts and reports")
    p.add_argument("--epochs", type=int, default=8, help="epochs of the first method (from --pretrained)")
    p.add_argument("--finetune-epochs", type=int, default=2, dest="finetune_epochs",
                   help="epochs of every later method (from the first method's backbone)")
    p.add_argument("--img-size", type=int, default=48, dest="img_size")
    p.add_argument("--classes", type=int, default=10, help="synthetic bird species")
    p.add_argument("--train-per-class", type=int, default=200, dest="train_per_class",
                   help="training images per class (a tenth is held out as the validation split)")
    p.add_argument("--test-per-class", type=int, default=20, dest="test_per_class")
    p.add_argument("--pretrained", default="none",
                   help="what the first method starts from: none (default: the synthetic set is learnt from "
                   "scratch), imagenet (torchvision's download) or a local state_dict / checkpoint")
    p.add_argument("--methods", nargs="+", default=["baseline", "rmg-pmsi"],
                   help="the first trains from --pretrained, every later one from the first one's backbone")
    p.add_argument("--skip-export", action="store_true", help="stop after training")
    p.add_argument("--seed", type=int, default=0)


def _train_configs(args, data: str, out: Path):
    """(TrainConfig, what it starts from) per method: the first from --pretrained, the rest from its best.pt."""
    from fgvc_mobile.methods import get_method
    from fgvc_mobile.models.presets import PHONE_PRESET
    from fgvc_mobile.train.config import TrainConfig

    first = out / "runs" / args.methods[0] / "best.pt"
    for k, method in enumerate(args.methods):
        recipe = get_method(method)
        start = _start(args.pretrained) if k == 0 else f"{args.methods[0]}'s backbone ({first})"
        yield start, TrainConfig(
            data=data, method=method, out=str(out / "runs" / method),
            pretrained=args.pretrained if k == 0 else str(first),
            model={"preset": PHONE_PRESET} if PHONE_PRESET in recipe.model_presets else {},
            img_size=args.img_size, resize=args.img_size, epochs=args.epochs if k == 0 else args.finetune_epochs,
            batch_size=32, optimizer="adamw", lr=2e-3 if k == 0 else 1e-3, head_lr_mult=1.0 if k == 0 else 3.0,
            weight_decay=0.05, warmup_epochs=0.5, channels_last=True, seed=args.seed, workers=0,
        )


def _start(pretrained: str) -> str:
    return "scratch (--pretrained none)" if pretrained in ("", "none") else f"--pretrained {pretrained}"


def run(args) -> int:
    from fgvc_mobile.data.synthetic import make_synthetic, save_contact_sheet
    from fgvc_mobile.train.trainer import fit

    if args.epochs < 1 or args.finetune_epochs < 1:
        raise FGVCError("demo: --epochs and --finetune-epochs must be at least 1")
    t0 = time.monotonic()
    out = Path(args.out)
    data_dir = out / "data"
    splits = make_synthetic(data_dir, num_classes=args.classes, train_per_class=args.train_per_class,
                            test_per_class=args.test_per_class, size=args.img_size, seed=args.seed)
    save_contact_sheet(splits, out / "synthetic_samples.png")
    chance = 100 / len(splits.classes)
    print(f"[1/4] synthetic data: {len(splits.train)} train / {len(splits.test)} test images of "
          f"{len(splits.classes)} species at {args.img_size} px -> {data_dir} (samples: {out / 'synthetic_samples.png'})")

    trained = {}
    for start, cfg in _train_configs(args, f"folder:{data_dir}", out):
        print(f"[2/4] training {cfg.method} for {cfg.epochs} epochs from {start}; validation top-1 after every epoch:")
        r = fit(cfg)
        test = (r.get("test") or {}).get(r["best"]["metric"], float("nan"))
        trained[cfg.method] = {"test": test, "start": start}
        print(f"[2/4] trained {cfg.method}: {r['best']['metric']} {test:.1f}% on the test split (chance "
              f"{chance:.0f}%), best epoch {r['best']['epoch']} chosen on val ({r['best']['value']:.1f}%) -> {cfg.out}")
    report = None
    if not args.skip_export:
        report = _export_and_bench(args, out, f"folder:{data_dir}")
    print(summary(trained, report, chance, time.monotonic() - t0, out))
    return 0


def _export_and_bench(args, out: Path, data: str) -> dict:
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
    report = run_bench(str(dist), data, str(report_dir), runs=20, warmup=5)
    print(f"[4/4] benchmark -> {report_dir}/report.md (and report.html, PNG plots)")
    print((report_dir / "report.md").read_text(encoding="utf-8"))
    return report


def int8_agreement(report: dict, dist_method: Path) -> dict[str, float]:
    """format -> top-1 agreement (%) of each int8 artifact under ``dist_method`` with its fp32 checkpoint."""
    agree = {}
    for row in report.get("results", []):
        art = Path(str(row.get("artifact") or ""))
        if not art.is_absolute():  # bench names artifacts relative to the folder it was given: dist/
            art = dist_method.parent / art
        if row.get("precision") == "int8" and row.get("agreement_with_reference") is not None \
                and dist_method.resolve() in art.resolve().parents:
            agree[row["format"]] = 100 * float(row["agreement_with_reference"])
    return agree


def summary(trained: dict, report: dict | None, chance: float, seconds: float, out: Path) -> str:
    lines = ["", f"demo summary (run time {int(seconds // 60)} min {seconds % 60:.0f} s, chance {chance:.0f}%):"]
    for method, t in trained.items():
        line = f"  {method:<10} test top-1 {t['test']:5.1f}%  (started from {t['start']})"
        if report is not None:
            agree = int8_agreement(report, out / "dist" / method)
            shown = ", ".join(f"{f} {a:.1f}%" for f, a in sorted(agree.items())) or "none measured"
            line += f"; int8 agreement with fp32: {shown}"
        lines.append(line)
    return "\n".join(lines)
