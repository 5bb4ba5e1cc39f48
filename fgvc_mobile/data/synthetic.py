"""The synthetic data set on disk: the birds of ``synthetic_birds.py`` written as a folder layout,
cached by generator version and parameters, and the ``synthetic:`` reader.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from PIL import Image, ImageDraw

from fgvc_mobile.data.readers import DataSplits, register_reader
from fgvc_mobile.data.synthetic_birds import GENERATOR_VERSION, SyntheticParams, class_attributes, class_name, sample_image
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.serialization import atomic_path, atomic_write_json


# ---------------------------------------------------------------- the data set on disk


def _counts(params: SyntheticParams) -> dict[str, int]:
    return {"train": params.train_per_class, "test": params.test_per_class}


def _splits(root: Path, params: SyntheticParams) -> DataSplits:
    attrs = class_attributes(params.num_classes)
    classes = [class_name(a) for a in attrs]
    out = {
        split: [(str(root / split / c / f"{i:04d}.png"), k) for k, c in enumerate(classes) for i in range(count)]
        for split, count in _counts(params).items()
    }
    extra = {"params": asdict(params), "version": GENERATOR_VERSION, "attributes": attrs}
    return DataSplits(classes, out["train"], out["test"], str(root), "synthetic", extra).check()


def _info(params: SyntheticParams) -> dict:
    return {"generator": "fgvc_mobile.data.synthetic", "version": GENERATOR_VERSION, "params": asdict(params)}


def _read_info(root: Path) -> dict | None:
    try:
        info = json.loads((root / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _complete(root: Path, params: SyntheticParams) -> bool:
    """True when ``root`` holds exactly this set: matching info.json and every image file."""
    info = _read_info(root)
    if info is None or {k: info.get(k) for k in _info(params)} != _info(params):
        return False
    splits = _splits(root, params)
    return all(os.path.isfile(p) for p, _ in [*splits.train, *splits.test])


def _write(root: Path, params: SyntheticParams) -> None:
    splits = _splits(root, params)
    for split in ("train", "test"):
        for k, c in enumerate(splits.classes):
            (root / split / c).mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        for path, k in splits.split(split):
            i = int(Path(path).stem)
            sample_image(params, split, k, i).save(path, optimize=False)
    atomic_write_json(root / "info.json", {**_info(params), "classes": splits.classes})


def make_synthetic(
    root: str | os.PathLike,
    num_classes: int = 10,
    train_per_class: int = 60,
    test_per_class: int = 20,
    size: int = 64,
    seed: int = 0,
) -> DataSplits:
    """Generate the set into ``root`` (ImageFolder layout plus info.json), or reuse it if present.

    The set appears atomically: it is drawn in a temporary sibling folder and renamed into place,
    so concurrent callers (e.g. DDP ranks) never see a half-written set. A non-empty ``root``
    that is not this exact set is refused rather than overwritten.
    """
    params = SyntheticParams(num_classes, train_per_class, test_per_class, size, seed).validate()
    root = Path(root).absolute()
    if _complete(root, params):
        return _splits(root, params)
    info = _read_info(root)
    if info is not None and {k: info.get(k) for k in _info(params)} == _info(params):
        shutil.rmtree(root, ignore_errors=True)  # our own set with files missing: draw it again
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        what = "a synthetic set with other parameters" if info else "not empty and not a synthetic set"
        raise FGVCError(
            f"{root}: {what}; it is left untouched: use another folder or delete this one "
            f"to draw the set {asdict(params)}"
        )
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the set is an ordinary folder
    except OSError as e:
        raise FGVCError(f"{root}: cannot write ({e.strerror or e})") from None
    try:
        _write(tmp, params)
        try:
            os.replace(tmp, root)  # replaces a missing or empty folder; fails if another process won
        except OSError:
            if not _complete(root, params):
                raise
    except OSError as e:
        raise FGVCError(f"{root}: cannot write the synthetic set ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _splits(root, params)


def default_cache_dir(params: SyntheticParams) -> Path:
    """``$FGVC_MOBILE_CACHE`` (else ``$XDG_CACHE_HOME/fgvc_mobile`` or ``~/.cache/fgvc_mobile``)."""
    base = os.environ.get("FGVC_MOBILE_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "fgvc_mobile")
    return Path(base) / f"synthetic-{params.key()}"


def _int_option(name: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FGVCError(f"synthetic: option {name} must be an integer, got {value!r}") from None


@register_reader("synthetic", generates=True)
def read_synthetic(
    root: str, num_classes=10, train_per_class=60, test_per_class=20, size=64, seed=0
) -> DataSplits:
    """``synthetic`` (cached, see :func:`default_cache_dir`) or ``synthetic:DIR``; options such as
    ``synthetic?size=224&num_classes=20&seed=1`` change the set."""
    opts = {"num_classes": num_classes, "train_per_class": train_per_class, "test_per_class": test_per_class}
    params = SyntheticParams(**{k: _int_option(k, v) for k, v in opts.items()},
                             size=_int_option("size", size), seed=_int_option("seed", seed)).validate()
    return make_synthetic(root or default_cache_dir(params), **asdict(params))


def save_contact_sheet(splits: DataSplits, path: str | os.PathLike, per_class: int = 6, split: str = "train") -> None:
    """A PNG grid, one row per class (its name on the left), for a person to look at."""
    samples = splits.split(split)
    rows = [[p for p, lab in samples if lab == k][:per_class] for k in range(len(splits.classes))]
    cell = 96
    label_w = 6 * max(len(c) for c in splits.classes) + 12
    sheet = Image.new("RGB", (label_w + cell * per_class, cell * len(rows)), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for r, paths in enumerate(rows):
        d.text((4, r * cell + cell // 2 - 6), splits.classes[r], fill=(0, 0, 0))
        for c, p in enumerate(paths):
            with Image.open(p) as im:
                sheet.paste(im.convert("RGB").resize((cell - 4, cell - 4), Image.NEAREST),
                            (label_w + c * cell + 2, r * cell + 2))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def main(argv: list[str] | None = None) -> None:
    """``python -m fgvc_mobile.data.synthetic DIR [--sheet sheet.png]``: draw a set and look at it."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("root")
    ap.add_argument("--sheet", help="also write a contact sheet PNG here")
    for name, value in asdict(SyntheticParams()).items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    args = ap.parse_args(argv)
    params = {k: getattr(args, k) for k in asdict(SyntheticParams())}
    try:
        splits = make_synthetic(args.root, **params)
        if args.sheet:
            save_contact_sheet(splits, args.sheet)
    except FGVCError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{splits.root}: {len(splits.classes)} classes, {len(splits.train)} train, {len(splits.test)} test")


if __name__ == "__main__":
    main()
