"""What a resume may not change: the recipe, the model and the data of the run it continues.

``train --resume CKPT --method OTHER`` used to continue with the checkpoint's recipe and only
warn; a resume that asks for another method, model or data set is now refused with one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields

from fgvc_mobile.data.layouts import parse_data_spec, split_options
from fgvc_mobile.errors import FGVCError

#: the settings that make a run that run: changing one on resume would silently train another
FIXED_ON_RESUME = ("method", "model", "data")


def _show(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if isinstance(value, dict) else str(value)


def _same(key: str, asked, saved) -> bool:
    """Equal settings; two ``--data`` specs are the same data when they name the same reader, options
    and folder, however the path is spelled (``cub:../d`` from one folder, ``cub:/abs/d`` from another)."""
    if asked == saved:
        return True
    if key != "data" or not isinstance(asked, str) or not isinstance(saved, str):
        return False
    try:
        (ka, pa), (ks, ps) = parse_data_spec(asked), parse_data_spec(saved)
    except FGVCError:
        return False
    same_path = pa == ps or (pa and ps and os.path.realpath(pa) == os.path.realpath(ps))
    return ka == ks and bool(same_path) and split_options(asked)[1] == split_options(saved)[1]


def refuse_changes(saved: dict, asked: dict, checkpoint) -> None:
    """One-line FGVCError when ``asked`` (option -> value the user gave) changes a fixed setting of
    the checkpoint's config ``saved``; asking for the same value is fine."""
    for key in FIXED_ON_RESUME:
        if key in asked and asked[key] is not None and not _same(key, asked[key], saved.get(key)):
            opt = "--" + key
            raise FGVCError(
                f"{opt} {_show(asked[key])}: --resume {checkpoint} continues a run trained with {opt} "
                f"{_show(saved.get(key))}; a resume cannot change it (start a new run, e.g. with --pretrained {checkpoint})"
            )


def asked_of(cfg) -> dict:
    """The fixed settings of a TrainConfig given to ``fit`` that differ from the defaults (those the
    caller chose; a default cannot be told from a setting left out)."""
    defaults = {f.name: (f.default_factory() if callable(f.default_factory) else f.default) for f in fields(cfg)}
    return {k: getattr(cfg, k) for k in FIXED_ON_RESUME if getattr(cfg, k) != defaults[k]}
