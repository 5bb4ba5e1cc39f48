"""int8 recipes: the one the options name (``--int8``), or ``--int8 auto``'s escalation.

``auto`` tries a format's ``int8_recipes`` in order, cheapest first (the library defaults, then
other calibration methods, then 16-bit activations or an affine scheme), starting from the
options given, and keeps the first recipe whose int8 artifacts all pass their gate; when none
does, the last attempt is kept and refused, with the tries listed. Either way each int8 artifact
records its recipe in its manifest (``int8_recipe``): the options, the recipes tried before it
with their drops, the seconds quantising took, and its 1-thread latency against its fp32
sibling where the runtime runs here (the price of, e.g., 16-bit activations).
"""

from __future__ import annotations

import statistics
import time

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.formats.base import Artifact, BuildContext, Format

LATENCY_RUNS = 15  # timed runs of one image per artifact (after 3 warm-up runs); a recorded cost, never a test


def int8_mode(value) -> str | None:
    """``ExportRequest.int8`` (False/None, True, "default", "auto") -> None | "default" | "auto"."""
    if value in (None, False, "", "none"):
        return None
    if value is True or value == "default":
        return "default"
    if value == "auto":
        return "auto"
    raise FGVCError(f"--int8 {value!r}: give no value (the default recipe) or 'auto'")


def build_int8(fmt: Format, ctx: BuildContext, opts: dict, state, mode: str, passes, floats: list[Artifact],
               echo=print) -> list[Artifact]:
    """The int8 artifacts of ``fmt``; ``passes(artifact) -> bool`` is the publication gate."""
    ladder = [{}] if mode == "default" else list(fmt.int8_recipes)
    tried, t0 = [], time.perf_counter()
    for i, rung in enumerate(ladder):
        o = {**opts, **rung}
        try:
            arts = fmt.build_int8(ctx, o, state)
        except FGVCError as e:
            if mode == "default" or i == len(ladder) - 1:
                raise
            tried.append({"options": rung, "error": str(e)})
            continue
        ok = {a.file: passes(a) for a in arts}
        tried.append({"options": rung, "results": {a.file: {"drop": _drop(a, ctx), "passed": ok[a.file]}
                                                   for a in arts}})
        if mode == "auto" and len(ladder) > 1:
            echo(f"  int8 recipe {i + 1}/{len(ladder)} {fmt.recipe_options(rung) or '(defaults)'}: "
                 + ", ".join(f"{f} {'passes' if p else 'misses the gate'}" for f, p in ok.items()))
        if all(ok.values()):
            break
    seconds = round(time.perf_counter() - t0, 2)
    names = [op.name for op in fmt.options]
    for a in arts:
        with ctx.stage(f"{fmt.name} {a.precision}: latency vs fp32 (recipe cost)"):
            cost = _latency(a, floats, ctx)
        a.recipe = {"mode": mode, "options": {k: o[k] for k in names if k in o}, "tried": tried[:-1],
                    "rung": len(tried), "of": len(ladder), "seconds": seconds, **cost}
    return arts


def _drop(a: Artifact, ctx: BuildContext) -> float | None:
    ev = a.gating()
    return None if ev.top1 is None else round(ctx.ref_top1 - ev.top1, 3)


def _latency(a: Artifact, floats: list[Artifact], ctx: BuildContext) -> dict:
    """1-thread median ms of one image, of ``a`` and of its format's float artifact (when both run here)."""
    ref = next((f for f in floats if f.fmt == a.fmt), None)
    if a.open_session is None or ref is None or ref.open_session is None:
        return {}
    ms = {"int8": _median_ms(a, ctx), "fp32": _median_ms(ref, ctx)}
    return {"latency_ms_1thread": ms, "latency_ratio": round(ms["int8"] / ms["fp32"], 3)}


def _median_ms(a: Artifact, ctx: BuildContext) -> float:
    session = a.open_session()
    x = session.contract.prepare(ctx.val.images[:1])
    for _ in range(3):
        session.run(x)
    times = []
    for _ in range(LATENCY_RUNS):
        t = time.perf_counter_ns()
        session.run(x)
        times.append(time.perf_counter_ns() - t)
    return round(statistics.median(times) / 1e6, 4)
