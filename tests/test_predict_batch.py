"""``fgvc-mobile predict`` on folders and globs, to CSV / JSON; unreadable files skipped, listed, counted."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fgvc_mobile.cli import main
from fgvc_mobile.export.predict_batch import Predictions, collect_inputs, render


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["predict", *argv, "--no-progress"])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture()
def photos(tmp_path, tiny_folder) -> Path:
    """photos/a/*.png (3 good + 1 corrupt), photos/b/1.png, photos/notes.txt (not an image)."""
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    srcs = sorted((tiny_folder / "test").rglob("*.png"))
    for i, src in enumerate(srcs[:3]):
        shutil.copy(src, root / "a" / f"{i}.png")
    (root / "a" / "3.png").write_bytes(b"\x89PNG this is not a png")
    shutil.copy(srcs[-1], root / "b" / "1.png")
    (root / "notes.txt").write_text("not an image")
    return root


def _expected(ckpt: Path, paths: list[str], k: int) -> dict[str, list[str]]:
    """Top-k labels computed one image at a time (no batching), straight from the runtime."""
    from fgvc_mobile.export.contract import preprocess_of
    from fgvc_mobile.export.runtime import load_artifact, load_crops

    manifest, predict = load_artifact(ckpt)
    out = {}
    for p in paths:
        row = predict(load_crops([p], preprocess_of(manifest)))[0]
        out[p] = [manifest["labels"][c] for c in np.argsort(-row, kind="stable")[:k]]
    return out


def test_folder_and_glob_to_csv_skip_unreadable(photos, tiny_checkpoints, tmp_path, capsys):
    ckpt = tiny_checkpoints["baseline"]
    out = tmp_path / "preds.csv"
    rc, _, err = _run(["--model", str(ckpt), str(photos / "a"), str(photos / "b" / "*.png"), "--top-k", "2",
                       "--batch-size", "2", "--out", str(out)], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(out.open()))
    good = [str(photos / "a" / f"{i}.png") for i in range(3)] + [str(photos / "b" / "1.png")]
    bad = str(photos / "a" / "3.png")
    assert [r["path"] for r in rows] == good[:3] + [bad] + good[3:]  # input order; notes.txt not collected
    want = _expected(ckpt, good, 2)
    for r in rows:
        if r["path"] == bad:
            assert r["label_1"] == "" and "3.png" in r["error"]
            continue
        assert [r["label_1"], r["label_2"]] == want[r["path"]] and r["error"] == ""
        assert 1.0 >= float(r["score_1"]) >= float(r["score_2"]) >= 0.0
    assert f"skipped: {bad}" in err and "4 of 5 image(s) predicted, 1 unreadable skipped" in err


def test_json_output_and_batching_does_not_change_results(photos, tiny_checkpoints, tmp_path, capsys):
    ckpt = tiny_checkpoints["baseline"]
    docs = []
    for batch in ("1", "3"):
        out = tmp_path / f"p{batch}.json"
        rc, _, err = _run(["--model", str(ckpt), str(photos), "--batch-size", batch, "--out", str(out)], capsys)
        assert rc == 0, err
        docs.append(json.loads(out.read_text()))
    one, three = docs
    assert one["results"] == three["results"] or all(
        a["path"] == b["path"] and a["labels"] == b["labels"] and np.allclose(a["scores"], b["scores"], atol=1e-6)
        for a, b in zip(one["results"], three["results"], strict=True))
    assert (three["n_images"], three["n_predicted"], three["n_skipped"]) == (5, 4, 1)
    assert three["skipped"][0]["path"] == str(photos / "a" / "3.png")
    want = _expected(ckpt, [r["path"] for r in three["results"]], 3)
    assert {r["path"]: r["labels"] for r in three["results"]} == want
    for r in three["results"]:
        assert len(r["scores"]) == 3 and r["scores"] == sorted(r["scores"], reverse=True)


def test_missing_file_and_empty_glob_are_listed_not_fatal(photos, tiny_checkpoints, capsys):
    rc, out, err = _run(["--model", str(tiny_checkpoints["baseline"]), str(photos / "b" / "1.png"),
                         str(photos / "nope.jpg"), str(photos / "*.jpeg"), "--top-k", "1"], capsys)
    assert rc == 0
    assert out.splitlines()[0] == str(photos / "b" / "1.png") and len(out.splitlines()) == 2
    assert f"skipped: {photos / 'nope.jpg'}: no such image file" in err
    assert f"skipped: {photos / '*.jpeg'}: the pattern matches no file" in err
    assert "1 of 3 image(s) predicted, 2 unreadable skipped" in err


def test_nothing_readable_is_a_one_line_error_naming_the_file(photos, tiny_checkpoints, tmp_path, capsys):
    bad, out = photos / "a" / "3.png", tmp_path / "p.csv"
    rc, stdout, err = _run(["--model", str(tiny_checkpoints["baseline"]), str(bad), "--out", str(out)], capsys)
    assert rc == 2 and stdout == "" and not out.exists()
    assert err.strip().splitlines() == [f"error: {bad}: not an image Pillow can read"]
    rc, _, err = _run(["--model", str(tiny_checkpoints["baseline"]), str(bad), str(photos / "x.jpg")], capsys)
    assert rc == 2 and err.strip() == f"error: none of the 2 inputs could be read; first: {bad}: not an image Pillow can read"


@pytest.mark.parametrize("argv, expect", [
    (["--out", "{tmp}/missing/p.csv"], "--out {tmp}/missing/p.csv: its folder {tmp}/missing does not exist"),
    (["--out", "{tmp}/p.txt"], "--out {tmp}/p.txt: give a .csv or .json file (or --format csv|json)"),
    (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
])
def test_bad_options_are_one_line_errors_before_any_work(tmp_path, tiny_checkpoints, photos, capsys, argv, expect):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc, out, err = _run(["--model", str(tiny_checkpoints["baseline"]), str(photos), *argv], capsys)
    assert rc == 2 and out == ""
    assert err.strip() == f"error: {expect.replace('{tmp}', str(tmp_path))}"


def test_render_csv_and_text_by_hand():
    p = Predictions(["cat", "dog", "emu"], 2, order=["x.jpg", "bad.jpg", "y.png"],
                    results=[{"path": "x.jpg", "labels": ["dog", "cat"], "scores": [0.75, 0.2]},
                             {"path": "y.png", "labels": ["emu", "dog"], "scores": [0.5, 0.5]}],
                    skipped=[{"path": "bad.jpg", "error": "bad.jpg: empty file (0 bytes)"}])
    assert render(p, "csv", "m.tflite") == (
        "path,label_1,score_1,label_2,score_2,error\n"
        "x.jpg,dog,0.750000,cat,0.200000,\n"
        "bad.jpg,,,,,bad.jpg: empty file (0 bytes)\n"
        "y.png,emu,0.500000,dog,0.500000,\n")
    assert render(p, "text", "m.tflite").splitlines()[:3] == [
        "x.jpg", "  1. dog                             75.00%", "  2. cat                             20.00%"]


def test_collect_inputs_dedupes_and_keeps_order(photos):
    paths, skipped = collect_inputs([str(photos / "b" / "1.png"), str(photos / "b"), str(photos / "b" / "*.png")])
    assert paths == [str(photos / "b" / "1.png")] and skipped == []
    with contextlib.redirect_stdout(io.StringIO()):
        paths, skipped = collect_inputs([str(photos / "a" / "*.txt")])
    assert paths == [] and skipped[0]["error"].endswith("the pattern matches no file")
