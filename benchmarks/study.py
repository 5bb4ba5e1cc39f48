"""What every study script does at its ends: name the exact command, write Markdown + JSON.

(The older studies still spell this out themselves; issue 16 moves them onto one pipeline.)
"""

from __future__ import annotations

import shlex
import sys

from fgvc_mobile.serialization import atomic_write_json, atomic_write_text


def command_of(module: str, argv: list[str] | None) -> str:
    """``python -m fgvc_mobile.benchmarks.MODULE ARGS``, quoted so that it can be pasted back."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m fgvc_mobile.benchmarks." + module, *map(shlex.quote, args)])


def write_results(out: str, markdown_lines: list[str], payload: dict) -> None:
    """OUT.md and OUT.json, each written atomically."""
    atomic_write_text(f"{out}.md", "\n".join(markdown_lines) + "\n")
    atomic_write_json(f"{out}.json", payload)
