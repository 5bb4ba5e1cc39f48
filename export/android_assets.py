"""Place an exported .tflite, its manifest and labels where the Android sample app loads them.

The app (android_demo/, class FgvcClassifier) reads ``manifest.json`` and ``labels.txt`` from
its assets and the model named by the manifest's ``model_file``. This step refuses a pair the
app would refuse anyway (labels count vs output classes, a non-TFLite manifest, a manifest that
disagrees with the model's own tensors), so the mistake surfaces at export time, not on a phone.

``write_android_golden`` additionally runs the model in Python on one image and writes what
the app's instrumented test (GoldenImageTest) must reproduce on a device.

    python -m fgvc_mobile.export.android_assets MODEL.tflite MODEL.manifest.json android_demo/app/src/main/assets \\
        [--golden-image bird.jpg [--golden-dir android_demo/app/src/androidTest/assets/golden]]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from fgvc_mobile.data.images import load_rgb
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.android_vectors import top_k
from fgvc_mobile.export.contract import Contract
from fgvc_mobile.export.formats import FORMATS
from fgvc_mobile.export.manifest import read_json, validate_manifest
from fgvc_mobile.export.runtime import load_crops
from fgvc_mobile.serialization import atomic_path, atomic_write_json, atomic_write_text

#: asset names the app loads (FgvcClassifier.MANIFEST_ASSET / LABELS_ASSET); a test keeps them in sync
MANIFEST_ASSET = "manifest.json"
LABELS_ASSET = "labels.txt"


def load_manifest(manifest_path, artifact_name: str) -> dict:
    """One artifact's manifest; an export folder's index (``{"artifacts": [...]}``) is resolved by model file."""
    path = Path(manifest_path)
    data = read_json(path)
    if "artifacts" in data and "model_file" not in data:
        entry = next((a for a in data["artifacts"] if a.get("model_file") == artifact_name), None)
        if entry is None or not entry.get("manifest"):
            raise FGVCError(f"{path}: lists no manifest for {artifact_name}")
        return load_manifest(path.parent / entry["manifest"], artifact_name)
    return validate_manifest(data, str(path))  # the schema, and labels vs output width


def _model_io(artifact: Path):
    """(input, output) as LiteRT reads them from the model, or None when ai_edge_litert is not installed."""
    tflite = FORMATS["tflite"]
    if tflite.unavailable_reason() is not None:
        return None
    try:
        return tflite.io_info(artifact)
    except FGVCError as e:  # more than one input or output
        raise FGVCError(f"{artifact}: {e}; the app needs exactly one of each") from None
    except Exception as e:  # a corrupt or non-TFLite file
        raise FGVCError(f"{artifact}: LiteRT cannot load it ({str(e).splitlines()[0][:150]})") from None


def check_for_app(artifact: Path, manifest: dict, where: str) -> None:
    """Refuse what FgvcClassifier would refuse beyond the manifest's own checks (``load_manifest``):
    another format, a manifest that disagrees with the model's tensors."""
    if manifest["format"] != "tflite":
        raise FGVCError(f"{where}: describes a {manifest['format']} artifact; the Android app runs tflite models")
    labels = manifest["labels"]
    io = _model_io(artifact)
    if io is None:
        return  # the app repeats these checks against the model when it loads it
    inp, out = io
    m_in = manifest["input"]
    in_type, in_shape, model_out = inp["dtype"], inp["shape"], out["shape"]
    if in_type != m_in["dtype"] or in_shape != list(m_in["shape"]):
        raise FGVCError(f"{where}: says input {m_in['dtype']}{m_in['shape']} but {artifact.name} takes {in_type}{in_shape}")
    if int(np.prod(model_out)) != len(labels):
        raise FGVCError(f"{where}: lists {len(labels)} labels but {artifact.name} outputs {model_out}; "
                        "the app would refuse this model")


def copy_android_assets(artifact_path, manifest_path, assets_dir) -> dict[str, Path]:
    """Copy the model, write ``manifest.json`` (model_file = the model's name) and ``labels.txt``.

    Returns the written paths (``model``, ``manifest``, ``labels``) and, under ``stale``, other
    .tflite files left in the folder (they only bloat the APK; the app loads the manifest's model).
    """
    artifact = Path(artifact_path)
    if not artifact.is_file():
        raise FGVCError(f"{artifact}: no such model file")
    if artifact.suffix != ".tflite":
        raise FGVCError(f"{artifact}: the Android app runs .tflite models (export with --format tflite)")
    manifest = load_manifest(manifest_path, artifact.name)
    check_for_app(artifact, manifest, str(manifest_path))

    assets = Path(assets_dir)
    try:
        assets.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FGVCError(f"{assets}: cannot create the assets folder ({e.strerror or e})") from None
    app_manifest = dict(manifest, model_file=artifact.name, labels_file=LABELS_ASSET)
    model_dst = assets / artifact.name
    if artifact.resolve() != model_dst.resolve():
        try:
            with atomic_path(model_dst) as tmp:
                shutil.copyfile(artifact, tmp)
        except OSError as e:
            raise FGVCError(f"{model_dst}: cannot write ({e.strerror or e})") from None
    atomic_write_text(assets / LABELS_ASSET, "".join(f"{lab}\n" for lab in manifest["labels"]))
    atomic_write_json(assets / MANIFEST_ASSET, app_manifest)
    stale = sorted(p for p in assets.glob("*.tflite") if p.name != artifact.name)
    return {"model": model_dst, "manifest": assets / MANIFEST_ASSET, "labels": assets / LABELS_ASSET, "stale": stale}


def write_android_golden(artifact_path, manifest_path, image_path, golden_dir) -> dict:
    """Run the model in Python (LiteRT) on one image; write golden.png, golden_input.bin, golden.json.

    The app's instrumented test decodes golden.png, must build exactly golden_input.bin and
    classify to golden.json's expected label. The image is re-encoded as PNG from ``load_rgb``'s
    pixels, so JPEG decoder differences between Pillow and Android cannot matter.
    """
    artifact = Path(artifact_path)
    manifest = load_manifest(manifest_path, artifact.name)
    check_for_app(artifact, manifest, str(manifest_path))
    if _model_io(artifact) is None:
        raise FGVCError("writing a golden image needs ai_edge_litert (pip install 'fgvc-mobile[export]')")
    session = FORMATS["tflite"].open(artifact, Contract.from_manifest(manifest))  # the model's quant params win

    golden = Path(golden_dir)
    golden.mkdir(parents=True, exist_ok=True)
    with atomic_path(golden / "golden.png") as tmp:
        load_rgb(image_path).save(tmp, format="PNG")
    x = session.contract.prepare(load_crops([golden / "golden.png"], session.contract.pre))
    with atomic_path(golden / "golden_input.bin") as tmp:
        tmp.write_bytes(x.astype(x.dtype.newbyteorder("<")).tobytes())
    values = session.run(x)[0]
    sc = session.contract.probabilities(values)
    top = top_k(values, 5)
    labels = manifest["labels"]
    result = {
        "model_file": artifact.name,
        "image": "golden.png",
        "input_tensor": "golden_input.bin",
        "byte_order": "little",
        "expected_index": top[0],
        "expected_label": labels[top[0]],
        "top5": [labels[i] for i in top],
        "top5_scores": [float(sc[i]) for i in top],
    }
    atomic_write_json(golden / "golden.json", result)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fgvc_mobile.export.android_assets", description=__doc__.splitlines()[0])
    p.add_argument("artifact", help="the exported .tflite file")
    p.add_argument("manifest", help="its manifest (<stem>.manifest.json, or the export folder's manifest.json)")
    p.add_argument("assets_dir", help="the app's assets folder, e.g. android_demo/app/src/main/assets")
    p.add_argument("--golden-image", help="also write the instrumented test's golden files for this image")
    p.add_argument("--golden-dir", help="where (default: <app>/src/androidTest/assets/golden beside the assets folder)")
    args = p.parse_args(argv)
    try:
        written = copy_android_assets(args.artifact, args.manifest, args.assets_dir)
        for p_ in written["stale"]:
            print(f"note: {p_} is another model left in the assets folder; delete it to keep the APK small")
        print(f"wrote {written['model']}, {written['manifest']}, {written['labels']}")
        if args.golden_image:
            assets = Path(args.assets_dir).resolve()
            golden_dir = args.golden_dir
            if golden_dir is None:
                if assets.parts[-3:] != ("src", "main", "assets"):
                    raise FGVCError("--golden-dir is needed when the assets folder is not <app>/src/main/assets")
                golden_dir = assets.parent.parent / "androidTest" / "assets" / "golden"
            g = write_android_golden(args.artifact, args.manifest, args.golden_image, golden_dir)
            print(f"golden: {golden_dir} expects {g['expected_label']!r}")
    except FGVCError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
