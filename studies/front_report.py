"""The accuracy–latency front from stored run records: points, Pareto front, budget table, PNG.

Pure functions over the per-run JSON that ``studies/front.py`` stores, so the front can be
redrawn (and tested) without training or a LiteRT runtime.
"""

from __future__ import annotations

import statistics

#: latency budgets as multiples of the plain MobileNetV2's 224 px int8 latency measured in the same run
BUDGETS = (0.5, 1.0, 1.5, 2.5)


def pick_rule(point: dict, records: list[dict]) -> str:
    """The point's rule: fixed in the config, or ``auto``: the best mean *validation* top-1 over seeds,
    among the point's ``rules`` when it names them (a twin run's cheap graphs, not its released heads)."""
    rule = point.get("rule", "default")
    if rule == "default":
        return records[0]["default_rule"]
    if rule != "auto":
        return rule
    rules = point.get("rules") or records[0]["val"].keys()
    return max(rules, key=lambda r: (statistics.fmean(rec["val"][r] for rec in records), r == records[0]["default_rule"]))


def build_points(config: dict, records: list[dict], latency: dict) -> list[dict]:
    """One entry per configured point that has at least one finished run."""
    points = []
    for point in config["points"]:
        recs = sorted((r for r in records if r["name"] == point["name"]), key=lambda r: r["seed"])
        if not recs:
            continue
        rule = pick_rule(point, recs)
        top1 = [r["test"][rule] for r in recs]
        lat = (latency.get("points") or {}).get(point["name"]) or {}
        points.append({
            "family": point["family"], "name": point["name"], "method": recs[0]["method"],
            "img_size": recs[0]["img_size"], "rule": rule, "seeds": [r["seed"] for r in recs],
            "top1": top1, "top1_mean": statistics.fmean(top1),
            "top1_std": statistics.stdev(top1) if len(top1) > 1 else None,
            "val_top1": [r["val"][rule] for r in recs], "selected_on": "val", "n_val": recs[0]["n_val"],
            "best_epochs": [r["best_epoch"] for r in recs],
            "macs_g": recs[0]["macs_g"][rule], "epochs": recs[0]["epochs"],
            "train_minutes": statistics.fmean(r["train_seconds"] for r in recs) / 60,
            "int8_ms_1t": lat.get("int8_ms_1t") if lat.get("rule") == rule else None,
            "int8_ms_2t": lat.get("int8_ms_2t") if lat.get("rule") == rule else None,
        })
    return points


def non_dominated(items: list, score, cost) -> list:
    """The items no other beats on both ``score`` (higher) and ``cost`` (lower); ties keep both.
    Items whose score or cost is None take no part."""
    ok = [i for i in items if score(i) is not None and cost(i) is not None]
    return [p for p in ok if not any(score(o) >= score(p) and cost(o) <= cost(p)
                                     and (score(o) > score(p) or cost(o) < cost(p)) for o in ok)]


def pareto_front(points: list[dict], cost: str = "int8_ms_1t") -> list[str]:
    """Names of the points no other point beats on both mean top-1 and ``cost``, cheapest first."""
    front = non_dominated(points, lambda p: p["top1_mean"], lambda p: p.get(cost))
    return [p["name"] for p in sorted(front, key=lambda p: p[cost])]


def best_within(points: list[dict], limit_ms: float, family: str | None = None, other_than: str | None = None):
    """The most accurate (mean top-1) point whose 1-thread int8 latency is within ``limit_ms``."""
    ok = [p for p in points if p.get("int8_ms_1t") is not None and p["int8_ms_1t"] <= limit_ms
          and (family is None or p["family"] == family) and (other_than is None or p["family"] != other_than)]
    return max(ok, key=lambda p: p["top1_mean"], default=None)


def budget_table(points: list[dict], reference_ms: float) -> list[dict]:
    """Per budget: the best model, the best plain MobileNetV2 and the best other-family model, and
    whether the latter wins by the issue's bar (>= 2 points and > twice the larger std)."""
    rows = []
    for b in BUDGETS:
        limit = b * reference_ms
        best, base, other = (best_within(points, limit), best_within(points, limit, family="baseline"),
                             best_within(points, limit, other_than="baseline"))
        margin = other["top1_mean"] - base["top1_mean"] if base and other else None
        stds = [s for s in ((base or {}).get("top1_std"), (other or {}).get("top1_std")) if s is not None]
        wins = (margin is not None and margin >= 2.0 and len(stds) == 2 and margin > 2 * max(stds))
        rows.append({"budget": b, "limit_ms": limit, "best": best and best["name"], "baseline": base and base["name"],
                     "other": other and other["name"], "margin": margin, "other_wins": wins})
    return rows


def val_standard_error(top1: float, n: int) -> float:
    """Binomial standard error (points) of a top-1 measured on ``n`` validation images: how far two
    recipes' val figures can differ by the draw of the val images alone."""
    p = top1 / 100
    return 100 * (p * (1 - p) / n) ** 0.5


def search_decision(points: list[dict]) -> dict:
    """The recipe search's choice: the best mean *validation* top-1; test is read for that one only."""
    best = max(points, key=lambda p: statistics.fmean(p["val_top1"]))
    return {"chosen": best["name"], "val_top1": statistics.fmean(best["val_top1"]),
            "test_top1": best["top1"], "test_top1_mean": best["top1_mean"], "seeds": best["seeds"]}


def render_search(points: list[dict], decision: dict, meta: dict) -> str:
    """A recipe search: candidates by validation top-1 only; the test split is shown for the chosen one."""
    chosen = decision["chosen"]
    lines = [
        "# cub100: recipe search on the validation split",
        "",
        f"Commands: {meta['commands']}",
        "",
        f"Machine: {meta['machine']}. Each candidate trains the same model and data with one recipe option set; "
        "the column that decides is the validation top-1 of the run's best epoch (val: 0.1 of train per class, "
        "carved with --val-seed 0, the same images for every candidate). The test split is read once, for the "
        "chosen recipe only, so no test figure took part in the choice.",
        "",
        "| candidate | seeds | val top-1 % (mean) | ± SE of one val figure | best epoch / epochs | train min / run (shared machine) | chosen |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for p in sorted(points, key=lambda p: -statistics.fmean(p["val_top1"])):
        v = statistics.fmean(p["val_top1"])
        lines.append(f"| {p['name']} | {len(p['seeds'])} | {v:.2f} | {val_standard_error(v, p['n_val']):.2f} | "
                     f"{'/'.join(str(e) for e in p['best_epochs'])} of {p['epochs']} | {p['train_minutes']:.1f} | "
                     f"{'**yes**' if p['name'] == chosen else ''} |")
    per_seed = ", ".join(f"{t:.2f}" for t in decision["test_top1"])
    lines += ["", f"Chosen on val: **{chosen}** (val {decision['val_top1']:.2f}); its cub100 test top-1, read once: "
              f"**{decision['test_top1_mean']:.2f}** (seeds {decision['seeds']}: {per_seed}).",
              "", "Two candidates whose val figures differ by less than about twice the SE are not told apart by "
              "this search; the choice between them is then a coin toss the front's seeds do not repair."]
    if meta.get("not_run"):
        lines += ["", "## Not run yet", "", *[f"- {n}" for n in meta["not_run"]]]
    return "\n".join(lines)


def _ms(v: float | None) -> str:
    return f"{v:.2f} ms" if v is not None else "not measured"


def _fmt(p: dict | None) -> str:
    if p is None:
        return "-"
    std = f" ± {p['top1_std']:.2f}" if p["top1_std"] is not None else " (1 seed)"
    return f"{p['name']} ({p['top1_mean']:.2f}{std})"


def render(points: list[dict], budgets: list[dict], reference: dict, front: list[str], meta: dict) -> str:
    by_name = {p["name"]: p for p in points}
    lines = [
        "# cub100: the accuracy–latency front (test top-1 vs int8 LiteRT latency)",
        "",
        f"Commands: {meta['commands']}",
        "",
        f"Machine: {meta['machine']}. Latency: median 1-/2-thread LiteRT (XNNPACK) int8 latency at batch 1, all "
        f"points in one bench run; the reference is {meta['reference']} in that run "
        f"({_ms(reference.get('int8_ms_1t'))} at 1 thread). Accuracy: cub100 test top-1, each run's "
        "best epoch and (rule `auto`) its rule selected on the validation split (0.1 of train per class), test "
        "evaluated once per run; mean ± std over seeds.",
        "",
        "## Best model for a latency budget",
        "",
        "| budget (x MobileNetV2 224 px) | limit (ms, 1 thread) | best model | best plain MobileNetV2 | best other family | margin (points) |",
        "|---|---:|---|---|---|---:|",
    ]
    for r in budgets:
        margin = f"{r['margin']:+.2f}" + (" (wins)" if r["other_wins"] else "") if r["margin"] is not None else "-"
        lines.append(f"| {r['budget']}x | {r['limit_ms']:.2f} | {_fmt(by_name.get(r['best']))} | "
                     f"{_fmt(by_name.get(r['baseline']))} | {_fmt(by_name.get(r['other']))} | {margin} |")
    lines += ["", "## Points", "",
              "| family | name | px | rule | seeds | val top-1 % (mean) | test top-1 % (mean ± std) | per seed | MACs (G) | int8 ms 1t | int8 ms 2t | train min / run | on the front |",
              "|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for p in sorted(points, key=lambda p: (p["family"], p["img_size"], p["name"])):
        std = f" ± {p['top1_std']:.2f}" if p["top1_std"] is not None else ""
        lines.append(
            f"| {p['family']} | {p['name']} | {p['img_size']} | {p['rule']} | {len(p['seeds'])} | "
            f"{statistics.fmean(p['val_top1']):.2f} | {p['top1_mean']:.2f}{std} | "
            f"{', '.join(f'{t:.2f}' for t in p['top1'])} | {p['macs_g']:.3f} | {_ms(p['int8_ms_1t'])} | {_ms(p['int8_ms_2t'])} | "
            f"{p['train_minutes']:.1f} | {'yes' if p['name'] in front else ''} |")
    if meta.get("not_run"):
        lines += ["", "## Not run yet", "", *[f"- {n}" for n in meta["not_run"]]]
    return "\n".join(lines)


def plot(points: list[dict], front: list[str], reference_ms: float | None, path: str) -> str | None:
    timed = [p for p in points if p.get("int8_ms_1t") is not None]
    if not timed:
        return None
    from fgvc_mobile.serialization import figure, save_png

    markers = {"baseline": "o", "rmg-pmsi": "s", "distill": "^"}
    fig, ax = figure(figsize=(8, 5))
    for fam in sorted({p["family"] for p in timed}):
        ps = sorted((p for p in timed if p["family"] == fam), key=lambda p: p["int8_ms_1t"])
        ax.errorbar([p["int8_ms_1t"] for p in ps], [p["top1_mean"] for p in ps],
                    yerr=[p["top1_std"] or 0 for p in ps], marker=markers.get(fam, "D"), linestyle=":", capsize=3,
                    label=fam)
        for p in ps:
            ax.annotate(f"{p['img_size']}", (p["int8_ms_1t"], p["top1_mean"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7)
    fr = [next(p for p in timed if p["name"] == n) for n in front]
    ax.plot([p["int8_ms_1t"] for p in fr], [p["top1_mean"] for p in fr], color="black", linewidth=1, label="Pareto front")
    if reference_ms:
        for b in BUDGETS:
            ax.axvline(b * reference_ms, color="grey", linewidth=0.5, linestyle="--")
    ax.set_xlabel("int8 LiteRT latency, 1 thread (ms)")
    ax.set_ylabel("cub100 test top-1 (%)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    save_png(fig, path, dpi=120)
    return path
