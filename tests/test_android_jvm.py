"""Runs the Android app's pure-JVM core tests (android_demo/run_jvm_tests.sh: javac + JUnit 4,
against freshly generated Python vectors) and checks the app's sample benchmark report against
the harness's report schema, so `pytest` covers the Python/phone contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "android_demo" / "run_jvm_tests.sh"
SAMPLE_REPORT = REPO / "android_demo/core/src/test/resources/sample_phone_report.json"
REPORT_SCHEMA = REPO / "benchmarks" / "report.schema.json"


def _junit_missing() -> str | None:
    if shutil.which("javac") is None or shutil.which("java") is None:
        return "javac/java not found: install a JDK 17 to run the Android core's JVM tests"
    if not any(Path(p).is_file() for p in (os.environ.get("JUNIT_JAR", ""), "/usr/share/java/junit4.jar")):
        return "JUnit 4 jar not found (apt-get install -y junit4, or set JUNIT_JAR)"
    return None


@pytest.mark.skipif(_junit_missing() is not None, reason=_junit_missing() or "")
def test_jvm_core_passes_its_junit_tests_against_python_vectors(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, FGVC_JVM_BUILD=str(tmp_path / "jvm-build"))
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"run_jvm_tests.sh failed (exit {proc.returncode}):\n{output[-6000:]}"
    assert "OK (" in proc.stdout and "FAILURES" not in proc.stdout
    # the byte-identity checks really ran against the vectors (not skipped)
    assert "float tensors:" in proc.stdout


def test_sample_phone_report_matches_the_harness_schema():
    jsonschema = pytest.importorskip("jsonschema")
    if not REPORT_SCHEMA.is_file():
        pytest.skip(f"{REPORT_SCHEMA} not present (the benchmark harness owns it)")
    report = json.loads(SAMPLE_REPORT.read_text())
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA.read_text())).validate(report)
    row = report["results"][0]
    assert row["target"] == "android" and row["runtime"] == "litert"
    assert "not a measurement" in report["tool"], "the committed sample must say it is an example"
