"""Every figure the README results table and docs/ quote as a measurement is in the results file
they cite (benchmarks/results/*.md, or its .json twin).

A decimal number in scope must appear in a cited file, or be listed below: DERIVED (computed from
figures of the cited files; the test redoes the arithmetic) or NOT_MEASURED (an option value, a
budget — not a result). Sections that hold no measurements are left out of scope by name, each
with its reason; the head-preset cost table is compared with the command that prints it.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUM = re.compile(r"(?<![\w.])[-+−]?\d+\.\d+(?!\.?\d)")  # 2.12 ms, 7.45x, 39.5%; not 2.14.1
CITE = re.compile(r"((?:benchmarks|docs)/)?results/([\w.-]+\.md)")

#: doc -> figure -> (expression over figures of the cited files, what it is)
DERIVED: dict[str, dict[str, tuple[str, str]]] = {
    "README.md": {
        "2.76": ("5.85 / 2.12", "RMG-PMSI / baseline LiteRT int8 latency at 224 px"),
        "1.09": ("2.31 / 2.12", "light heads / baseline LiteRT int8 latency at 224 px"),
        "0.66": ("100 * math.sqrt(0.85 * 0.15 / 2903)", "standard error of a top-1 near 85% on 2903 images"),
    },
    "docs/deploy_cost.md": {
        "0.66": ("100 * math.sqrt(0.85 * 0.15 / 2903)", "standard error of a top-1 near 85% on 2903 images"),
        "4.37": ("84.36 - 79.99", "RMG-PMSI's gain at 4 epochs"),
        "1.3": ("85.12 - 83.84", "light's margin over the baseline at 8 epochs"),
        "3.4": ("87.77 - 84.36", "8-epoch teacher vs 4-epoch teacher"),
        "1.1": ("0.80 / 0.72", "light twin / 8-epoch baseline LiteRT int8 latency at 128 px"),
    },
    "docs/methods.md": {
        "1.6": ("82.80 - 81.20", "largest int8 drop but DB + GCE's (PMG: fp32 reference 82.80 -> int8 81.20)"),
        "3.2": ("81.40 - 78.20", "DB + GCE: fp32 reference 81.40 -> int8 78.20 on the same 500 images"),
    },
}

#: doc -> figure -> why it is not a measurement
NOT_MEASURED: dict[str, dict[str, str]] = {
    "README.md": {"1.3": "the MAC budget (1.3x MobileNetV2)"},
    "docs/deploy_cost.md": {
        "1.3": "the MAC budget (1.3x MobileNetV2)",
        "1.0": "option value (twin_kd)",
        "2.0": "option value (twin_temperature, KD temperature)",
        "1.08": "counted MAC ratio of the untrained tiny preset at 128 px (python -m fgvc_mobile.models.presets)",
        "1.84": "counted MAC ratio of the untrained dwsep preset at 128 px (python -m fgvc_mobile.models.presets)",
        "1.45": "counted, not measured: S1's smooth conv, 1453 MMACs (python -m fgvc_mobile.models.presets)",
    },
    "docs/methods.md": {"0.5": "option value (ELoPE alpha)", "0.75": "option value (ELoPE margin m)",
                        "0.3": "option value (ELoPE tau)", "0.01": "the CMAL release's BatchNorm momentum",
                        "4.5": "the CMAL-Net paper's own overhead on ResNet-50"},
}

#: doc -> section headings (## level) left out of scope, and why
UNMEASURED_SECTIONS: dict[str, dict[str, str]] = {
    "docs/deploy_cost.md": {
        "## Head presets (measured)": "counted MACs/params: its table is compared with `python -m fgvc_mobile.models.presets` below",
        "## Distillation into MobileNetV2": "option defaults, no results",
    },
}


def _figures(text: str) -> list[str]:
    return [m.group(0).lstrip("+-−") for m in NUM.finditer(text)]


def _values(text: str) -> set[float]:
    return {float(f) for f in _figures(text)}


def _cited(text: str) -> list[Path]:
    files = []
    for folder, name in dict.fromkeys(CITE.findall(text)):
        md = ROOT / (folder or "benchmarks/") / "results" / name  # docs/results: checks made outside a study
        assert md.is_file(), f"cites {md.relative_to(ROOT)}, which does not exist"
        files += [md] + ([md.with_suffix(".json")] if md.with_suffix(".json").is_file() else [])
    return files


def _without_sections(doc: str, text: str) -> str:
    for heading in UNMEASURED_SECTIONS.get(doc, {}):
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + (text[end:] if end >= 0 else "")
    return text


def _missing(doc: str, text: str, files: list[Path]) -> list[str]:
    have = set().union(*(_values(f.read_text()) for f in files)) if files else set()
    derived, skip = DERIVED.get(doc, {}), NOT_MEASURED.get(doc, {})
    missing = []
    for fig in dict.fromkeys(_figures(text)):
        if float(fig) in have or fig in skip:
            continue
        if fig in derived:
            expr, _ = derived[fig]
            operands = [float(v) for v in re.findall(r"\d+\.\d+", expr) if not expr.startswith("100 * math")]
            assert all(v in have for v in operands), f"{doc}: {fig} = {expr}: an operand is not in {files}"
            value = eval(expr, {"math": math})  # noqa: S307 - expressions written in this file
            decimals = len(fig.split(".")[1])
            assert round(abs(value), decimals) == float(fig), f"{doc}: {fig} is not {expr} = {value:.4f}"
            continue
        missing.append(fig)
    return missing


def _readme_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Results"):text.index("## Layout")]
    rows = [r.split(" | ") for r in table.splitlines() if r.startswith("| ") and not r.startswith("| what")]
    assert len(rows) >= 5
    return rows


@pytest.mark.parametrize("row", _readme_rows(), ids=lambda r: r[0][2:40])
def test_readme_results_table(row):
    what, headline, files = row[0], row[1], _cited(row[2])
    assert files, f"README row {what!r} cites no results file"
    missing = _missing("README.md", headline, files)
    assert not missing, f"README row {what!r}: {missing} in no file it cites ({[f.name for f in files]})"


@pytest.mark.parametrize("doc", ["docs/deploy_cost.md", "docs/methods.md", "docs/reliability.md"])
def test_docs(doc):
    text = (ROOT / doc).read_text()
    files = _cited(text)
    missing = _missing(doc, _without_sections(doc, text), files)
    assert not missing, f"{doc}: {missing} in no results file it cites ({[f.name for f in files]})"


def test_the_check_catches_a_figure_missing_from_its_file():
    row = next(r for r in _readme_rows() if "cub100 accuracy" in r[0])
    assert _missing("README.md", row[1] + " / 88.43 (combined)", _cited(row[2])) == ["88.43"]


def test_head_preset_table_is_what_the_command_prints():
    doc = (ROOT / "docs/deploy_cost.md").read_text()
    section = doc[doc.index("## Head presets"):]
    printed = subprocess.run([sys.executable, "-m", "fgvc_mobile.models.presets"], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout
    rows = [ln for ln in printed.splitlines() if ln.startswith("| ") and not ln.startswith("| head")]
    assert len(rows) == 5
    for ln in rows:
        assert ln in section, f"docs/deploy_cost.md head presets: {ln!r} is not what the command prints"
