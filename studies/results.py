"""What every study does at its ends: name the exact command, write Markdown + JSON.

Results go to ``benchmarks/results/`` (each study's default ``--out``), the command and the
machine inside them, so every figure in the README can be traced to what produced it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from fgvc_mobile.serialization import atomic_write_json, atomic_write_text


def command_of(module: str, argv: list[str] | None) -> str:
    """``python -m fgvc_mobile.studies.MODULE ARGS``, quoted so that it can be pasted back."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m fgvc_mobile.studies." + module, *map(shlex.quote, args)])


def write_results(out: str | Path, markdown: str | list[str], payload: dict) -> None:
    """OUT.md and OUT.json, each written atomically (the folder made if needed)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    text = markdown if isinstance(markdown, str) else "\n".join(markdown)
    atomic_write_text(f"{out}.md", text.rstrip("\n") + "\n")
    atomic_write_json(f"{out}.json", payload)
