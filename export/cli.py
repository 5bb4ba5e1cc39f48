"""``fgvc-mobile export``: checkpoint -> validated ONNX / TFLite / CoreML artifacts with manifests.

    fgvc-mobile export --checkpoint runs/cub-rmg/best.pt --format tflite --int8 --out dist/
    fgvc-mobile export --checkpoint best.pt --format all --int8 -O onnx.quant_types=U8S8
    fgvc-mobile export --checkpoint best.pt --format all --int8 auto
    fgvc-mobile export --list-formats

Exit codes: 0 every artifact published; 3 some artifacts refused by their gate (the others are
published, the refused ones listed with the options that may fix them); 2 an error (nothing
written).
"""

from __future__ import annotations

import argparse

from fgvc_mobile.export.calibration import DEFAULT_CALIB_IMAGES, DEFAULT_VAL_IMAGES
from fgvc_mobile.export.deploy import INPUT_KINDS
from fgvc_mobile.export.formats import FORMAT_CHOICES, table_text
from fgvc_mobile.export.validate import DEFAULT_MAX_INT8_DROP


def add_arguments(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("--checkpoint", help="a checkpoint written by fgvc-mobile train (best.pt)")
    a("--format", default="all", help=f"{' | '.join(FORMAT_CHOICES)} (or a comma list, e.g. onnx,tflite)")
    a("--int8", nargs="?", const="default", choices=("default", "auto"), metavar="auto",
      help="also write int8 artifacts (calibrated on training images) with the recipe the -O options name; "
           "'--int8 auto' tries each format's recipes cheapest first until the gate passes")
    a("--calib-data", help="KIND:PATH of the calibration images (default: the checkpoint's data set)")
    a("--calib-images", type=int, help=f"calibration images from the train split (default {DEFAULT_CALIB_IMAGES} "
                                       "or all if fewer)")
    a("--val-data", help="KIND:PATH of the images the gates judge on (default: the checkpoint's data set)")
    a("--gate-split", choices=("val", "test"),
      help="split the gates (and --int8 auto's choice) judge on: val, the checkpoint's validation split (default "
           "when it records one: test stays for reporting once, e.g. with fgvc-mobile bench), or test")
    a("--val-images", type=int, help=f"validation images (default {DEFAULT_VAL_IMAGES} or all if fewer; 0 = all)")
    a("--input", default="uint8-nhwc", choices=sorted(INPUT_KINDS),
      help="uint8-nhwc: raw RGB bytes, normalisation in the graph (camera input); float-nchw: normalised floats")
    a("--rule", help="inference rule of the model (default: its first, e.g. concat for rmg-pmsi; combined sums all heads)")
    a("-O", "--option", action="append", default=[], metavar="FORMAT.NAME=VALUE",
      help="a format option, repeatable (see --list-formats)")
    a("--max-int8-drop", type=float, default=DEFAULT_MAX_INT8_DROP,
      help="largest allowed top-1 drop (points) of an int8 artifact vs the fp32 PyTorch model")
    a("--accept-drop", action="store_true", help="write int8 artifacts even when they exceed --max-int8-drop")
    p.epilog = ("exit codes: 0 every artifact published; 3 some refused by their gate (the others published, the "
                "refused listed with the options that may fix them); 2 an error, nothing written")
    a("--skip-bad", action="store_true",
      help="leave unreadable calibration/validation images out (counted in the report) instead of stopping")
    a("--android-assets", metavar="DIR", help="copy the (int8 if any) .tflite and its manifest into the app's assets")
    a("--out", default="dist", help="output folder (default dist/)")
    a("--list-formats", action="store_true", help="print the formats and the options each accepts, then exit")


def run(args: argparse.Namespace) -> int:
    if args.list_formats:
        print(table_text())
        return 0
    from fgvc_mobile.errors import FGVCError
    from fgvc_mobile.export.pipeline import EXIT_REFUSED, ExportRequest, command_line, run_export

    if not args.checkpoint:
        raise FGVCError("--checkpoint: required (a best.pt written by fgvc-mobile train)")
    req = ExportRequest(
        checkpoint=args.checkpoint, out=args.out, format=args.format, int8=args.int8,
        calib_data=args.calib_data, calib_images=args.calib_images, val_data=args.val_data,
        val_images=args.val_images, gate_split=args.gate_split, input=args.input, rule=args.rule, options=args.option,
        max_int8_drop=args.max_int8_drop, accept_drop=args.accept_drop, skip_bad=args.skip_bad,
        android_assets=args.android_assets,
        command=command_line(),
    )
    return EXIT_REFUSED if run_export(req).refused else 0
