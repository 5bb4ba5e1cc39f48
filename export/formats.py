"""The format table: which artifacts each format produces and the options it accepts.

Options are given on the command line as ``-O FORMAT.NAME=VALUE`` (repeatable) and checked
against this table before anything is converted, so a typo fails in a second, not after a
five-minute conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

from fgvc_mobile.errors import FGVCError


@dataclass(frozen=True)
class Option:
    name: str
    default: object
    choices: tuple | None = None  # None: any value of the default's type
    help: str = ""

    def parse(self, fmt: str, raw: str):
        key = f"{fmt}.{self.name}"
        if isinstance(self.default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise FGVCError(f"-O {key}={raw}: expected true or false")
            value = raw.lower() in ("true", "1", "yes")
        elif isinstance(self.default, int):
            try:
                value = int(raw)
            except ValueError:
                raise FGVCError(f"-O {key}={raw}: expected an integer") from None
        else:
            value = raw
        if self.choices is not None and value not in self.choices:
            raise FGVCError(f"-O {key}={raw}: choose one of {', '.join(map(str, self.choices))}")
        return value


@dataclass(frozen=True)
class FormatSpec:
    name: str
    float_artifacts: str  # what the float export writes (documentation)
    int8_artifacts: str  # what --int8 adds
    options: tuple[Option, ...]
    builder: str  # function in fgvc_mobile.export.builders

    def option(self, name: str) -> Option:
        for o in self.options:
            if o.name == name:
                return o
        raise FGVCError(f"-O {self.name}.{name}: unknown option; {self.name} accepts "
                        f"{', '.join(o.name for o in self.options)}")

    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}


FORMATS: dict[str, FormatSpec] = {
    "onnx": FormatSpec(
        "onnx", "model_fp32.onnx", "model_int8.onnx (QDQ, per-channel weights)",
        (
            Option("exporter", "dynamo", ("dynamo", "torchscript"), "torch.onnx.export route"),
            Option("opset", 18, None, "ONNX opset"),
            Option("quant_types", "S8S8", ("S8S8", "U8S8", "U8U8"), "activation/weight int8 types"),
            Option("calibrate", "minmax", ("minmax", "entropy", "percentile"), "ORT calibration method"),
            Option("reduce_range", False, None, "7-bit weights (for CPUs without VNNI)"),
        ),
        "build_onnx",
    ),
    "tflite": FormatSpec(
        "tflite", "model_fp32.tflite (softmax output, standard TFLite metadata)",
        "model_int8.tflite (int8 weights and activations; float32 output unless tflite.io=int8)",
        (
            Option("calibration", "minmax", ("minmax", "moving-average"),
                   "activation ranges: min/max over all images, or ai_edge_quantizer's moving average"),
            Option("io", "float", ("float", "int8"),
                   "int8 model's I/O: as the fp32 model (float32 out; what MediaPipe accepts), or int8 in/out"),
        ),
        "build_tflite",
    ),
    "coreml": FormatSpec(
        "coreml", "model_fp16.mlpackage (or model_fp32 with coreml.precision=fp32)",
        "model_int8w.mlpackage (int8 weights), model_w8a8.mlpackage (int8 weights and activations)",
        (
            Option("precision", "fp16", ("fp16", "fp32"), "float compute precision"),
            Option("target", "iOS16", ("iOS16", "iOS17", "iOS18"), "minimum deployment target (W8A8 uses >= iOS17)"),
            Option("w8a8", True, None, "with --int8, also write the W8A8 model"),
        ),
        "build_coreml",
    ),
}

FORMAT_CHOICES = (*FORMATS, "all")


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
