"""Hostile and awkward files for the reliability tests: images, pickles, artifacts.

Each factory writes real files (no mocks) so the pipelines are exercised the way a user's
bad input would exercise them.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width x height`` pixels: a decompression bomb's shape.

    Only the header matters: Pillow refuses the size at ``Image.open`` before decoding, so the
    file stays a few dozen bytes and nothing large is ever allocated.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\x00" * 16)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b""))
    return path


def pattern(size: int = 40, seed: int = 0, colour=(200, 40, 40)) -> np.ndarray:
    """An asymmetric RGB picture (so a wrong rotation or flip changes it)."""
    rng = np.random.default_rng(seed)
    img = np.clip(np.array(colour) + rng.normal(0, 30, (size, size, 3)), 0, 255)
    img[: size // 4, : size // 2] = (250, 250, 250)  # a white block in the top-left corner
    return img.astype(np.uint8)


def with_exif_orientation(upright: Image.Image, path: Path, fmt: str = "PNG") -> Path:
    """Store ``upright`` rotated 90 degrees with EXIF orientation 6: viewers turn it back upright."""
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    stored.save(path, format=fmt, exif=exif.tobytes())
    return path


def odd_but_valid_images(folder: Path, size: int = 40, seed: int = 0, colour=(200, 40, 40)) -> dict[str, Path]:
    """Images every pipeline must accept: alpha, 16-bit, CMYK, palette, EXIF-rotated, 1x1, gray."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.fromarray(pattern(size, seed, colour))
    out = {}
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.full((size, size), 128, np.uint8)))
    rgba.save(out.setdefault("rgba", folder / "rgba.png"))
    gray16 = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(out.setdefault("gray16", folder / "gray16.png"))
    base.convert("CMYK").save(out.setdefault("cmyk", folder / "cmyk.jpg"), quality=95)
    pal = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(out.setdefault("palette", folder / "palette.png"), transparency=0)
    with_exif_orientation(base, out.setdefault("exif_rotated", folder / "exif_rotated.jpg"), "JPEG")
    base.resize((1, 1)).save(out.setdefault("one_pixel", folder / "one_pixel.png"))
    base.convert("L").save(out.setdefault("gray", folder / "gray.png"))
    return out


def bad_images(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Files no pipeline may decode: empty, truncated, random bytes, bombs, text named .png."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    good = Image.fromarray(pattern(64, seed))
    out = {}
    out["empty"] = folder / "empty.jpg"
    out["empty"].write_bytes(b"")
    jpg = folder / "_whole.jpg"
    good.save(jpg, quality=90)
    data = jpg.read_bytes()
    jpg.unlink()
    out["truncated_jpeg"] = folder / "truncated.jpg"
    out["truncated_jpeg"].write_bytes(data[: len(data) // 2])
    png = folder / "_whole.png"
    good.save(png)
    data = png.read_bytes()
    png.unlink()
    out["truncated_png"] = folder / "truncated.png"
    out["truncated_png"].write_bytes(data[: len(data) * 2 // 3])
    out["random_bytes"] = folder / "random.jpg"
    out["random_bytes"].write_bytes(rng.bytes(2048))
    out["text"] = folder / "notes.png"
    out["text"].write_text("this is not an image\n")
    # > 2 * Image.MAX_IMAGE_PIXELS: DecompressionBombError; between 1x and 2x: the warning, made an error
    out["bomb"] = png_header_claiming(folder / "bomb.png", 40_000, 40_000)
    out["bomb_warning"] = png_header_claiming(folder / "bomb_warning.png", 11_000, 11_000)
    return out


def marker_pickle_checkpoint(path: Path, marker: Path, as_checkpoint: bool = True) -> Path:
    """A torch file whose unpickling would create ``marker`` (arbitrary code on load).

    ``open(marker, "w")`` stands in for any payload: if the marker exists afterwards, code ran.
    """
    import torch

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    obj = {"format": "fgvc-mobile-checkpoint", "version": 1, "model": Payload()} if as_checkpoint else Payload()
    torch.save(obj, path)
    return path


def marker_pickle_legacy(path: Path, marker: Path) -> Path:
    """The same payload as a plain pickle stream (torch's legacy, non-zip format path)."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps({"model": Payload()}, protocol=2))
    return path
