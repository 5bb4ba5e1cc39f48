"""The format registry: one module per format, one line each here.

Adding a format (e.g. ExecuTorch ``.pte``) is writing a module with a :class:`Format` subclass
(options, tolerances, build_float, build_int8, int8_recipes, open, io_info, read_metadata) and adding it
to ``FORMATS``.
"""

from __future__ import annotations

import os

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.formats.base import Format, Option, Session
from fgvc_mobile.export.formats.coreml import CoreML
from fgvc_mobile.export.formats.onnx import Onnx
from fgvc_mobile.export.formats.tflite import TFLite

FORMATS: dict[str, Format] = {f.name: f for f in (Onnx(), TFLite(), CoreML())}
FORMAT_CHOICES = (*FORMATS, "all")


def format_of(path: str | os.PathLike) -> Format:
    """The format of an artifact file, by its suffix."""
    p = os.fspath(path).rstrip("/")
    for f in FORMATS.values():
        if p.endswith(f.suffixes):
            return f
    raise FGVCError(f"{p}: unknown artifact type (expected {', '.join(f.suffix for f in FORMATS.values())})")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Metadata entries of any artifact, by its suffix."""
    return format_of(path).read_metadata(path)


def resolve_formats(name: str) -> list[str]:
    if name == "all":
        return list(FORMATS)
    names = [n.strip() for n in name.split(",") if n.strip()]
    for n in names:
        if n not in FORMATS:
            raise FGVCError(f"--format {n!r}: unknown format; choose from {', '.join(FORMAT_CHOICES)}")
    if not names:
        raise FGVCError("--format: give a format")
    return names


def parse_options(pairs: list[str] | None, formats: list[str]) -> dict[str, dict]:
    """``["onnx.quant_types=U8S8", ...]`` -> {format: {option: value}} with defaults filled in."""
    out = {f: FORMATS[f].defaults() for f in formats}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        fmt, dot, name = key.partition(".")
        if not sep or not dot:
            raise FGVCError(f"-O {pair}: expected FORMAT.OPTION=VALUE, e.g. onnx.quant_types=U8S8")
        if fmt not in FORMATS:
            raise FGVCError(f"-O {pair}: unknown format {fmt!r}")
        if fmt not in formats:
            raise FGVCError(f"-O {pair}: format {fmt} is not being exported (--format)")
        out[fmt][name] = FORMATS[fmt].option(name).parse(fmt, raw)
    return out


def table_text() -> str:
    """The format table as text, for ``fgvc-mobile export --list-formats``."""
    lines = []
    for f in FORMATS.values():
        lines.append(f"{f.name}: {f.float_artifacts}; --int8 adds {f.int8_artifacts}")
        for o in f.options:
            choices = f" ({'|'.join(map(str, o.choices))})" if o.choices else ""
            lines.append(f"  -O {f.name}.{o.name}={o.default}{choices}  {o.help}")
    return "\n".join(lines)


__all__ = ["FORMATS", "FORMAT_CHOICES", "Format", "Option", "Session", "format_of", "parse_options", "read_metadata",
           "resolve_formats", "table_text"]
