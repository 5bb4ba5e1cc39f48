"""The Python side of the Android test vectors: it must be the project's real preprocessing,
valid manifests, and the harness's latency definition; the JVM tests then compare against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fgvc_mobile.data.images import load_rgb
from fgvc_mobile.data.transforms import build_transform, geometric_eval
from fgvc_mobile.export import android_vectors as av


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    out = tmp_path_factory.mktemp("android_vectors")
    index = json.loads(av.write_vectors(out).read_text())
    return out, index


def test_manifests_are_valid_schema_v1(vectors):
    jsonschema = pytest.importorskip("jsonschema")
    out, index = vectors
    schema = json.loads((Path(av.__file__).with_name("manifest.schema.json")).read_text())
    manifests = sorted({c["manifest"] for c in index["cases"]})
    assert len(manifests) == len(av.CASES)
    for rel in manifests:
        jsonschema.Draft202012Validator(schema).validate(json.loads((out / rel).read_text()))


def test_tensors_are_the_projects_eval_transform(vectors):
    out, index = vectors
    by_name = {c["tensor"]: c for c in index["cases"]}
    for cfg_name in ("s32r", "s224"):
        cfg = av.CONFIGS[cfg_name]
        image = "photo_300x200.png" if cfg_name == "s224" else "wide_50x37.png"
        img = load_rgb(out / "images" / image)
        u8 = np.frombuffer((out / f"tensors/{image}__{cfg_name}__u8_nhwc.bin").read_bytes(), np.uint8)
        assert np.array_equal(u8, np.asarray(geometric_eval(cfg)(img)).reshape(-1))
        f32 = np.frombuffer((out / f"tensors/{image}__{cfg_name}__f32_nchw.bin").read_bytes(), "<f4")
        assert np.array_equal(f32, build_transform(cfg, train=False)(img).numpy().reshape(-1))
        assert by_name[f"tensors/{image}__{cfg_name}__f32_nchw.bin"]["shape"] == [1, 3, cfg.input_size, cfg.input_size]


def test_top_k_breaks_ties_by_lower_index_and_softmax_sums_to_one():
    assert av.top_k(np.array([1.0, 3.0, 3.0, 2.0]), 3) == [1, 2, 3]
    p = av.output_contract({"kind": "logits", "quantization": None}).probabilities(np.array([1.0, 2.0, 3.0]))
    assert p.sum() == pytest.approx(1.0) and p.argmax() == 2
    probs = av.output_contract({"kind": "probabilities", "quantization": None})
    assert probs.probabilities(np.array([0.2, 0.8])).tolist() == [0.2, 0.8]


def test_outputs_exercise_ties_and_every_dtype(vectors):
    _, index = vectors
    assert {o["dtype"] for o in index["outputs"]} == {"float32", "int8", "uint8"}
    i8 = next(o for o in index["outputs"] if o["dtype"] == "int8")
    deq = i8["dequantized"]
    assert len({deq[i] for i in i8["top5"]}) < 5, "the int8 case must contain a tie inside the top-5"


def test_latency_summary_is_the_harness_definition(vectors):
    stats = pytest.importorskip("fgvc_mobile.benchmarks.stats")
    _, index = vectors
    lat = index["latency"]
    assert lat["expected"] == pytest.approx(stats.summarize(lat["samples_ms"]), rel=0, abs=1e-12)


def test_resize_vectors_cover_both_pass_orders():
    def vertical_first(wi, hi, wo, ho):
        return ho < hi and (hi - ho) > 2 * (wi - wo)

    orders = {vertical_first(*r[:4]) for r in av.RESIZES if r[4] != "nearest" and r[0] != r[2] and r[1] != r[3]}
    assert orders == {True, False}


def test_cli_writes_the_index(tmp_path, capsys):
    assert av.main([str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "index.json").is_file()
    assert capsys.readouterr().out.strip().endswith("index.json")
