"""Pareto table: gain kept, Pareto flags and the recommendation rule on constructed rows; the doc
block fill; and the command on two tiny checkpoints (no TFLite: that path is proven by --quick)."""

from __future__ import annotations

import json

import pytest

from fgvc_mobile.studies.pareto import annotate, main
from fgvc_mobile.studies.pareto_report import DOC_BEGIN, DOC_END, recommend, update_doc
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models.presets import MAC_BUDGET
from fgvc_mobile.train.trainer import fit

from conftest import tiny_config


def _row(label, method, head, top1, macs, ratio, int8_ms=None, rule="r"):
    return {"label": label, "method": method, "head": head, "rule": rule, "top1": top1, "macs": macs,
            "mac_ratio": ratio, "torch_latency_ms": {"p50": 10.0 * ratio},
            "int8": {"latency_ms": {"p50": int8_ms}} if int8_ms is not None else {"note": "skipped"}}


@pytest.fixture
def rows():
    return [
        _row("base", "baseline", "MobileNetV2 head", 60.0, 100, 1.0, 5.0),
        _row("full", "rmg-pmsi", "released", 70.0, 745, 7.45, 30.0, rule="concat"),
        _row("full", "rmg-pmsi", "released", 72.0, 746, 7.46, 31.0, rule="combined"),
        _row("light", "rmg-pmsi", "light", 70.0, 122, 1.22, 7.0),
        _row("tiny", "rmg-pmsi", "tiny", 69.0, 108, 1.08, 6.0),
        _row("dwsep", "rmg-pmsi", "dwsep", 71.5, 183, 1.83, 9.0),
    ]


def test_gain_kept_is_relative_to_the_best_released_rule(rows):
    ref = annotate(rows)
    assert ref["baseline"] == 60.0 and ref["rmg_pmsi"] == 72.0 and ref["rmg_pmsi_rule"] == "combined"
    by = {(r["label"], r["rule"]): r for r in rows}
    assert by[("light", "r")]["gain_kept"] == pytest.approx(100 * 10 / 12)
    assert by[("tiny", "r")]["gain_kept"] == pytest.approx(75.0)
    assert by[("base", "r")]["gain_kept"] == pytest.approx(0.0)


def test_pareto_flags(rows):
    annotate(rows)
    by = {(r["label"], r["rule"]): r for r in rows}
    assert by[("full", "concat")]["pareto_macs"] is False  # light is as accurate and cheaper
    for key in (("base", "r"), ("tiny", "r"), ("light", "r"), ("dwsep", "r"), ("full", "combined")):
        assert by[key]["pareto_macs"], key


def test_recommendation_is_fastest_within_budget_keeping_the_gain(rows):
    annotate(rows)
    rec = recommend(rows)
    assert rec["label"] == "light"  # tiny is faster but keeps 75%; dwsep keeps more but is over budget
    rows.append(_row("student", "distill", "MobileNetV2 head", 70.5, 100, 1.0, 5.0))
    annotate(rows)
    assert recommend(rows)["label"] == "student"
    for r in rows:  # a faster row over the MAC budget never wins
        r["mac_ratio"] = MAC_BUDGET + 0.01 if r["label"] == "student" else r["mac_ratio"]
    assert recommend(rows)["label"] == "light"


def test_a_longer_chain_than_every_baseline_gets_no_gain(rows):
    for r in rows:
        r["epochs_total"] = 4
    rows.append(_row("student", "distill", "MobileNetV2 head", 71.0, 100, 1.0, 4.0))
    rows[-1]["epochs_total"] = 8  # 4 teacher epochs + 4 of its own: no 8-epoch baseline to compare with
    ref = annotate(rows)
    assert ref["epochs"] == 4 and rows[-1]["gain_kept"] is None
    assert recommend(rows)["label"] == "light"


def test_each_row_is_compared_with_references_trained_as_long(rows):
    for r in rows:
        r["epochs_total"] = 8
    rows += [_row("base-4ep", "baseline", "MobileNetV2 head", 50.0, 100, 1.0, 5.0),
             _row("full-4ep", "rmg-pmsi", "released", 55.0, 745, 7.45, 30.0, rule="concat"),
             _row("light-4ep", "rmg-pmsi", "light", 54.5, 122, 1.22, 6.5),
             _row("base-12ep", "baseline", "MobileNetV2 head", 63.0, 100, 1.0, 5.0),
             _row("student", "distill", "MobileNetV2 head", 71.0, 100, 1.0, 4.0)]
    for r, e in zip(rows[-5:], (4, 4, 4, 12, 12)):
        r["epochs_total"] = e
    ref = annotate(rows)
    by = {r["label"]: r for r in rows if r["rule"] != "combined"}
    assert (ref["baseline_label"], ref["rmg_pmsi_label"], ref["gain"]) == ("base", "full", 12.0)
    assert by["light"]["gain_kept"] == pytest.approx(100 * 10 / 12)  # 8 epochs: vs base and full
    assert by["light-4ep"]["gain_kept"] == pytest.approx(90.0)  # 4 epochs: vs base-4ep and full-4ep
    assert by["light-4ep"]["compared_with"] == "base-4ep / full-4ep"
    # 12 epochs: no RMG-PMSI run that long, so the main gain is the denominator
    assert by["student"]["gain_kept"] == pytest.approx(100 * 8 / 12)
    assert by["student"]["compared_with"] == "base-12ep / full"
    assert recommend(rows)["label"] == "light-4ep"  # faster than light; keeps 90% at its own schedule
    next(r for r in rows if r["label"] == "base-12ep")["top1"] = 61.0  # now +10 over its baseline: 83%
    annotate(rows)
    assert recommend(rows)["label"] == "student"  # the fastest of the qualifying rows
    from fgvc_mobile.studies.pareto_report import verdict

    assert "Recommended: student / r" in verdict(rows, ref, recommend(rows))


def test_no_recommendation_when_nothing_keeps_the_gain(rows):
    rows = [r for r in rows if r["label"] != "light"]
    annotate(rows)
    assert recommend(rows) is None


def test_doc_block_is_replaced_and_markers_required(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text(f"intro\n{DOC_BEGIN}\nold table\n{DOC_END}\noutro\n")
    update_doc(doc, "# Title\n\n| a |\n|---|")
    text = doc.read_text()
    assert "old table" not in text and "### Title" in text and text.startswith("intro\n") and text.endswith("outro\n")
    doc.write_text("no markers\n")
    with pytest.raises(FGVCError, match="pareto:begin"):
        update_doc(doc, "x")


def test_command_on_tiny_checkpoints(tiny_folder, tmp_path):
    for method in ("baseline", "rmg-pmsi"):
        fit(tiny_config(tiny_folder, tmp_path / method, method=method, max_steps_per_epoch=1), show_progress=False)
    # light heads on the backbone of the rmg-pmsi run: a chain of 1 + 2 epochs
    fit(tiny_config(tiny_folder, tmp_path / "light", method="rmg-pmsi", epochs=2, max_steps_per_epoch=1,
                    model={"preset": "light", "feature_size": 8, "descriptor": 16},
                    pretrained=str(tmp_path / "rmg-pmsi" / "best.pt")), show_progress=False)
    doc = tmp_path / "doc.md"
    doc.write_text(f"{DOC_BEGIN}\n{DOC_END}\n")
    main([f"base={tmp_path / 'baseline'}", str(tmp_path / "rmg-pmsi"), str(tmp_path / "light"), "--no-tflite",
          "--runs", "2", "--warmup", "0", "--out", str(tmp_path / "p"), "--doc", str(doc)])
    data = json.loads((tmp_path / "p.json").read_text())
    rows = {(r["label"], r["rule"]): r for r in data["rows"]}
    light = rows.pop(("light", "concat"))
    assert (light["starts_from"], light["epochs_total"]) == ("backbone of rmg-pmsi (rmg-pmsi)", 3)
    assert (rows[("base", "classifier")]["starts_from"], rows[("base", "classifier")]["epochs_total"]) == ("scratch", 1)
    rows.pop(("light", "combined"))
    assert set(rows) == {("base", "classifier"), ("rmg-pmsi", "concat"), ("rmg-pmsi", "combined")}
    assert rows[("base", "classifier")]["mac_ratio"] == pytest.approx(1.0)
    assert rows[("rmg-pmsi", "concat")]["params"] < rows[("rmg-pmsi", "combined")]["params"]
    assert rows[("rmg-pmsi", "concat")]["macs"] > rows[("base", "classifier")]["macs"]
    assert (tmp_path / "p.png").stat().st_size > 0
    assert "rmg-pmsi / combined" in doc.read_text() and "rmg-pmsi / combined" in (tmp_path / "p.md").read_text()


def test_head_names_of_a_twin_run_keep_it_out_of_the_references():
    from fgvc_mobile.studies.pareto import head_name
    from fgvc_mobile.methods.base import get_method

    kw = get_method("rmg-pmsi").resolve_model_kwargs({"twin": "light"})
    meta = {"method": "rmg-pmsi", "model_kwargs": kw, "config": {"model": {"twin": "light"}}}
    assert head_name(meta, "twin_concat") == "light twin"
    assert head_name(meta, "concat") == "released (beside a light twin)"
    plain = {"method": "rmg-pmsi", "model_kwargs": get_method("rmg-pmsi").resolve_model_kwargs({}), "config": {}}
    assert head_name(plain, "concat") == "released"
    rows = [_row("base", "baseline", "MobileNetV2 head", 60.0, 100, 1.0, 5.0),
            _row("full", "rmg-pmsi", head_name(plain, "concat"), 70.0, 745, 7.45, 30.0, rule="concat"),
            _row("tw", "rmg-pmsi", head_name(meta, "concat"), 75.0, 746, 7.46, 30.0, rule="concat"),
            _row("tw", "rmg-pmsi", head_name(meta, "twin_concat"), 69.0, 122, 1.23, 7.0, rule="twin_concat")]
    ref = annotate(rows)
    assert ref["rmg_pmsi_label"] == "full" and rows[-1]["gain_kept"] == pytest.approx(90.0)
    assert recommend(rows) is rows[-1]
