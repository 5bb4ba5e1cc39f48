"""Decode one image file to RGB, or fail with a one-line error naming the file.

Every path that reads user images (training, calibration, predict, benchmarks) goes through
``load_rgb`` so the bad-image policy is the same everywhere.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from fgvc_mobile.errors import FGVCError

# Truncated files must fail, not decode half an image silently; Pillow's default already says so,
# and the decompression-bomb pixel limit (Image.MAX_IMAGE_PIXELS) is deliberately left on.
ImageFile.LOAD_TRUNCATED_IMAGES = False


#: what a folder scan (image-folder data sets, ``predict DIR``) takes for an image
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def image_files(folder: str | os.PathLike) -> list[str]:
    """The image files under ``folder`` (recursive, by suffix), sorted."""
    return sorted(str(f) for f in Path(folder).rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)


class ImageLoadError(FGVCError):
    """An image file that cannot be decoded (corrupt, truncated, not an image, too large)."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """Grayscale, RGBA, CMYK, palette, 16-bit and float images all become 8-bit RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        peak = arr.max(initial=0)
        if img.mode.startswith("I;16") or peak > 255:
            hi = 65535.0
        elif img.mode == "F" and peak <= 1.0:
            hi = 1.0  # float images conventionally hold 0..1
        else:
            hi = 255.0
        arr8 = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open ``path``, apply its EXIF orientation and return an 8-bit RGB PIL image."""
    path = os.fspath(path)
    if "\0" in path:
        raise ImageLoadError(f"{path[:200]!r}: a file name cannot contain a NUL byte")
    if os.path.isdir(path):
        raise ImageLoadError(f"{path}: is a directory, not an image file")
    try:
        empty = os.path.getsize(path) == 0
    except OSError:
        empty = False  # a missing or unreadable file is reported by Image.open below
    if empty:
        raise ImageLoadError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns about damaged metadata (EXIF, TIFF tags) it skips: the image either
            # decodes or fails below with one line; its warnings would only add noise
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                return _to_rgb(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(
            f"{path}: image too large ({e.__class__.__name__}; Pillow's pixel limit is "
            f"{Image.MAX_IMAGE_PIXELS} pixels)"
        ) from None
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such image file") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not an image Pillow can read") from None
    except PermissionError:
        raise ImageLoadError(f"{path}: permission denied") from None
    except Exception as e:  # noqa: BLE001 - Pillow decoders raise OSError, SyntaxError, EOFError,
        # struct.error, IndexError ... on hostile files; all of them mean "this file is bad".
        msg = str(e).splitlines()[0][:200] if str(e) else e.__class__.__name__
        raise ImageLoadError(f"{path}: corrupt or truncated image ({msg})") from None
