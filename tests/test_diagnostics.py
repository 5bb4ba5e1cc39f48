"""Per-class diagnostics on hand-worked cases: confusion matrix, per-class top-1, cluster order, pairs."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from fgvc_mobile.diagnostics import (
    Diagnostics, cluster_order, confusion_matrix, per_class_delta, per_class_top1, top_confused_pairs,
)

CLASSES = ["a", "b", "c", "d"]
# true:  a a a a  b b b  c c c c  d d
# pred:  a a c c  b b d  c c a b  d b
LABELS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3]
PREDS = [0, 0, 2, 2, 1, 1, 3, 2, 2, 0, 1, 3, 1]


def test_confusion_and_per_class_top1_by_hand():
    cm = confusion_matrix(LABELS, PREDS, 4)
    assert cm.tolist() == [[2, 0, 2, 0],
                           [0, 2, 0, 1],
                           [1, 1, 2, 0],
                           [0, 1, 0, 1]]
    n, top1 = per_class_top1(cm)
    assert n.tolist() == [4, 3, 4, 2]
    assert top1.tolist() == [0.5, 2 / 3, 0.5, 0.5]
    # a class without images has no top-1 (not 0)
    n, top1 = per_class_top1(confusion_matrix([0, 0], [0, 1], 3))
    assert n.tolist() == [2, 0, 0] and top1[0] == 0.5 and np.isnan(top1[1:]).all()


def test_predictions_outside_the_classes_count_as_wrong():
    d = Diagnostics([0, 0, 1, 1], [0, -1, 1, 1], ["a", "b"])
    assert [(r["n"], r["correct"], r["top1"]) for r in d.per_class()] == [(2, 1, 0.5), (2, 2, 1.0)]


def test_top_confused_pairs_counts_and_ties():
    pairs = top_confused_pairs(confusion_matrix(LABELS, PREDS, 4), CLASSES, k=3)
    # a->c twice; then four single confusions tie: ordered by (true, predicted) index
    assert pairs == [{"true": "a", "predicted": "c", "count": 2},
                     {"true": "b", "predicted": "d", "count": 1},
                     {"true": "c", "predicted": "a", "count": 1}]


def _adjacent(order, i, j) -> bool:
    return abs(order.index(i) - order.index(j)) == 1


def test_cluster_order_puts_confusable_classes_together():
    # classes 0<->3 and 1<->4 are mistaken for each other, 2 and 5 are clean
    cm = np.diag([10, 10, 10, 10, 10, 10])
    cm[0, 3] = cm[3, 0] = 6
    cm[1, 4] = cm[4, 1] = 5
    order = cluster_order(cm)
    assert sorted(order) == list(range(6))
    assert _adjacent(order, 0, 3) and _adjacent(order, 1, 4)
    # the identity order does not (the test would not pass by accident)
    assert not _adjacent(list(range(6)), 0, 3)


def test_per_class_delta_worst_first():
    fp32 = [{"class": "a", "n": 4, "top1": 1.0}, {"class": "b", "n": 4, "top1": 0.5}, {"class": "c", "n": 4, "top1": 0.75}]
    int8 = [{"class": "a", "n": 4, "top1": 0.5}, {"class": "b", "n": 4, "top1": 0.75}, {"class": "c", "n": 4, "top1": 0.75}]
    d = per_class_delta(fp32, int8, worst=2)
    assert [(r["class"], r["delta"]) for r in d] == [("a", -0.5), ("c", 0.0)]


def test_write_files(tmp_path):
    summary = Diagnostics(LABELS, PREDS, CLASSES, top_pairs=2).write(tmp_path, prefix="m_", title="toy")
    rows = list(csv.reader((tmp_path / "m_per_class.csv").open()))
    assert rows[0] == ["class", "images", "correct", "top1"] and rows[1] == ["a", "4", "2", "0.5000"]
    conf = list(csv.reader((tmp_path / "m_confusion.csv").open()))
    order = summary["order"]
    assert conf[0] == ["true \\ predicted", *order]
    cm = confusion_matrix(LABELS, PREDS, 4)
    for line in conf[1:]:  # every cell where it belongs, in cluster order
        t = CLASSES.index(line[0])
        assert [int(v) for v in line[1:]] == [int(cm[t, CLASSES.index(p)]) for p in order]
    assert list(csv.reader((tmp_path / "m_top_confused.csv").open()))[1] == ["a", "c", "2"]
    assert (tmp_path / "m_confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary["files"]["confusion.png"] == "m_confusion.png"
    assert summary["per_class"][1] == {"class": "b", "n": 3, "correct": 2, "top1": pytest.approx(2 / 3)}


def _independent_confusion(ckpt, folder) -> tuple[list[str], np.ndarray]:
    """Confusion of the checkpoint's deploy rule, computed image by image through the predict runtime."""
    from fgvc_mobile.export.contract import preprocess_of
    from fgvc_mobile.export.runtime import load_artifact, load_crops

    manifest, predict = load_artifact(ckpt)
    classes = manifest["labels"]
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, c in enumerate(classes):
        for p in sorted((folder / "test" / c).glob("*.png")):
            cm[t, int(predict(load_crops([str(p)], preprocess_of(manifest)))[0].argmax())] += 1
    return classes, cm


def test_eval_writes_per_class_diagnostics(tiny_folder, tmp_path, capsys):
    from bench_helpers import make_checkpoint
    from fgvc_mobile.cli import main

    ckpt, out = tmp_path / "best.pt", tmp_path / "diag"
    make_checkpoint(ckpt, ["class_0", "class_1", "class_2"], tiny_folder)  # predictions vary with the image
    rc = main(["eval", "--checkpoint", str(ckpt), "--data", f"folder:{tiny_folder}", "--workers", "0",
               "--diagnostics", str(out)])
    assert rc == 0
    classes, cm = _independent_confusion(ckpt, tiny_folder)
    assert (cm.sum(axis=0) > 0).sum() > 1 and np.trace(cm) < cm.sum(), "a constant or perfect model: weak test"
    per_class = {r[0]: r for r in list(csv.reader((out / "per_class.csv").open()))[1:]}
    for i, c in enumerate(classes):
        assert per_class[c][1:3] == [str(cm[i].sum()), str(cm[i, i])]
    conf = list(csv.reader((out / "confusion.csv").open()))
    for line in conf[1:]:
        t = classes.index(line[0])
        assert [int(v) for v in line[1:]] == [int(cm[t, classes.index(p)]) for p in conf[0][1:]]
    assert (out / "confusion.png").is_file() and (out / "top_confused.csv").is_file()
    printed = capsys.readouterr().out
    top1 = float(next(ln.split()[1] for ln in printed.splitlines() if ln.startswith("classifier")))
    assert top1 == pytest.approx(100 * np.trace(cm) / cm.sum(), abs=0.01)  # eval's own figure agrees
    assert "per-class diagnostics (rule classifier)" in printed


def test_a_file_where_the_folder_should_be_is_a_one_line_error(tmp_path):
    from fgvc_mobile.errors import FGVCError

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("precious\n")
    with pytest.raises(FGVCError, match="not_a_folder"):
        Diagnostics(LABELS, PREDS, CLASSES).write(blocker / "diag")
    assert blocker.read_text() == "precious\n"
