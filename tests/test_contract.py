"""The artifact contract: prepare and decode against values computed by hand, the training eval
transform bit for bit, reconciliation with the model, and one place that builds a LiteRT interpreter."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench_helpers import PRE
from fgvc_mobile.data.preprocess import PreprocessConfig
from fgvc_mobile.data.transforms import build_transform, geometric_eval
from fgvc_mobile.errors import FGVCError
from fgvc_mobile.export.contract import Contract, Quant, quantize

ROOT = Path(__file__).resolve().parents[1]
#: a 2x2 configuration whose mean/std make the normalised values easy to compute by hand
TINY = PreprocessConfig(input_size=2, resize=(2, 2), mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
#: pixels 0, 255, 51 (= 0.2 after /255) and 255 again, in NHWC order
PIXELS = np.array([[[[0, 0, 0], [255, 255, 255]], [[51, 51, 51], [255, 0, 51]]]], dtype=np.uint8)


def test_float_nchw_with_mean_std_by_hand():
    x = Contract("NCHW", "float32", False, TINY).prepare(PIXELS)
    assert x.dtype == np.float32 and x.shape == (1, 3, 2, 2)
    # (p/255 - 0.5) / std per channel: 0 -> -0.5/std, 255 -> 0.5/std, 51 -> -0.3/std
    want = np.array([[[-2.0, 2.0], [-1.2, 2.0]],    # std 0.25
                     [[-1.0, 1.0], [-0.6, -1.0]],   # std 0.5
                     [[-0.5, 0.5], [-0.3, -0.3]]])  # std 1.0
    np.testing.assert_allclose(x[0], want, rtol=0, atol=1e-6)


def test_int8_nhwc_with_scale_and_zero_point_by_hand():
    x = Contract("NHWC", "int8", False, TINY, Quant(0.5, -3)).prepare(PIXELS)
    assert x.dtype == np.int8 and x.shape == (1, 2, 2, 3)
    # rint(normalised / 0.5) - 3; 51 on channel 0: -1.2 / 0.5 = -2.4 -> -2 -> -5
    want = [[[-7, -5, -4], [1, -1, -2]], [[-5, -4, -4], [1, -5, -4]]]
    assert x[0].tolist() == want
    clamped = Contract("NHWC", "int8", False, TINY, Quant(0.01, 0)).prepare(PIXELS)
    assert clamped[0, 0, 1].tolist() == [127, 100, 50] and clamped[0, 0, 0].tolist() == [-128, -100, -50]


def test_raw_pixel_inputs():
    assert np.array_equal(Contract("NHWC", "uint8", True, TINY).prepare(PIXELS), PIXELS)
    i8 = Contract("NCHW", "int8", True, TINY, Quant(1.0, -128)).prepare(PIXELS)  # raw value - 128
    assert i8.dtype == np.int8 and i8[0, :, 0, 0].tolist() == [-128] * 3 and i8[0, :, 1, 1].tolist() == [127, -128, -77]
    raw_float = Contract("NHWC", "float32", True, TINY).prepare(PIXELS)
    assert raw_float.dtype == np.float32 and np.array_equal(raw_float, PIXELS.astype(np.float32))


def test_quantize_rounds_half_to_even_and_clamps():
    q = quantize(np.array([0.25, 0.75, -0.25, 100.0, -100.0], np.float32), Quant(0.5, -3), "int8")
    assert q.tolist() == [-3, -1, -3, 127, -128]
    assert quantize(np.array([-1.0, 255.0, 256.0]), Quant(1.0, 0), "uint8").tolist() == [0, 255, 255]


def test_decode_by_hand():
    logits = Contract("NCHW", "float32", False, TINY, output_quant=Quant(0.25, -10))
    np.testing.assert_array_equal(logits.decode(np.array([[-10, -6, 2]], np.int8)), [[0.0, 1.0, 3.0]])
    np.testing.assert_allclose(logits.probabilities(np.array([[0.0, np.log(3.0)]], np.float32)), [[0.25, 0.75]])
    probs = Contract("NHWC", "uint8", True, TINY, output_kind="probabilities", output_quant=Quant(1 / 256, 0))
    got = probs.decode(np.array([[[[0, 128, 255]]]], np.uint8))  # a runtime's (N, 1, 1, C) shape
    np.testing.assert_array_equal(got, [[0.0, 0.5, 0.99609375]])
    np.testing.assert_array_equal(probs.probabilities(np.array([[0, 128, 255]], np.uint8)), got)  # no softmax
    # without params an integer output is only cast: the ranking survives
    assert Contract("NHWC", "uint8", True, TINY).decode(np.array([[3, 9]], np.uint8)).tolist() == [[3.0, 9.0]]


def test_decode_is_what_the_app_computes():
    """(q - zero_point) * float32(scale) in float64, exactly (the Android OutputDecoder's rule)."""
    c = Contract("NHWC", "uint8", True, TINY, output_quant=Quant(0.1173, 5))
    got = c.decode(np.array([[90, -128, 127]], np.int8))
    assert got.dtype == np.float64
    assert got.tolist() == [[85 * float(np.float32(0.1173)), -133 * float(np.float32(0.1173)),
                             122 * float(np.float32(0.1173))]]


def test_from_manifest_and_with_model():
    m = {"input": {"layout": "NHWC", "dtype": "int8", "normalization_in_graph": False,
                   "quantization": {"scale": 0.5, "zero_point": -3}},
         "output": {"kind": "probabilities", "quantization": None}, "preprocess": {**TINY.to_dict(), "unknown": 1}}
    c = Contract.from_manifest(m)
    assert c == Contract("NHWC", "int8", False, TINY, Quant(0.5, -3), "probabilities", None)
    with pytest.raises(FGVCError, match="^m.tflite: the manifest says input dtype int8 but the model takes float32"):
        c.with_model("float32", where="m.tflite")
    model = c.with_model("int8", (0.25, 1), (1 / 256, -128))  # the model's own params win
    assert model.input_quant == Quant(0.25, 1) and model.output_quant == Quant(1 / 256, -128)
    assert c.with_model("int8", (0.0, 0)).input_quant == Quant(0.5, -3)  # scale 0: the model has none
    assert Quant.parse(None) is None and Quant.parse({"scale": 0.1, "zero_point": 5}) == Quant(0.1, 5)


def test_input_errors():
    with pytest.raises(FGVCError, match="int8 input without quantization"):
        Contract("NHWC", "int8", True, TINY).prepare(PIXELS)
    with pytest.raises(FGVCError, match="uint8 input without quantization"):
        Contract("NHWC", "uint8", False, TINY).prepare(PIXELS)
    with pytest.raises(FGVCError, match="^images are 2x2 but the model takes 32$"):
        Contract("NHWC", "uint8", True, PRE).prepare(PIXELS)
    with pytest.raises(FGVCError, match="unsupported input layout 'CHW'"):
        Contract("CHW", "uint8", True, TINY)
    with pytest.raises(ValueError, match="expected uint8"):
        Contract("NHWC", "uint8", True, TINY).prepare(PIXELS.astype(np.float32))


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(np.random.default_rng(1).integers(0, 256, (45, 60, 3), dtype=np.uint8))


def test_float_nchw_is_the_training_eval_transform_bit_for_bit(photo):
    want = build_transform(PRE, train=False)(photo).numpy()[None]
    crop = np.asarray(geometric_eval(PRE)(photo), dtype=np.uint8)[None]
    got = Contract.reference(PRE).prepare(crop)
    assert got.dtype == np.float32 and got.shape == (1, 3, 32, 32)
    assert np.array_equal(got, want)
    nhwc = Contract("NHWC", "float32", False, PRE).prepare(crop)
    assert np.array_equal(nhwc, want.transpose(0, 2, 3, 1))


def test_int8_quantized_input_round_trips_within_half_a_step(photo):
    q = Quant(0.0187, -14)
    crop = np.asarray(geometric_eval(PRE)(photo), dtype=np.uint8)[None]
    got = Contract("NCHW", "int8", False, PRE, q).prepare(crop)
    f = Contract.reference(PRE).prepare(crop)
    back = (got.astype(np.float32) - q.zero_point) * q.scale
    inside = (f > (-128 - q.zero_point) * q.scale) & (f < (127 - q.zero_point) * q.scale)
    assert got.dtype == np.int8 and inside.mean() > 0.99
    assert np.abs(back - f)[inside].max() <= q.scale / 2 + 1e-6


def _interpreter_calls() -> dict[str, int]:
    """Product modules that call ``Interpreter(...)`` (LiteRT's), with the number of calls."""
    found: dict[str, int] = {}
    for folder in ("fgvc_mobile", "export", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    f = node.func
                    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                    if name == "Interpreter":
                        key = str(path.relative_to(ROOT))
                        found[key] = found.get(key, 0) + 1
    return found


def test_the_litert_interpreter_is_built_in_one_place():
    assert _interpreter_calls() == {"export/formats/tflite.py": 1}
    text = [p for f in ("fgvc_mobile", "export", "benchmarks") for p in (ROOT / f).rglob("*.py")
            if "Interpreter(" in p.read_text(encoding="utf-8")]
    assert [str(p.relative_to(ROOT)) for p in text] == ["export/formats/tflite.py"]
