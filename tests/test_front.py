"""The accuracy–latency front: hand-made records give hand-checked fronts and budget picks, and
``front train`` + ``report`` store and redraw real (tiny) runs."""

import json

import pytest
import yaml

from fgvc_mobile.studies import front
from fgvc_mobile.studies.front_report import (budget_table, build_points, pareto_front, pick_rule, render_search,
                                                 search_decision, val_standard_error)


def _rec(name, family, seed, test, val=None, rules=("classifier",), macs=0.3):
    val = val if val is not None else test
    return {"name": name, "family": family, "method": family, "img_size": 128, "seed": seed,
            "default_rule": rules[0], "val": {r: val for r in rules}, "test": {r: test for r in rules},
            "macs_g": {r: macs for r in rules}, "epochs": 8, "train_seconds": 600, "n_val": 300, "best_epoch": 7}


CONFIG = {"points": [{"name": n, "family": f} for n, f in
                     (("b128", "baseline"), ("b224", "baseline"), ("r128", "rmg-pmsi"), ("slow", "rmg-pmsi"))]}
LATENCY = {"points": {"b128": {"rule": "classifier", "int8_ms_1t": 1.0},
                      "b224": {"rule": "classifier", "int8_ms_1t": 2.0},
                      "r128": {"rule": "classifier", "int8_ms_1t": 2.9},
                      "slow": {"rule": "classifier", "int8_ms_1t": 6.0}}}
RECORDS = [
    _rec("b128", "baseline", 0, 70.0), _rec("b128", "baseline", 1, 72.0),   # 71 ± 1.41
    _rec("b224", "baseline", 0, 80.0), _rec("b224", "baseline", 1, 80.0),   # 80 ± 0
    _rec("r128", "rmg-pmsi", 0, 84.0), _rec("r128", "rmg-pmsi", 1, 83.0),   # 83.5 ± 0.71
    _rec("slow", "rmg-pmsi", 0, 83.0), _rec("slow", "rmg-pmsi", 1, 83.0),   # 83, slower than r128: dominated
]


def test_points_front_and_budgets_by_hand():
    points = build_points(CONFIG, RECORDS, LATENCY)
    by = {p["name"]: p for p in points}
    assert by["b128"]["top1_mean"] == 71.0 and by["b128"]["top1_std"] == pytest.approx(2 ** 0.5)
    assert pareto_front(points) == ["b128", "b224", "r128"]
    rows = {r["budget"]: r for r in budget_table(points, reference_ms=2.0)}
    # 0.5x = 1 ms: only b128; 1x = 2 ms: b224 best, no other family; 1.5x = 3 ms: r128 beats b224 by 3.5
    assert rows[0.5]["best"] == "b128" and rows[0.5]["other"] is None and rows[0.5]["margin"] is None
    assert rows[1.0]["best"] == "b224" and rows[1.0]["other"] is None
    assert rows[1.5]["best"] == "r128" and rows[1.5]["baseline"] == "b224"
    assert rows[1.5]["margin"] == pytest.approx(3.5) and rows[1.5]["other_wins"]  # 3.5 >= 2 and > 2 * 0.71
    assert rows[2.5]["other"] == "r128" and rows[2.5]["other_wins"]


def test_a_margin_inside_twice_the_std_does_not_win():
    noisy = [_rec("b", "baseline", 0, 80.0), _rec("b", "baseline", 1, 80.0),
             _rec("r", "rmg-pmsi", 0, 79.0), _rec("r", "rmg-pmsi", 1, 87.0)]  # 83 ± 5.66: +3 is noise
    cfg = {"points": [{"name": "b", "family": "baseline"}, {"name": "r", "family": "rmg-pmsi"}]}
    lat = {"points": {n: {"rule": "classifier", "int8_ms_1t": 1.0} for n in "br"}}
    row = budget_table(build_points(cfg, noisy, lat), reference_ms=1.0)[1]
    assert row["margin"] == pytest.approx(3.0) and not row["other_wins"]


def test_auto_rule_is_chosen_on_val_not_test():
    recs = [{**_rec("r", "rmg-pmsi", 0, 0, rules=("concat", "combined")),
             "val": {"concat": 80.0, "combined": 81.0}, "test": {"concat": 90.0, "combined": 70.0}}]
    assert pick_rule({"rule": "auto"}, recs) == "combined"
    assert pick_rule({}, recs) == "concat"
    assert pick_rule({"rule": "auto", "rules": ["concat"]}, recs) == "concat"  # only the rules the point names


def test_train_and_report_store_and_redraw_runs(tmp_path, tiny_folder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = {"results": "res/front", "runs_dir": "runs", "reference": "b32", "seeds": [0],
           "base": {"data": f"folder:{tiny_folder}", "epochs": 1, "batch_size": 4, "workers": 0, "lr": 0.01,
                    "pretrained": "none"},
           "points": [{"name": "b32", "family": "baseline", "method": "baseline", "img_size": 32}]}
    (tmp_path / "front.yaml").write_text(yaml.safe_dump(cfg))
    assert front.main(["train", "front.yaml"]) == 0
    record = json.loads((tmp_path / "res" / "front_runs" / "b32-s0.json").read_text())
    assert record["selected_on"] == "val" and record["n_test"] == 12 and record["n_val"] == 3
    assert record["macs_g"]["classifier"] > 0
    mtime = (tmp_path / "res" / "front_runs" / "b32-s0.json").stat().st_mtime
    assert front.main(["train", "front.yaml"]) == 0  # a stored run is not trained again
    assert (tmp_path / "res" / "front_runs" / "b32-s0.json").stat().st_mtime == mtime
    assert front.main(["report", "front.yaml"]) == 0
    doc = json.loads((tmp_path / "res" / "front.json").read_text())
    (point,) = doc["points"]
    assert point["family"] == "baseline" and point["top1"] == [record["test"]["classifier"]]
    assert point["selected_on"] == "val" and point["int8_ms_1t"] is None and doc["not_run"] == []


def test_recipe_search_decides_on_val_and_shows_test_for_the_chosen_one_only():
    cfg = {"points": [{"name": n, "family": "baseline"} for n in ("sgd", "adamw")]}
    recs = [_rec("sgd", "baseline", 0, test=83.64, val=88.0), _rec("adamw", "baseline", 0, test=85.57, val=85.33)]
    points = build_points(cfg, recs, {})
    decision = search_decision(points)
    assert decision["chosen"] == "sgd" and decision["test_top1"] == [83.64]  # the higher test does not choose
    text = render_search(points, decision, {"commands": "c", "machine": "m"})
    assert "83.64" in text and "85.57" not in text  # a candidate's test figure never appears
    # binomial SE by hand: 300 images at 88 % -> 100 * sqrt(0.88 * 0.12 / 300) = 1.876
    assert val_standard_error(88.0, 300) == pytest.approx(1.8762, abs=1e-4) and "1.88" in text
