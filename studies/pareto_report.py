"""Rendering of the Pareto table (studies/pareto.py): Markdown, PNG plot, recommendation, doc fill."""

from __future__ import annotations

from pathlib import Path

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.models.presets import MAC_BUDGET
from fgvc_mobile.serialization import atomic_write_text, figure, save_png

#: a phone model must keep at least this share (%) of RMG-PMSI's top-1 gain over the baseline
GAIN_GOAL = 80.0
DOC_BEGIN, DOC_END = "<!-- pareto:begin -->", "<!-- pareto:end -->"


def _p50(lat: dict | None) -> float | None:
    return (lat or {}).get("p50")


def row_name(r: dict) -> str:
    return f"{r['label']} / {r['rule']}"


def qualifies(r: dict) -> bool:
    """Within the MAC budget and >= GAIN_GOAL % of the gain at equal epochs (``pareto.annotate``)."""
    return r["mac_ratio"] <= MAC_BUDGET and r.get("gain_kept") is not None and r["gain_kept"] >= GAIN_GOAL


def recommend(rows: list[dict]) -> dict | None:
    """The fastest qualifying row (int8 TFLite p50, else PyTorch p50, then MACs)."""
    ok = [r for r in rows if qualifies(r)]

    def key(r):
        lat = _p50(r["int8"].get("latency_ms"))
        return (lat if lat is not None else float("inf"), _p50(r["torch_latency_ms"]), r["macs"])

    return min(ok, key=key) if ok else None


def _f(v, fmt: str, none: str = "n/a") -> str:
    return none if v is None else format(v, fmt)


def table(rows: list[dict], ref: dict, rec: dict | None) -> str:
    lines = [
        "| model / rule | method | head | starts from | epochs (chain) | top-1 % | gain kept % | "
        "compared with (baseline / RMG-PMSI) | params (M) | GMACs | "
        "x MobileNetV2 | PyTorch CPU ms | TFLite int8 ms | int8 top-1 % | Pareto |",
        "|---|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        i8 = r["int8"]
        pareto = ", ".join(k for k, f in (("MACs", "pareto_macs"), ("latency", "pareto_latency")) if r.get(f)) or "-"
        name = f"**{row_name(r)}**" if r is rec else row_name(r)
        lines.append(
            f"| {name} | {r['method']} | {r['head']} | {r.get('starts_from', '-')} | {_f(r.get('epochs_total'), 'd', '-')} | "
            f"{_f(r['top1'], '.2f')} | {_f(r.get('gain_kept'), '.0f', '-')} | {r.get('compared_with') or '-'} | "
            f"{r['params'] / 1e6:.2f} | {r['macs'] / 1e9:.3f} | {r['mac_ratio']:.2f} | "
            f"{_f(_p50(r['torch_latency_ms']), '.2f')} | {_f(_p50(i8.get('latency_ms')), '.2f')} | "
            f"{_f(i8.get('top1'), '.2f')} | {pareto} |"
        )
    return "\n".join(lines)


def verdict(rows: list[dict], ref: dict, rec: dict | None) -> str:
    if ref.get("baseline") is None or ref.get("rmg_pmsi") is None:
        return ("No recommendation: the table needs a `baseline` run and an `rmg-pmsi` run with the released "
                "heads to measure the gain.")
    gain = ref["rmg_pmsi"] - ref["baseline"]
    at = f" ({ref['epochs']} epochs)" if ref.get("epochs") else ""
    head = (f"Main reference: RMG-PMSI {ref.get('rmg_pmsi_label') or ''} ({ref['rmg_pmsi_rule']}) "
            f"{ref['rmg_pmsi']:.2f}% - baseline {ref.get('baseline_label') or ''} {ref['baseline']:.2f}%{at} = "
            f"{gain:+.2f} points. Goal: >= {GAIN_GOAL:.0f}% of the gain at equal epochs within {MAC_BUDGET}x "
            "MobileNetV2's MACs; each row is compared with the references named in its row.")
    if gain <= 0:
        return head + " RMG-PMSI did not beat the baseline here, so there is no gain to keep: ship the baseline."
    if rec is None:
        within = [r for r in rows if r["mac_ratio"] <= MAC_BUDGET and r.get("gain_kept") is not None
                  and r["method"] != "baseline"]
        best = max(within, key=lambda r: r["gain_kept"], default=None)
        more = (f" Best non-baseline row within the MAC budget: {row_name(best)}, {best['top1']:.2f}%, "
                f"{best['gain_kept']:.0f}% of the gain after {best.get('epochs_total') or '?'} epochs "
                f"(vs {best['compared_with']})." if best else "")
        return head + " **No row meets the goal.**" + more
    return (head + f" **Recommended: {row_name(rec)}** ({rec['method']}, head {rec['head']}): "
            f"{rec['top1']:.2f}% top-1, {rec['gain_kept']:.0f}% of the gain (vs {rec['compared_with']}), "
            f"{rec['mac_ratio']:.2f}x MobileNetV2's MACs"
            + (f", {_p50(rec['int8'].get('latency_ms')):.2f} ms int8 TFLite" if _p50(rec["int8"].get("latency_ms")) else "")
            + ".")


def render(rows: list[dict], ref: dict, rec: dict | None, command: str, machine: dict, args) -> str:
    first = rows[0]
    by_note: dict[str, list[str]] = {}
    for r in rows:
        if r["int8"].get("note"):
            by_note.setdefault(r["int8"]["note"], []).append(row_name(r))
    notes = [f"int8 TFLite {note}: " + ("every row" if len(names) == len(rows) else ", ".join(names))
             for note, names in by_note.items()]
    lines = [
        "# Deploy cost vs accuracy (Pareto table)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine.get('cpu_model')} ({machine.get('cores')} cores), torch "
        f"{machine.get('libraries', {}).get('torch')}; latency = median of {args.runs} runs at batch 1 after "
        f"{args.warmup} warm-up runs, {args.threads} thread(s) (PyTorch fp32 deploy graph; LiteRT XNNPACK for the "
        "int8 .tflite). Shared machine: compare latencies as ratios.",
        "",
        f"Input {first['input_size']} px; top-1 = the test split ({first['n_test']} images) at each run's best epoch, "
        f"that epoch selected on the {'/'.join(sorted({r.get('selected_on', 'test') for r in rows}))} split; int8 top-1 = the exporter's validation of the int8 artifact. MACs and params "
        "are those of the deploy graph (unused heads pruned, BatchNorm folded) at batch 1. \"epochs (chain)\" counts "
        "the run's own epochs plus those of the run it started from (a teacher, or the run whose backbone it took). "
        "Gain kept = (top-1 - baseline) / (RMG-PMSI - baseline) with the baseline trained as long as that chain and "
        "the RMG-PMSI run of that length where one was given (else the main reference's gain); a chain longer than "
        "every baseline given gets none (more epochs alone raise the baseline).",
        "",
        table(rows, ref, rec),
        "",
        verdict(rows, ref, rec),
    ]
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


def update_doc(path: str | Path, md: str) -> None:
    """Replace what lies between the pareto markers of ``path`` by ``md`` (headings demoted)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise FGVCError(f"--doc {path}: cannot read ({e.strerror or e})") from None
    if text.count(DOC_BEGIN) != 1 or text.count(DOC_END) != 1 or text.index(DOC_BEGIN) > text.index(DOC_END):
        raise FGVCError(f"--doc {path}: needs exactly one {DOC_BEGIN} ... {DOC_END} block")
    body = "\n".join("###" + ln[1:] if ln.startswith("# ") else ln for ln in md.splitlines())
    before, rest = text.split(DOC_BEGIN)
    _, after = rest.split(DOC_END)
    atomic_write_text(p, f"{before}{DOC_BEGIN}\n{body}\n{DOC_END}{after}")


def plot(rows: list[dict], path: str | Path, ref: dict | None = None) -> Path | None:
    """Top-1 against GMACs (with the MAC budget) and against latency (PyTorch CPU o, int8 TFLite ^);
    with ``ref``, the top-1 a row needs to keep GAIN_GOAL % of the main reference's gain."""
    pts = [r for r in rows if r["top1"] is not None]
    if not pts:
        return None
    fig, (ax1, ax2) = figure(1, 2, figsize=(13, 5.5))
    colors = {label: f"C{i % 10}" for i, label in enumerate(dict.fromkeys(r["label"] for r in pts))}
    for r in pts:
        c = colors[r["label"]]
        marker = "o" if r["deploy_rule"] else "s"
        ax1.scatter(r["macs"] / 1e9, r["top1"], color=c, marker=marker, s=45)
        ax1.annotate(row_name(r), (r["macs"] / 1e9, r["top1"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
        for lat, m, tag in ((_p50(r["torch_latency_ms"]), "o", "pt"), (_p50(r["int8"].get("latency_ms")), "^", "int8")):
            if lat is not None:
                ax2.scatter(lat, r["top1"], color=c, marker=m, s=45)
                ax2.annotate(f"{row_name(r)} [{tag}]", (lat, r["top1"]), fontsize=6, xytext=(4, 3), textcoords="offset points")
    base = min(r["macs"] / r["mac_ratio"] for r in pts) / 1e9
    ax1.axvline(base * MAC_BUDGET, color="grey", ls="--", lw=1)
    ax1.text(base * MAC_BUDGET, ax1.get_ylim()[0], f" {MAC_BUDGET}x MobileNetV2", fontsize=7, color="grey", va="bottom")
    if ref and ref.get("gain") and ref["gain"] > 0:
        need = ref["baseline"] + GAIN_GOAL / 100.0 * ref["gain"]
        for ax in (ax1, ax2):
            ax.axhline(need, color="grey", ls=":", lw=1)
        ax1.text(ax1.get_xlim()[0], need, f" {GAIN_GOAL:.0f}% of the gain at {ref.get('epochs') or 'equal'} epochs",
                 fontsize=7, color="grey", va="bottom")
    ax1.set_xscale("log")
    ax1.set_xlabel("deploy graph GMACs at batch 1 (log)")
    ax2.set_xlabel("latency per image, batch 1, median (ms): o PyTorch fp32 CPU, ^ LiteRT int8")
    for ax in (ax1, ax2):
        ax.set_ylabel("top-1 (%)")
        ax.grid(alpha=0.3)
    ax1.set_title("Top-1 vs compute (o deploy rule, s other rule)")
    ax2.set_title("Top-1 vs latency")
    return save_png(fig, path)
