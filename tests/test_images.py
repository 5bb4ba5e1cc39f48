"""The bad-image policy: every odd but valid image becomes 8-bit RGB, every bad file an error naming it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fgvc_mobile.data.dataset import drop_unreadable
from fgvc_mobile.data.images import ImageLoadError, load_rgb
from fgvc_mobile.errors import FGVCError


def _rgb(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(12 * 10, dtype=np.uint8).reshape(10, 12)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = _rgb(load_rgb(tmp_path / "g.png"))
    assert out.shape == (10, 12, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 255  # red
    arr[:2, :, 3] = 255  # top half opaque, bottom half fully transparent
    Image.fromarray(arr, mode="RGBA").save(tmp_path / "a.png")
    out = _rgb(load_rgb(tmp_path / "a.png"))
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[3, 3], [255, 255, 255])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = _rgb(load_rgb(tmp_path / "c.jpg"))
    assert out.shape == (8, 16, 3)
    r, g, b = out[4, 8].astype(int)
    assert r > 200 and g < 60 and b < 60  # cyan 0, magenta+yellow full = red


def test_palette_with_and_without_transparency(tmp_path):
    pal = Image.new("P", (6, 6), 1)
    pal.putpalette([0, 0, 255, 0, 200, 0] + [0, 0, 0] * 254)
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(_rgb(load_rgb(tmp_path / "p.png"))[0, 0], [0, 200, 0])
    pal.save(tmp_path / "pt.png", transparency=1)  # index 1 transparent -> white background
    np.testing.assert_array_equal(_rgb(load_rgb(tmp_path / "pt.png"))[0, 0], [255, 255, 255])


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 32768, 65535, 1000]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = _rgb(load_rgb(tmp_path / "d.png"))[0, :, 0].astype(int)
    expected = np.round(arr[0].astype(float) / 65535 * 255)
    np.testing.assert_allclose(out, expected, atol=1)


def test_float_image_in_unit_range(tmp_path):
    Image.fromarray(np.full((3, 3), 0.5, np.float32), mode="F").save(tmp_path / "f.tif")
    assert abs(int(_rgb(load_rgb(tmp_path / "f.tif"))[1, 1, 0]) - 128) <= 1


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=100)
    assert Image.open(tmp_path / "r.jpg").size == (40, 20)
    out = load_rgb(tmp_path / "r.jpg")
    assert out.size == (20, 40)  # width and height swapped
    a = _rgb(out).astype(int)
    assert a[:10].mean() > 200 and a[-10:].mean() < 50  # the white half is now on top


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "one.png")
    out = load_rgb(tmp_path / "one.png")
    assert out.size == (1, 1)
    np.testing.assert_array_equal(_rgb(out)[0, 0], [1, 2, 3])


def _bad_files(tmp_path):
    """(path, substring the error must contain) for every kind of bad file."""
    zero = tmp_path / "zero.jpg"
    zero.write_bytes(b"")
    full = tmp_path / "full.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(full, quality=95)
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    return [
        (zero, "empty"),
        (trunc, "truncated"),
        (text, "not an image"),
        (tmp_path / "missing.png", "no such"),
        (tmp_path, "directory"),
    ]


def test_bad_files_raise_an_error_naming_the_file(tmp_path):
    for path, why in _bad_files(tmp_path):
        with pytest.raises(ImageLoadError) as e:
            load_rgb(path)
        msg = str(e.value)
        assert str(path) in msg and why in msg, msg
        assert "\n" not in msg
        assert isinstance(e.value, FGVCError)


@pytest.mark.parametrize("limit", [300, 100])  # 400 px: Pillow's warning band, then its error band
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, limit):
    Image.new("RGB", (20, 20)).save(tmp_path / "bomb.png")
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both must be refused.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ImageLoadError, match="too large") as e:
        load_rgb(tmp_path / "bomb.png")
    assert str(tmp_path / "bomb.png") in str(e.value)


def test_drop_unreadable_counts_bad_files(tmp_path):
    good = []
    for i in range(3):
        p = tmp_path / f"ok{i}.png"
        Image.new("RGB", (5, 5), (i, i, i)).save(p)
        good.append((str(p), i))
    bad = [(str(p), 0) for p, _ in _bad_files(tmp_path)]
    samples = [good[0], bad[0], good[1], *bad[1:], good[2]]
    kept, messages = drop_unreadable(samples)
    assert kept == good
    assert len(messages) == len(bad)
    for (path, _), msg in zip(bad, messages):
        assert path in msg
