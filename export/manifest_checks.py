"""Does a manifest tell the truth? Checks beyond the JSON schema.

The schema says each field has the right type; these checks say the fields agree with each other
(input shape vs layout and input size, output width vs labels) and with the model file itself
(its real input dtype and shape, its real number of outputs). A manifest that lies would
otherwise feed a model the wrong bytes, print the wrong class names, or make a runtime fail with
a traceback; with these checks it is refused in one line naming the field.
"""

from __future__ import annotations

from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import preprocess_of


def manifest_problem(m: dict) -> str | None:
    """The first way a schema-valid manifest contradicts itself, or None."""
    try:
        pre = preprocess_of(m)
    except FGVCError as e:
        return str(e)
    inp, out, labels = m["input"], m["output"], m["labels"]
    s = pre.input_size
    want = [s, s, 3] if inp["layout"] == "NHWC" else [3, s, s]
    if list(inp["shape"][1:]) != want:
        return (f"input.shape {inp['shape']} does not fit layout {inp['layout']} with preprocess.input_size {s} "
                f"(expected [N, {', '.join(map(str, want))}])")
    if inp["shape"][0] < -1:
        return f"input.shape {inp['shape']}: the batch size must be >= 1 (or -1/0 for any)"
    if inp["dtype"] in ("uint8", "int8") and not inp["normalization_in_graph"] and not inp.get("quantization"):
        return (f"input dtype {inp['dtype']} without quantization cannot carry normalised values "
                "(normalization_in_graph is false)")
    if out["shape"][-1] != len(labels):
        return f"output.shape {out['shape']} gives {out['shape'][-1]} classes but labels lists {len(labels)}"
    bad = next((lab for lab in labels if "\n" in lab or "\r" in lab or "\0" in lab), None)
    if bad is not None:
        return f"label {bad[:40]!r} contains a line break or NUL (labels.txt holds one label per line)"
    return None


def check_manifest(m: dict, where: str) -> dict:
    """Raise a one-line FGVCError for a self-contradicting (schema-valid) manifest."""
    problem = manifest_problem(m)
    if problem:
        raise FGVCError(f"{where}: {problem}")
    return m


def io_problem(m: dict, model_input: dict, model_output: dict) -> str | None:
    """The first disagreement between the manifest and the model's own input/output description.

    ``model_input`` / ``model_output`` hold ``dtype`` and ``shape`` as read from the model file
    (dynamic dimensions are <= 0 or not integers and match anything).
    """
    inp = m["input"]
    if model_input.get("dtype") and model_input["dtype"] != inp["dtype"]:
        return f"the manifest says input dtype {inp['dtype']}, the model takes {model_input['dtype']}"
    real = list(model_input.get("shape") or [])
    if real and (len(real) != len(inp["shape"]) or any(
            isinstance(r, int) and r > 0 and r != s for r, s in list(zip(real, inp["shape"]))[1:])):
        return f"the manifest says input shape {inp['shape']}, the model takes {real}"
    out = list(model_output.get("shape") or [])
    n = len(m["labels"])
    if out and isinstance(out[-1], int) and out[-1] > 0 and out[-1] != n:
        return f"the manifest lists {n} labels, the model has {out[-1]} outputs"
    return None
