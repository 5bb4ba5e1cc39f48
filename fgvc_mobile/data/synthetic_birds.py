"""The synthetic birds themselves: class attributes, the drawing, and the part regions.

Every class is the same bird-like shape (body, head, beak, wing, tail, eye, legs); classes differ
only in five local attributes: beak length, wing-bar colour, eye ring, crest and a pale tail tip,
drawn inside five part regions (:data:`PART_REGIONS`, at most 15 % of the image). Everything
else varies per image and is independent of the class: flip, position, scale, a little
rotation, body and wing colour, beak colour, lighting, pixel noise and background clutter whose
blobs use the wing-bar and pale colours, so global colour does not solve the task. Version 2
keeps the pose roughly aligned (rotation within 8 degrees, the bird about 85 % of the frame, as
in cropped bird photos) so that a MobileNetV2 learns the set from scratch in the demo's few CPU
minutes at 48 px; version 1's free pose and smaller parts needed ImageNet weights for that.
Images are drawn at twice the size and downsized (antialiasing).

Determinism: image ``i`` of class ``c`` in split ``s`` is drawn from its own RNG seeded by
``(seed, s, name of c, i)``, so its bytes depend on nothing else (not on the other images, the
class count or the generation order). The nuisance draws come first and in a fixed order, so two classes rendered
with the same nuisance seed differ only where their attributes are drawn (tested).
"""

from __future__ import annotations

import colorsys
import hashlib
import itertools
import json
import math
import random
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

from fgvc_mobile.errors import FGVCError

GENERATOR_VERSION = 2  # bump whenever a change alters any pixel; it is part of the cache key

# The class attributes, each a small local detail. Order matters: it fixes the class list.
ATTRIBUTES = {
    "beak": ("short_beak", "long_beak"),
    "wingbar": ("no_wingbar", "red_wingbar", "yellow_wingbar", "white_wingbar"),
    "eye": ("plain_eye", "eye_ring"),
    "crest": ("no_crest", "crest"),
    "tail": ("plain_tail", "pale_tail"),
}
WINGBAR_RGB = {"red_wingbar": (215, 35, 30), "yellow_wingbar": (240, 205, 30), "white_wingbar": (245, 245, 240)}
PALE_RGB = (238, 232, 205)  # eye ring and tail tip
MAX_CLASSES = math.prod(len(v) for v in ATTRIBUTES.values())
_STRIDE = 37  # coprime with MAX_CLASSES: consecutive classes differ in several attributes


@dataclass(frozen=True)
class SyntheticParams:
    num_classes: int = 10
    train_per_class: int = 60
    test_per_class: int = 20
    size: int = 64
    seed: int = 0

    def validate(self) -> "SyntheticParams":
        if not 2 <= self.num_classes <= MAX_CLASSES:
            raise FGVCError(f"synthetic: num_classes must be 2..{MAX_CLASSES}, got {self.num_classes}")
        if self.train_per_class < 1 or self.test_per_class < 1:
            raise FGVCError("synthetic: train_per_class and test_per_class must be at least 1")
        if not 16 <= self.size <= 1024:
            raise FGVCError(f"synthetic: size must be 16..1024 pixels, got {self.size}")
        return self

    def key(self) -> str:
        blob = json.dumps({"version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def class_attributes(num_classes: int) -> list[dict[str, str]]:
    """The attribute combinations of the first ``num_classes`` classes, sorted by class name."""
    combos = list(itertools.product(*ATTRIBUTES.values()))
    picked = [combos[(i * _STRIDE) % MAX_CLASSES] for i in range(num_classes)]
    return sorted((dict(zip(ATTRIBUTES, c)) for c in picked), key=class_name)


def class_name(attrs: dict[str, str]) -> str:
    return "-".join(attrs[k] for k in ATTRIBUTES)


# ---------------------------------------------------------------- drawing


def _ellipse(cx, cy, rx, ry, rot_deg=0.0, n=28):
    t = math.radians(rot_deg)
    pts = []
    for k in range(n):
        a = 2 * math.pi * k / n
        x, y = rx * math.cos(a), ry * math.sin(a)
        pts.append((cx + x * math.cos(t) - y * math.sin(t), cy + x * math.sin(t) + y * math.cos(t)))
    return pts


def _hsv(h, s, v):
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _jitter(rgb, rng, amount=18):
    return tuple(max(0, min(255, int(c + rng.uniform(-amount, amount)))) for c in rgb)


def _clutter_colour(rng):
    """Background colours, including the wing-bar and pale colours so they are no giveaway."""
    if rng.random() < 0.35:
        return _jitter(rng.choice([*WINGBAR_RGB.values(), PALE_RGB]), rng, 25)
    return _hsv(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.25, 0.95))


def _nuisance(rng: random.Random) -> dict:
    """Every per-image random choice that does not depend on the class, in a fixed order."""
    body = (rng.random(), rng.uniform(0.25, 0.85), rng.uniform(0.35, 0.9))
    n_blobs = rng.randint(1, 4)
    blobs = []
    for _ in range(n_blobs):
        kind = rng.choice(("ellipse", "rect", "line", "poly"))
        pts = [(rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1)) for _ in range(4)]
        blobs.append((kind, pts, rng.uniform(0.04, 0.15), _clutter_colour(rng), rng.uniform(0.01, 0.025)))
    return {
        "bg": (_clutter_colour(rng), _clutter_colour(rng)),
        "blobs": blobs,
        "body": _hsv(*body),
        "wing": _hsv(body[0] + rng.uniform(-0.08, 0.08), min(1.0, body[1] + 0.1), body[2] * rng.uniform(0.45, 0.7)),
        "beak": _jitter(rng.choice([(60, 60, 60), (225, 140, 40), (190, 170, 120)]), rng, 20),
        "angle": rng.uniform(-8, 8),
        "flip": rng.random() < 0.5,
        "scale": (scale := rng.uniform(0.8, 0.92)),  # bird length (tail to beak) / image width
        "shift": tuple(rng.uniform(-0.3, 0.3) * (1 - scale) for _ in range(2)),  # stays in frame
        "perch": rng.random() < 0.6,
        "light": rng.uniform(0.85, 1.1),
        "noise_seed": rng.getrandbits(32),
    }


def _draw_background(d: ImageDraw.ImageDraw, n: dict, w: int) -> None:
    (a, b) = n["bg"]
    for y in range(0, w, 4):  # vertical gradient in 4-px bands
        t = y / w
        d.rectangle([0, y, w, y + 4], fill=tuple(int(a[i] * (1 - t) + b[i] * t) for i in range(3)))
    for kind, pts, r, colour, lw in n["blobs"]:
        (x0, y0), (x1, y1) = pts[0], pts[1]
        if kind == "ellipse":
            d.ellipse([x0 * w, y0 * w, (x0 + r) * w, (y0 + r * 0.7) * w], fill=colour)
        elif kind == "rect":
            d.rectangle([x0 * w, y0 * w, (x0 + r) * w, (y0 + r * 0.5) * w], fill=colour)
        elif kind == "line":
            d.line([x0 * w, y0 * w, x1 * w, y1 * w], fill=colour, width=max(1, int(lw * w)))
        else:
            cx, cy = x0, y0
            d.polygon([((cx + (x - 0.5) * r) * w, (cy + (y - 0.5) * r) * w) for x, y in pts], fill=colour)


#: where each class attribute may draw, in the bird's canonical frame (see ``_frame``): the
#: classes differ inside these five small part regions and nowhere else (tested)
PART_REGIONS = {
    "beak": [(0.49, -0.28), (0.86, -0.28), (0.86, -0.15), (0.49, -0.15)],
    "wingbar": _ellipse(0.0, -0.04, 0.13, 0.17, 12),
    "eye": _ellipse(0.43, -0.25, 0.11, 0.11),
    "crest": [(0.08, -0.62), (0.44, -0.62), (0.44, -0.3), (0.08, -0.3)],
    "tail": [(-0.82, -0.19), (-0.6, -0.19), (-0.6, 0.1), (-0.82, 0.1)],
}


def _frame(n: dict, w: int):
    """Canonical frame -> pixels of a ``w``-wide canvas, and the pixels per unit length.

    Canonical frame: the bird faces +x, y points down, body centre at the origin, length ~1.6.
    """
    s = n["scale"] * w / 1.6
    ang = math.radians(n["angle"])
    ca, sa = math.cos(ang), math.sin(ang)
    fx = -1.0 if n["flip"] else 1.0
    ox, oy = w / 2 + n["shift"][0] * w, w / 2 + n["shift"][1] * w

    def tf(pts):
        return [(ox + s * (fx * x * ca - y * sa), oy + s * (fx * x * sa + y * ca)) for x, y in pts]

    return tf, s


def part_mask(n: dict, size: int) -> np.ndarray:
    """Boolean ``size`` x ``size`` mask of :data:`PART_REGIONS` for nuisance ``n``."""
    w = 2 * size
    img = Image.new("L", (w, w))
    d = ImageDraw.Draw(img)
    tf, _ = _frame(n, w)
    for region in PART_REGIONS.values():
        d.polygon(tf(region), fill=255)
    return np.asarray(img.resize((size, size), Image.BOX)) > 0


def render(attrs: dict[str, str], n: dict, size: int) -> Image.Image:
    """Draw one bird with class ``attrs`` and nuisance ``n`` (from :func:`_nuisance`)."""
    w = 2 * size
    img = Image.new("RGB", (w, w))
    d = ImageDraw.Draw(img)
    _draw_background(d, n, w)
    tf, s = _frame(n, w)

    def poly(pts, colour):
        d.polygon(tf(pts), fill=colour)

    def line(pts, colour, width):
        d.line(tf(pts), fill=colour, width=max(1, int(width * s)))

    if n["perch"]:
        line([(-0.9, 0.42), (0.9, 0.46)], (95, 70, 45), 0.05)
    for lx in (-0.02, 0.1):
        line([(lx, 0.2), (lx + 0.02, 0.44)], (80, 70, 60), 0.025)
    body, wing = n["body"], n["wing"]
    poly([(-0.34, -0.06), (-0.78, -0.17), (-0.8, 0.09), (-0.34, 0.07)], wing)  # tail
    if attrs["tail"] == "pale_tail":
        poly([(-0.62, -0.12), (-0.78, -0.17), (-0.8, 0.09), (-0.63, 0.07)], PALE_RGB)
    poly(_ellipse(0, 0, 0.42, 0.25), body)
    poly(_ellipse(-0.06, -0.04, 0.29, 0.13, -8), wing)
    if attrs["wingbar"] in WINGBAR_RGB:
        poly(_ellipse(0.0, -0.04, 0.12, 0.16, 12), WINGBAR_RGB[attrs["wingbar"]])
    if attrs["crest"] == "crest":
        poly([(0.25, -0.3), (0.1, -0.56), (0.35, -0.36)], wing)
        poly([(0.31, -0.35), (0.26, -0.6), (0.42, -0.37)], wing)
    poly(_ellipse(0.38, -0.22, 0.16, 0.16), body)  # head
    beak_len = 0.34 if attrs["beak"] == "long_beak" else 0.1
    poly([(0.5, -0.265), (0.5, -0.175), (0.5 + beak_len, -0.215)], n["beak"])
    if attrs["eye"] == "eye_ring":
        poly(_ellipse(0.43, -0.25, 0.1, 0.1), PALE_RGB)
    poly(_ellipse(0.43, -0.25, 0.035, 0.035), (15, 15, 15))

    img = img.resize((size, size), Image.LANCZOS)
    arr = np.asarray(img, dtype=np.float32) * n["light"]
    arr += np.random.default_rng(n["noise_seed"]).normal(0.0, 4.0, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def sample_image(params: SyntheticParams, split: str, cls: int, i: int) -> Image.Image:
    """Image ``i`` of class index ``cls``; its RNG is keyed by the class *name*, so a class looks
    the same whatever other classes the set holds."""
    attrs = class_attributes(params.num_classes)[cls]
    rng = random.Random(f"fgvc-synthetic/{params.seed}/{split}/{class_name(attrs)}/{i}")
    return render(attrs, _nuisance(rng), params.size)
