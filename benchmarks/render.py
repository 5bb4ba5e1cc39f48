"""Human-readable views of a report: one Markdown table and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from fgvc_mobile.benchmarks.diagnostics_report import markdown_lines
from fgvc_mobile.benchmarks.names import display_names
from fgvc_mobile.benchmarks.stats import PERCENTILE_METHOD

COLUMNS = (
    "row", "artifact", "format", "precision", "passes", "target", "runtime", "delegate", "threads", "size MB", "load ms",
    "first ms", "p50 ms", "p90 ms", "p99 ms", "mean ± std ms", "CPU p50 ms", "peak RSS MB (Δ)", "top-1 %", "top-5 %",
    "agree %", "Δ top-1 pp", "GMAC/s", "% peak", "CPU % peak", "note",
)


def _f(v, digits=2, scale=1.0, sign=False):
    if v is None:
        return "–"
    return f"{v * scale:+.{digits}f}" if sign else f"{v * scale:.{digits}f}"


def row_cells(r: dict, name: str | None = None) -> list[str]:
    lat = r.get("latency_ms") or {}
    cpu = r.get("cpu_time_ms") or {}
    acc = r.get("accuracy") or {}
    comp = r.get("compute") or {}
    mean_std = "–" if lat.get("mean") is None else f"{lat['mean']:.2f}" + ("" if lat.get("std") is None else f" ± {lat['std']:.2f}")
    rss = _f(r.get("peak_rss_mb"), 1) + ("" if r.get("rss_delta_mb") is None else f" (+{r['rss_delta_mb']:.1f})")
    note = f"skipped: {r['skipped_reason']}" if r.get("skipped_reason") else (r.get("notes") or "")
    return [
        name or r.get("name") or str(r.get("artifact")), str(r.get("artifact")), str(r.get("format") or "–"), str(r.get("precision") or "–"),
        _f(r.get("backbone_passes"), 0), str(r.get("target")),
        str(r.get("runtime")), str(r.get("delegate") or "–"), _f(r.get("threads"), 0),
        _f(r.get("size_bytes"), 2, 1 / 2**20), _f(r.get("load_ms")), _f(r.get("first_inference_ms")),
        _f(lat.get("p50")), _f(lat.get("p90")), _f(lat.get("p99")), mean_std, _f(cpu.get("p50")), rss,
        _f(acc.get("top1"), 2, 100), _f(acc.get("top5"), 2, 100), _f(r.get("agreement_with_reference"), 2, 100),
        _f(r.get("top1_delta_vs_reference"), 2, 100, sign=True), _f(comp.get("gmacs"), 1),
        _f(comp.get("share"), 1, 100), _f(comp.get("share_cpu"), 1, 100), note,
    ]


def context_lines(report: dict) -> list[str]:
    """Machine, device, reference, data and settings: the context no figure may travel without."""
    m = report.get("machine") or {}
    libs = ", ".join(f"{k} {v}" for k, v in (m.get("libraries") or {}).items() if v)
    out = [
        f"Machine: {m.get('cpu_model') or 'unknown CPU'}, {m.get('cores') or '?'} cores, "
        f"{m.get('threads') or '?'} threads used; {m.get('os') or 'unknown OS'}; Python {m.get('python') or '?'}"
        + (f"; GPU {m['gpu']}" if m.get("gpu") else ""),
        f"Command: `{report.get('command') or '(not recorded: run from the Python API or imported)'}`",
    ]
    if libs:
        out.append(f"Libraries: {libs}")
    dev = m.get("device")
    if dev:
        out.append("Device: " + ", ".join(f"{k} {v}" for k, v in dev.items() if v))
    ref = report.get("reference")
    if ref:
        if ref.get("skipped_reason"):
            out.append(f"Reference: none ({ref['skipped_reason']})")
        else:
            ck = "; ".join(
                f"{Path(c['checkpoint']).name} ({c.get('method') or '?'}, rule {c.get('rule') or '?'}, top-1 "
                f"{_f((c.get('accuracy') or {}).get('top1'), 2, 100)} %)" for c in ref.get("checkpoints") or [])
            out.append(f"Reference: PyTorch fp32 on {ref.get('device')}" + (f" ({ref['device_name']})" if ref.get("device_name") else "") + f": {ck}")
    data = report.get("data")
    if data:
        out.append(f"Data: {data.get('spec')} test split, {data.get('n_evaluated')} images evaluated"
                   + (f", {data['n_skipped']} unreadable skipped" if data.get("n_skipped") else ""))
    peak = report.get("gemm_peak")
    if peak:
        rates = "; ".join(f"{p['precision']} {p['threads']} thread{'s' if p['threads'] > 1 else ''} {_f(p['gmacs'], 1)} "
                          f"(CPU time {_f(p.get('gmacs_cpu'), 1)})" for p in peak.get("rates") or [])
        skipped = "; ".join(f"{k} not measured ({v})" for k, v in (peak.get("skipped") or {}).items())
        out.append(f"GEMM peak (GMAC/s, {peak.get('m')}x{peak.get('k')}x{peak.get('n')}, {peak.get('statistic')} of "
                   f"{peak.get('repetitions')} runs, torch): " + "; ".join(x for x in (rates, skipped) if x)
                   + ". GMAC/s = MACs / p50 latency; % peak = that rate over the GEMM rate of the row's precision "
                   "at its thread count (CPU % peak: both by CPU time instead of wall time)")
    s = report.get("settings") or {}
    if s:
        out.append(f"Settings: target {s.get('target')}, batch {s.get('batch')}, warmup {s.get('warmup')}, runs {s.get('runs')}; "
                   f"percentiles: numpy '{PERCENTILE_METHOD}' interpolation, std: population; "
                   "CPU p50 = median process CPU time of a run (all threads: with one thread the compute time, "
                   "unaffected by waiting for a core); passes = backbone runs per inference, all inside the timed graph")
    return out


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict) -> str:
    lines = ["# fgvc-mobile benchmark", ""]
    lines += [f"- {_md_escape(c)}" for c in context_lines(report)]
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r, name in zip(report["results"], display_names(report["results"])):
        lines.append("| " + " | ".join(_md_escape(c) for c in row_cells(r, name)) + " |")
    lines += ["", "Accuracies are on the test split; agree % is top-1 agreement with the fp32 PyTorch "
              "reference, Δ top-1 is the accuracy difference to it in percentage points. Peak RSS is the "
              "process's resident peak while loading and timing the model; (+x) is its growth over the "
              "resident size before loading.", ""]
    lines += markdown_lines(report)
    return "\n".join(lines)


def _lines_html(lines: list[str]) -> str:
    """The few Markdown shapes of the diagnostics section (headings, tables, bullets, text) as HTML."""
    out, rows = [], []
    for ln in [*lines, ""]:
        if ln.startswith("|"):
            if not ln.startswith("|---"):
                rows.append("".join(f"<td>{html.escape(c.strip())}</td>" for c in ln.strip("|").split("|")))
            continue
        if rows:
            out.append("<table>" + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>")
            rows = []
        if ln.startswith("#"):
            level = len(ln) - len(ln.lstrip("#"))
            out.append(f"<h{level}>{html.escape(ln.lstrip('#').strip())}</h{level}>")
        elif ln.startswith("- "):
            out.append(f"<p>• {html.escape(ln[2:])}</p>")
        elif ln.strip():
            out.append(f"<p>{html.escape(ln)}</p>")
    return "\n".join(out)


def to_html(report: dict, images: dict[str, Path]) -> str:
    """One page with the table inline and each PNG embedded as base64 (no side files)."""
    head = "".join(f"<li>{html.escape(c)}</li>" for c in context_lines(report))
    th = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr" + (' class="skipped"' if r.get("skipped_reason") else "") + ">"
        + "".join(f"<td>{html.escape(c)}</td>" for c in row_cells(r, name)) + "</tr>"
        for r, name in zip(report["results"], display_names(report["results"]))
    )
    diag = _lines_html(markdown_lines(report))
    figs = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(Path(p).read_bytes()).decode("ascii")}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for title, p in images.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fgvc-mobile benchmark</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }}
th {{ background: #f0f0f0; position: sticky; top: 0; }}
td:first-child, td:nth-child(-n+7), td:last-child {{ text-align: left; }}
tr.skipped td {{ color: #888; }}
figure {{ display: inline-block; margin: 1em 1em 0 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>fgvc-mobile benchmark</h1>
<ul>{head}</ul>
<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>
{figs}
{diag}
</body></html>
"""
