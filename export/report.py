"""The export's human-facing output: the printed table and ``validation_report.md``."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def size_bytes(path: Path) -> int:
    """Bytes of an artifact: a file, or every file of a bundle folder (.mlpackage)."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n} B"


def host() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"


def signed(points: float) -> str:
    """Top-1 change in points, "+0.00" rather than "-0.00"."""
    return f"{points + 0.0:+.2f}" if round(points, 2) != 0 else "+0.00"


def parity_text(ev) -> str:
    if ev.how == "structural":
        return "structural only (not run here)"
    sim = " (simulated)" if ev.how == "simulated" else ""
    return f"rel err {ev.rel_error:.1e}, top-1 agree {ev.top1_agreement:.1f}%{sim}"


def table_rows(arts, verdicts, ref_top1: float, out: Path) -> list[dict]:
    rows = [{"artifact": "PyTorch fp32 deploy graph (reference)", "size": "", "parity": "reference",
             "top1": f"{ref_top1:.2f}", "drop": ""}]
    for a in arts:
        ev, v = a.gating(), verdicts[a.file]
        path = out / a.file
        rows.append({
            "artifact": a.file if v.passed else f"{a.file} (REFUSED)",
            "size": human_size(size_bytes(path)) if path.exists() and v.passed else "",
            "parity": parity_text(ev),
            "top1": f"{ev.top1:.2f}" if ev.top1 is not None else "n/a",
            "drop": signed(-v.drop) if v.drop is not None else "n/a",
        })
        for extra in a.evaluations:
            if extra.name != a.gate and extra.how != "structural":
                d = ref_top1 - extra.top1
                rows.append({"artifact": f"  {a.file} [{extra.name}]", "size": "", "parity": parity_text(extra),
                             "top1": f"{extra.top1:.2f}", "drop": signed(-d)})
    return rows


def console_table(rows: list[dict]) -> str:
    cols = [("artifact", "artifact"), ("size", "size"), ("parity", "parity vs fp32 PyTorch"),
            ("top1", "top-1 %"), ("drop", "vs fp32")]
    widths = {k: max(len(h), *(len(r[k]) for r in rows)) for k, h in cols}
    line = "  ".join(h.ljust(widths[k]) for k, h in cols)
    out = [line, "  ".join("-" * widths[k] for k, _ in cols)]
    for r in rows:
        out.append("  ".join(r[k].ljust(widths[k]) for k, _ in cols))
    return "\n".join(out)


def markdown(summary: dict, arts, verdicts, rows: list[dict], refused=(), val=None, ref_preds=None,
             stages=None) -> str:
    """validation_report.md: what was exported, from what, how each artifact was validated, what was
    refused and why, which classes each int8 artifact hurts most against fp32 (``val``, ``ref_preds``),
    and where the time went (``stages``, a :class:`~fgvc_mobile.export.stages.StageTimes`)."""
    from fgvc_mobile.export.layer_errors import class_delta

    s = summary
    c = s["complexity"]
    lines = [
        "# fgvc-mobile export: validation report",
        "",
        f"- checkpoint: `{s['checkpoint']}` (sha256 `{s['sha256'][:16]}...`), method `{s['method']}`, "
        f"rule `{s['rule']}`",
        f"- input: `{s['input']}`; preprocessing: {s['preprocess']}",
        f"- validation: {s['val']}; calibration: {s['calib'] or 'none (no --int8)'}",
        f"- host: {host()}",
        f"- command: `{s['command']}`",
        "",
        "## Deploy graph",
        "",
        "| graph | params | MACs |",
        "|---|---:|---:|",
        f"| training model (all heads) | {c['train_params']:,} | {c['train_macs']:,} |",
        f"| deploy graph (rule `{s['rule']}`) | {c['deploy_params']:,} | {c['deploy_macs']:,} |",
        *([f"| plain MobileNetV2 classifier (reference) | | {c['mobilenet_v2_macs']:,} |", "",
           f"The deploy graph costs {c['x_mobilenet_v2']:.2f}x MobileNetV2's MACs"
           + (f", more than the {c['phone_mac_budget']}x a phone model should stay within "
              "(docs/deploy_cost.md lists cheaper choices)." if c["x_mobilenet_v2"] > c["phone_mac_budget"] else ".")]
          if "mobilenet_v2_macs" in c else []),
        "",
        f"Rewrites: {s['rewrites']}. Deploy graph vs the training model's `{s['rule']}` output on the first "
        f"{s.get('deploy_equality_images', 'n')} validation images: max |diff| {s['deploy_equality']:.2e} "
        "(BatchNorm folding changes float rounding only).",
        "",
        *([f"Pipeline: {s['pipeline']['note']} (MACs above count every pass).", ""]
          if s.get("pipeline", {}).get("backbone_passes", 1) > 1 else []),
        "## Artifacts",
        "",
        "| artifact | size | parity vs fp32 PyTorch | top-1 % | vs fp32 |",
        "|---|---:|---|---:|---:|",
    ]
    lines += [f"| {r['artifact'].strip()} | {r['size']} | {r['parity']} | {r['top1']} | {r['drop']} |" for r in rows]
    if refused:
        lines += ["", "## Refused (not published)", ""] + [f"- {r.line()}" for r in refused]
    lines += ["", "## How each artifact was judged", ""]
    for a in arts:
        v = verdicts[a.file]
        lines.append(f"### {a.file} ({a.fmt} {a.precision}), converted in {a.seconds:.1f} s")
        lines.append("")
        lines.append(f"- gate on `{a.gate}`: {'passed' if v.passed else 'FAILED'}"
                     f"{' (' + v.reason + ')' if v.reason else ''}; tolerance {v.tolerance}")
        for ev in a.evaluations:
            lines.append(f"- `{ev.name}` ({ev.how}): {ev.to_dict()}")
        for n in a.notes:
            lines.append(f"- {n}")
        if a.recipe:
            r = a.recipe
            cost = f", latency x{r['latency_ratio']} of fp32 (1 thread)" if "latency_ratio" in r else ""
            lines.append(f"- int8 recipe ({r['mode']}, {r['rung']} of {r['of']} tried): {r['options']}{cost}")
        if a.int8 and val is not None and a.gating().preds is not None:
            hurt = [d for d in class_delta(val.labels, ref_preds, a.gating().preds, summary["classes"]) if d["delta"] < 0]
            lines.append("- classes int8 hurts most (top-1 fp32 -> int8, images): " + (", ".join(
                f"{d['class']} {100 * d['base_top1']:.0f}->{100 * d['top1']:.0f}% ({d['n']})" for d in hurt)
                or "none (no class loses top-1)"))
        if a.fmt == "coreml":
            st = a.structure
            lines.append(f"- structure: inputs {st.get('inputs')}, outputs {[o['name'] for o in st.get('outputs', [])]}, "
                         f"{len(st.get('labels', []))} labels, op counts {st.get('op_counts')}")
        lines.append("")
    if any(a.fmt == "coreml" for a in arts) and platform.system() != "Darwin":
        lines += ["CoreML models cannot be run on Linux: they were validated structurally (names, types, "
                  "shapes, labels, op counts, dequantised weights) and their quantized accuracy is a "
                  "PyTorch simulation. Run the export on macOS for real CoreML parity.", ""]
    if stages is not None:
        lines += stages.markdown_lines() + [""]
    return "\n".join(lines)
