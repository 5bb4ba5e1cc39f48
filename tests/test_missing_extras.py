"""A command that needs a missing optional dependency ends in one line naming the install that fixes it.

The missing module is simulated in a subprocess (``sys.modules[name] = None`` makes every import
of it fail as if it were not installed); nothing is uninstalled.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PRELUDE = """
import sys
sys.modules[{module!r}] = None  # as if not installed: importing it raises ModuleNotFoundError
from fgvc_mobile.cli import main
sys.exit(main({argv!r}))
"""


def _run(module: str, argv: list[str]) -> subprocess.CompletedProcess:
    code = PRELUDE.format(module=module, argv=argv)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def _fake_artifact(tmp_path: Path, name: str) -> Path:
    model = tmp_path / name
    model.write_bytes(b"not a model")
    (tmp_path / f"{name}.manifest.json").write_text(json.dumps({"model_file": name}))
    return model


@pytest.mark.parametrize("module, command", [
    ("flatbuffers", "export"), ("litert_torch", "export"), ("jsonschema", "predict"), ("ai_edge_litert", "predict"),
    ("jsonschema", "bench"),
])
def test_missing_optional_module_is_one_line_naming_the_install(tmp_path, tiny_checkpoints, module, command):
    image = tmp_path / "bird.png"
    image.write_bytes(b"")
    if command == "export":
        argv = ["export", "--checkpoint", str(tiny_checkpoints["baseline"]), "--format", "tflite", "--val-images", "2",
                "--out", str(tmp_path / "d")]
    elif command == "predict":
        argv = ["predict", "--model", str(_fake_artifact(tmp_path, "model_fp32.tflite")), str(image)]
    else:
        report = tmp_path / "phone.json"
        report.write_text(json.dumps({"kind": "fgvc-mobile-bench"}))
        argv = ["bench", "--import", str(report), "--out", str(tmp_path / "r")]
    proc = _run(module, argv)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: fgvc-mobile {command}: needs the optional module {module!r}, not installed "
                     "(pip install 'fgvc-mobile[export]')"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "d").exists() and not (tmp_path / "r").exists()  # nothing half-written


def test_a_missing_core_module_is_not_blamed_on_an_extra(tmp_path):
    """Only known optional modules get the install hint; anything else stays a real error."""
    from fgvc_mobile.extras import missing_message

    assert missing_message("export", ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None
    msg = missing_message("predict", ModuleNotFoundError("x", name="mediapipe.tasks"))
    assert msg == "fgvc-mobile predict: needs the optional module 'mediapipe', not installed " \
                  "(pip install 'fgvc-mobile[mediapipe]')"
