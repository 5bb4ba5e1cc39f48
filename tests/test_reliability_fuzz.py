"""Hypothesis fuzzing of every surface that reads user input: predict (random and mutated image
bytes), manifests (both readers), data-set index files (CUB, aircraft, CSV) and the CLI
arguments. The only allowed failures are one-line FGVCErrors and argparse usage errors.

Example counts are small enough for CI; set FGVC_FUZZ_EXAMPLES to fuzz longer.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import make_image_folder
from fgvc_mobile.data.images import load_rgb
from fgvc_mobile.data.layouts import load_splits
from fgvc_mobile.errors import FGVCError
from reliability_files import marker_pickle_checkpoint, pattern
from reliability_fixtures import cli, record, rel_checkpoint, rel_data, rel_dist  # noqa: F401

N = int(os.environ.get("FGVC_FUZZ_EXAMPLES", "0"))
# the default suite draws the same 40 examples every run (derandomize: no verdict by chance);
# FGVC_FUZZ_EXAMPLES=N explores N fresh random examples instead
FUZZ = settings(max_examples=N or 40, deadline=None, database=None, derandomize=not N,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _assert_clean(rc: int, err: str, *names: str) -> None:
    """Exit 0, or exit 2 with one ``error:`` line (or argparse's usage text); never a traceback."""
    assert "Traceback" not in err, err
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        assert err.strip(), "exit 2 without a message"


# ---- predict over random and mutated image bytes ------------------------------------------------


def _seed_images() -> list[bytes]:
    """Valid files of every format Pillow reads here: mutations of them reach deep into decoders."""
    img = Image.fromarray(pattern(24, seed=5))
    out = []
    for fmt, kw in (("PNG", {}), ("JPEG", {"quality": 80}), ("GIF", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {})):
        buf = io.BytesIO()
        (img.convert("P") if fmt == "GIF" else img).save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_images()


@st.composite
def image_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["random", "flipped", "truncated", "spliced"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    if kind == "truncated":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "spliced":
        at = draw(st.integers(0, len(data)))
        return bytes(data[:at] + draw(st.binary(max_size=64)) + data[at:])
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    return bytes(data)


@FUZZ
@given(data=image_bytes(), suffix=st.sampled_from([".jpg", ".png", ".gif", ".webp", ".tif", ".bin", ""]))
def test_fuzz_predict_images(capsys, rel_dist, data, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"fuzz{suffix}"
        path.write_bytes(data)
        rc, out, err = cli(capsys, "predict", "--model", rel_dist / "model_fp32.onnx", path)
    record("fuzzing", cases=1)
    _assert_clean(rc, err)
    if rc == 2:
        assert err.count("\n") == 1 and str(path) in err
    else:
        assert "  1. class_" in out


# ---- manifests ----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated_manifest(draw, base: dict):
    m = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(m) if p]
        path = draw(st.sampled_from(paths))
        parent = m
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON | st.sampled_from([0, -1, 10**6, 4096, "NCHW", "int8", [1, 3, 32, 32], []]))
    return m


def _base_manifest(dist: Path) -> dict:
    return json.loads((dist / "model_fp32.onnx.manifest.json").read_text())


@FUZZ
@given(st.data())
def test_fuzz_manifests_in_both_readers_and_predict(capsys, tmp_path_factory, rel_dist, rel_data, data):
    from fgvc_mobile.benchmarks.manifests import discover
    from fgvc_mobile.export.manifest import read_manifest_for

    base = _base_manifest(rel_dist)
    text = data.draw(st.one_of(
        mutated_manifest(base).map(json.dumps),
        JSON.map(json.dumps),
        st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
        st.just(json.dumps({"artifacts": [base, 3]})),
    ))
    folder = tmp_path_factory.mktemp("manifest")
    shutil.copy(rel_dist / "model_fp32.onnx", folder / "model_fp32.onnx")
    (folder / "model_fp32.onnx.manifest.json").write_text(text)
    accepted = 0
    for read in (lambda: discover(folder), lambda: read_manifest_for(folder / "model_fp32.onnx")):
        try:
            read()
            accepted += 1
        except FGVCError as e:
            assert "\n" not in str(e)
    img = next((rel_data / "test").rglob("*.png"))
    rc, out, err = cli(capsys, "predict", "--model", folder / "model_fp32.onnx", img)
    _assert_clean(rc, err)
    record("fuzzing", cases=1)


# ---- data-set index files -----------------------------------------------------------------------

HOSTILE_PATHS = st.one_of(
    st.sampled_from(["a/b.jpg", "../outside.jpg", "a/../../outside.jpg", "/etc/passwd", "a/./b.jpg", "a b/ü é.jpg",
                     "a\0b.jpg", "a\\..\\..\\x.jpg", "~/x.jpg", "//server/x.jpg", ".", "..", "a/" * 40 + "x.jpg"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
    st.tuples(st.sampled_from(string.ascii_letters + "/."), st.integers(5_000, 200_000)).map(lambda t: t[0] * t[1]),
)
FIELD = st.one_of(st.text(max_size=12), st.sampled_from(["1", "2", "0", "-1", "99", "1e3", " ", "1 2"]))


def _inside(root: Path, samples) -> bool:
    root_s = os.path.abspath(root)
    return all(os.path.normpath(p).startswith(root_s + os.sep) for p, _ in samples)


def _check_reader(spec: str, image_root: Path) -> None:
    try:
        splits = load_splits(spec)
    except FGVCError as e:
        assert "\n" not in str(e).strip()
        return
    samples = splits.train + splits.test
    assert _inside(image_root, samples), samples[:3]
    for path, _ in samples[:5]:
        try:
            load_rgb(path)
        except FGVCError:
            pass


@FUZZ
@given(rows=st.lists(st.tuples(FIELD, HOSTILE_PATHS, FIELD, FIELD), min_size=1, max_size=6),
       classes=st.lists(FIELD, min_size=1, max_size=3), raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_fuzz_cub_index_files(tmp_path_factory, rows, classes, raw):
    root = tmp_path_factory.mktemp("cub")
    (root / "images" / "a").mkdir(parents=True)
    Image.fromarray(pattern(8)).save(root / "images" / "a" / "b.jpg")

    def write(name, lines):
        (root / name).write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8", errors="surrogatepass")

    write("images.txt", [f"{i} {p}" for i, p, _, _ in rows])
    write("image_class_labels.txt", [f"{i} {c}" for i, _, c, _ in rows])
    write("train_test_split.txt", [f"{i} {s}" for i, _, _, s in rows])
    write("classes.txt", [f"{k + 1} {c}" for k, c in enumerate(classes)])
    if raw is not None:
        (root / "train_test_split.txt").write_bytes(raw)
    _check_reader(f"cub:{root}", root / "images")
    record("fuzzing", cases=1)


@FUZZ
@given(rows=st.lists(st.tuples(HOSTILE_PATHS, FIELD, st.sampled_from(["train", "test", "", "TRAIN", "x"])),
                     min_size=1, max_size=6),
       header=st.booleans(), quote=st.booleans(), raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_fuzz_csv_index_files(tmp_path_factory, rows, header, quote, raw):
    import csv

    root = tmp_path_factory.mktemp("csv")
    Image.fromarray(pattern(8)).save(root / "img.jpg")
    path = root / "train.csv"
    with open(path, "w", newline="", encoding="utf-8", errors="surrogatepass") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL if quote else csv.QUOTE_MINIMAL)
        if header:
            w.writerow(["path", "label", "split"])
        w.writerows(rows)
    if raw is not None:
        path.write_bytes(raw)
    _check_reader(f"csv:{path}", root)
    record("fuzzing", cases=1)


@FUZZ
@given(rows=st.lists(st.tuples(HOSTILE_PATHS, FIELD), min_size=1, max_size=6),
       level=st.sampled_from(["variant", "family", "manufacturer", "../x", ""]))
def test_fuzz_aircraft_index_files(tmp_path_factory, rows, level):
    root = tmp_path_factory.mktemp("aircraft")
    (root / "images").mkdir()
    for split in ("trainval", "test"):
        lines = "".join(f"{i} {lab}\n" for i, lab in rows)
        name = level if level in ("family", "manufacturer") else "variant"
        (root / f"images_{name}_{split}.txt").write_text(lines, encoding="utf-8", errors="surrogatepass")
    spec = f"aircraft:{root}" + (f"?level={level}" if level else "")
    _check_reader(spec, root / "images")
    record("fuzzing", cases=1)


# ---- the CLI argument surface -------------------------------------------------------------------


def _actions(command: str | None) -> list:
    """The real options of ``fgvc-mobile COMMAND`` (argparse actions), --help aside."""
    from fgvc_mobile.cli import build_parser

    parser = build_parser()
    if command is not None:
        parser = next(a for a in parser._actions if a.dest == "command").choices[command]
    return [a for a in parser._actions if a.option_strings and "--help" not in a.option_strings]


NUMBERS = st.one_of(st.integers(-(10**20), 10**20), st.sampled_from([0, 1, 2, -1, 4097, 10**9])).map(str)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["nan", "-inf", "1e308"]))


def _value(draw, action, junk_files: list[str]) -> list[str]:
    """A value for ``action``: usually of the type argparse expects (so parsing passes and the
    command itself must cope), sometimes anything."""
    if action.nargs == 0:
        return []
    if draw(st.integers(0, 9)) == 0:
        return [draw(st.one_of(VALUES, st.sampled_from(junk_files)))]
    if action.choices:
        return [draw(st.sampled_from(sorted(map(str, action.choices))))]
    if action.type is int:
        return [draw(NUMBERS)]
    if action.type is float:
        return [draw(FLOATS)]
    return [draw(st.one_of(st.sampled_from(junk_files), VALUES))]


REQUIRED = {"eval": ("--checkpoint", "--data"), "predict": ("--model",), "export": ("--checkpoint",),
            "bench": ("--artifacts", "--data")}


@pytest.fixture(scope="module")
def junk_files(tmp_path_factory, rel_checkpoint, rel_dist, rel_data) -> list[str]:
    """Values that name real things: valid, hostile and damaged files, folders, YAML and JSON."""
    d = tmp_path_factory.mktemp("junk")
    (d / "random.bin").write_bytes(np.random.default_rng(2).bytes(512))
    (d / "empty.pt").write_bytes(b"")
    marker_pickle_checkpoint(d / "evil.pt", d / "code_ran")
    for i, text in enumerate(["epochs: ten\n", "- a\n- list\n", "{{{\n", "model: 3\n", "data: folder:/nope\nlr: -1\n",
                              "img_size: 100000\n", "seed: 99999999999999999999\n", "workers: 100000\n"]):
        (d / f"cfg{i}.yaml").write_text(text)
    (d / "report.json").write_text('{"schema_version": 1, "results": "x"}')
    make_image_folder(d / "bad_folder", classes=2, train=1, test=1)
    return [str(rel_checkpoint), str(rel_dist), str(rel_dist / "model_fp32.onnx"), str(rel_dist / "manifest.json"),
            str(next((rel_data / "test").rglob("*.png"))), str(d / "random.bin"), str(d / "empty.pt"),
            str(d / "evil.pt"), str(d / "report.json"), str(d / "bad_folder"), f"folder:{d / 'bad_folder'}",
            *[str(p) for p in sorted(d.glob("cfg*.yaml"))], "/nonexistent/x", str(d)]


VALUES = st.one_of(
    st.text(max_size=15),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["0", "-1", "1e308", "nan", "inf", "-0", "1.5", "", " ", "--", "-", "all", "onnx,tflite",
                     "uint8-nhwc", "float-nchw", "cpu", "cuda", "adb", "host", '{"width_mult": 1e9}', '{"x": 1}', "[]",
                     '{"per_image": "yes"}', "onnx.opset=1", "tflite.calibration=x", "x=y", "none", "imagenet"]),
)
NO_REAL_DATA = "folder:/nonexistent/fuzz-data"  # train always ends with this: it must never really train


@FUZZ
@given(st.data())
def test_fuzz_cli_arguments(capsys, monkeypatch, tmp_path_factory, junk_files, data):
    command = data.draw(st.sampled_from(["train", "eval", "export", "predict", "bench", None]))
    actions = _actions(command)
    argv = [] if command is None else [command]
    by_name = {a.option_strings[-1]: a for a in actions}
    for name in REQUIRED.get(command, ()):  # mostly present, so the fuzz gets past argparse
        if data.draw(st.integers(0, 9)) > 0:
            argv += [name, *_value(data.draw, by_name[name], junk_files)]
    for _ in range(data.draw(st.integers(0, 6))):
        action = data.draw(st.sampled_from(actions))
        argv += [data.draw(st.sampled_from(action.option_strings)), *_value(data.draw, action, junk_files)]
    if command == "predict" or data.draw(st.integers(0, 9)) == 0:  # positional images, or a stray one
        argv += data.draw(st.lists(st.one_of(st.sampled_from(junk_files), VALUES), min_size=1, max_size=2))
    if command == "train":
        argv += ["--data", NO_REAL_DATA]  # last wins: it must never really train
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # default output folders land here
    rc, _, err = cli(capsys, *argv)
    record("fuzzing", cases=1)
    _assert_clean(rc, err)
    assert not (Path(junk_files[7]).parent / "code_ran").exists()
