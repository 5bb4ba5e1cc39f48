"""Does quantization-aware fine-tuning help where post-training int8 struggles? PTQ vs QAT, same export.

    python -m fgvc_mobile.studies.qat_vs_ptq runs/front/baseline-128-s0/best.pt \\
        [--qat-steps 16] [--batch-size 32] [--val-images 500] [--formats tflite,onnx] [--pt2e-check]

1. ``fgvc-mobile train --start-from CKPT --qat-epochs 1 --max-steps-per-epoch STEPS`` (QAT of the
   deploy graph; best.pt selected on the validation split, as every run; ``--limit-test`` caps
   the images its fake-quant test pass reads);
2. ``fgvc-mobile export --int8 --accept-drop`` of the original checkpoint (PTQ) and of the QAT
   best.pt, with the same calibration and validation images: the int8 artifacts' top-1, drop
   against their own fp32 deploy graph and top-1 agreement with it, from their manifests;
3. ``--pt2e-check``: litert-torch's own PT2E conversion of the QAT graph (``convert_pt2e`` then
   ``litert_torch.convert``) against the PyTorch simulation it should equal -- the route that gave
   wrong logits before (docs/export.md).

Writes ``--out``.md and .json (default benchmarks/results/qat_vs_ptq) with the exact command and
the CPU. Threads: 1 (set OMP_NUM_THREADS=1 too); at 128 px one QAT step of 32 images takes
~10-20 s on a loaded 2-core EPYC, so the default is a fraction of an epoch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _export(ckpt: Path, out: Path, formats: str, val_images: int, calib_images: int) -> dict:
    from fgvc_mobile.cli import main

    rc = main(["export", "--checkpoint", str(ckpt), "--format", formats, "--int8", "--accept-drop",
               "--val-images", str(val_images), "--calib-images", str(calib_images), "--out", str(out)])
    if rc not in (0, 3):
        raise SystemExit(f"export of {ckpt} failed (exit {rc})")
    index = json.loads((out / "manifest.json").read_text())
    rows = {}
    for a in index["artifacts"]:
        if a["precision"] != "int8":
            continue
        v = a["validation"]
        gating = next(e for e in v["evaluations"] if e["name"] == v["gate"]["on"])
        rows[a["format"]] = {"fp32_top1": v["reference_top1"], "int8_top1": v["top1"],
                             "drop": -v["top1_drop"], "agreement": gating["top1_agreement"],
                             "passes_1pt_gate": v["top1_drop"] <= 1.0, "file": a["model_file"]}
    return rows


def pt2e_check(ckpt: Path, calib_images: int, val_images: int) -> dict:
    """litert-torch's PT2E .tflite of the QAT graph against the graph's own PyTorch simulation."""
    from fgvc_mobile.export.calibration import validation_set
    from fgvc_mobile.export.contract import Contract
    from fgvc_mobile.export.formats.tflite import interpreter, tensors
    from fgvc_mobile.export.quiet import quiet
    from fgvc_mobile.models.load import load_trained, read_checkpoint
    from fgvc_mobile.train import qat

    loaded = load_trained(ckpt)
    pre = loaded.preprocess
    q, _, _ = qat.prepare(loaded.model, None, pre.input_size)
    q.graph.load_state_dict(read_checkpoint(ckpt)["qat_state"])
    q.eval()
    val = validation_set(loaded.meta["data"]["spec"], loaded.meta["classes"], pre, val_images)
    x = Contract.reference(pre).prepare(val.images)
    with torch.no_grad():
        sim = torch.cat([q(torch.from_numpy(x[i:i + 32])) for i in range(0, len(x), 32)]).numpy()
    with quiet():
        import litert_torch
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

        converted = convert_pt2e(q.graph, fold_quantize=False)
        example = (torch.from_numpy(x[:1]),)
        flat = bytes(litert_torch.convert(converted, example, quant_config=QuantConfig(
            pt2e_quantizer=_quantizer())).model_content())
    it = interpreter(flat)
    it.allocate_tensors()
    inp, out = tensors(it)
    outs = []
    for xi in x:
        v = xi[None]
        if inp["dtype"] != np.float32:  # the PT2E route quantizes the input itself
            s, z = inp["quantization"]
            v = np.clip(np.round(v / s) + z, -128, 127).astype(inp["dtype"])
        it.set_tensor(inp["index"], v)
        it.invoke()
        o = it.get_tensor(out["index"]).astype(np.float32)
        if out["dtype"] != np.float32:
            s, z = out["quantization"]
            o = (o - z) * s
        outs.append(o[0])
    lite = np.stack(outs)
    labels = val.labels
    return {"images": int(len(labels)), "sim_top1": float((sim.argmax(1) == labels).mean() * 100),
            "tflite_top1": float((lite.argmax(1) == labels).mean() * 100),
            "agreement_with_sim": float((lite.argmax(1) == sim.argmax(1)).mean() * 100),
            "max_abs_logit_diff": float(np.abs(lite - sim).max()),
            "input_dtype": np.dtype(inp["dtype"]).name}


def _quantizer():
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    return PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))


def main(argv: list[str] | None = None) -> int:
    from fgvc_mobile.benchmarks.machine import cpu_model, library_versions
    from fgvc_mobile.cli import main as cli
    from fgvc_mobile.studies.results import command_of, write_results

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--qat-steps", type=int, default=16, help="QAT steps (batches) of the one epoch")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, help="QAT learning rate (default: train's, a tenth of the checkpoint's)")
    p.add_argument("--limit-test", type=int, default=300, help="images of the QAT run's val and test passes")
    p.add_argument("--val-images", type=int, default=500, help="export's validation images (test split)")
    p.add_argument("--calib-images", type=int, default=100)
    p.add_argument("--formats", default="tflite,onnx")
    p.add_argument("--pt2e-check", action="store_true")
    p.add_argument("--work", default="runs/qat_vs_ptq", help="folder for the QAT run and the exports")
    p.add_argument("--out", default="benchmarks/results/qat_vs_ptq")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ckpt, work = Path(args.checkpoint), Path(args.work)
    t0 = time.perf_counter()
    train = ["train", "--start-from", str(ckpt), "--qat-epochs", "1", "--max-steps-per-epoch", str(args.qat_steps),
             "--batch-size", str(args.batch_size), "--limit-test", str(args.limit_test), "--workers", "1",
             "--device", "cpu", "--out", str(work / "qat")] + (["--lr", str(args.lr)] if args.lr else [])
    if cli(train) != 0:
        raise SystemExit("QAT run failed")
    qat_seconds = time.perf_counter() - t0
    qat_ckpt = work / "qat" / "best.pt"
    ptq = _export(ckpt, work / "export-ptq", args.formats, args.val_images, args.calib_images)
    qat = _export(qat_ckpt, work / "export-qat", args.formats, args.val_images, args.calib_images)
    results = json.loads((work / "qat" / "results.json").read_text())
    check = pt2e_check(qat_ckpt, args.calib_images, min(args.val_images, 200)) if args.pt2e_check else None
    rows = [{"format": f, "ptq": ptq[f], "qat": qat.get(f)} for f in ptq]
    payload = {"checkpoint": str(ckpt), "command": command_of("qat_vs_ptq", argv), "cpu": cpu_model(),
               "libraries": library_versions(), "qat_steps": args.qat_steps, "batch_size": args.batch_size,
               "qat_images_seen": args.qat_steps * args.batch_size, "qat_seconds": round(qat_seconds, 1),
               "qat_run": {"val": results["val"], "test": results["test"], "qat": results["qat"]},
               "rows": rows, "pt2e_check": check, "seconds": round(time.perf_counter() - t0, 1)}
    md = [f"# QAT vs PTQ int8: {ckpt}", "",
          f"Command: `{payload['command']}`", f"CPU: {payload['cpu']} (1 thread)", "",
          f"QAT: {args.qat_steps} steps of {args.batch_size} images ({payload['qat_images_seen']} images, "
          f"{qat_seconds:.0f} s), selected on val; its fake-quant graph: val top-1 "
          f"{_first_top1(results['val'])}, test top-1 {_first_top1(results['test'])} "
          f"({results['test'].get('n_images')} images).", "",
          f"Export of each checkpoint with `--int8` on the same {args.val_images} test images "
          "(drop and agreement against that checkpoint's own fp32 deploy graph):", "",
          "| format | PTQ fp32 | PTQ int8 | PTQ drop | PTQ agreement | QAT fp32 | QAT int8 | QAT drop | QAT agreement |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["ptq"], r["qat"] or {}
        md.append(f"| {r['format']} | {a['fp32_top1']:.2f} | {a['int8_top1']:.2f} | {a['drop']:+.2f} | "
                  f"{a['agreement']:.1f}% | {b.get('fp32_top1', float('nan')):.2f} | "
                  f"{b.get('int8_top1', float('nan')):.2f} | {b.get('drop', float('nan')):+.2f} | "
                  f"{b.get('agreement', float('nan')):.1f}% |")
    if check:
        md += ["", f"litert-torch PT2E conversion of the QAT graph ({check['images']} images): PyTorch simulation "
               f"top-1 {check['sim_top1']:.2f}, .tflite top-1 {check['tflite_top1']:.2f}, agreement with the "
               f"simulation {check['agreement_with_sim']:.1f}%, max |logit diff| {check['max_abs_logit_diff']:.3f}."]
    write_results(args.out, md, payload)
    print("\n".join(md))
    return 0


def _first_top1(metrics: dict) -> str:
    v = next((v for k, v in metrics.items() if k.startswith("top1/")), None)
    return "n/a" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(main())
