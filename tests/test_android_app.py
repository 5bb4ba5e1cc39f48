"""Checks android_demo's Kotlin app as far as a machine without the Android SDK allows, by
running android_demo/check_app.sh: aapt2 links the resources and manifest against the real
framework resources, kotlinc 2.2.21 compiles every app .kt file (warnings are errors) against
compile-only signature stubs, and the app's pure logic runs its JUnit tests on the JVM.
`.ci/run` installs the tools (pinned); without them these tests skip and say which is missing.
Also static guards on what the SDK-less checks cannot see (stubs kept off Gradle, the model-asset
check of the Gradle build)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ANDROID = REPO / "android_demo"
SCRIPT = ANDROID / "check_app.sh"
STUBS = ANDROID / "stubs"
KOTLIN_VERSION = "2.2.21"
FRAMEWORK_RES = Path(os.environ.get("FRAMEWORK_RES", "/usr/share/android-framework-res/framework-res.apk"))


def _kotlinc() -> str | None:
    for candidate in (
        os.environ.get("KOTLINC"),
        str(Path(os.environ.get("FGVC_TOOLS", "/opt/fgvc-tools")) / f"kotlinc-{KOTLIN_VERSION}" / "bin" / "kotlinc"),
        shutil.which("kotlinc"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _tools_missing() -> str | None:
    if shutil.which("javac") is None or shutil.which("java") is None:
        return "javac/java not found: install a JDK 17"
    kotlinc = _kotlinc()
    if kotlinc is None:
        return f"kotlinc {KOTLIN_VERSION} not found (.ci/run installs it from npm kotlin-compiler@{KOTLIN_VERSION}; or set KOTLINC)"
    version = subprocess.run([kotlinc, "-version"], capture_output=True, text=True, timeout=120)
    if f"kotlinc-jvm {KOTLIN_VERSION} " not in version.stdout + version.stderr:
        return f"{kotlinc} is not kotlinc {KOTLIN_VERSION} (set KOTLINC to one)"
    if shutil.which(os.environ.get("AAPT2", "aapt2")) is None:
        return "aapt2 not found (apt-get install -y aapt, as .ci/run does)"
    if not FRAMEWORK_RES.is_file():
        return f"{FRAMEWORK_RES} not found (apt-get install -y android-framework-res, as .ci/run does)"
    if not any(Path(p).is_file() for p in (os.environ.get("JUNIT_JAR", ""), "/usr/share/java/junit4.jar")):
        return "JUnit 4 jar not found (apt-get install -y junit4)"
    return None


MISSING = _tools_missing()
needs_tools = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def check_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("app-check")
    env = dict(os.environ, FGVC_APP_BUILD=str(out))
    if _kotlinc():
        env["KOTLINC"] = _kotlinc()
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    return proc, out


def _kt_files() -> list[Path]:
    return sorted((ANDROID / "app" / "src").rglob("*.kt"))


@needs_tools
def test_resources_and_manifest_link_against_the_framework(check_run):
    proc, out = check_run
    text = proc.stdout + proc.stderr
    assert "linked: app-resources.apk, R.java" in proc.stdout, f"aapt2 link failed:\n{text[-6000:]}"
    r_java = (out / "gen" / "dev" / "fgvcmobile" / "demo" / "R.java").read_text()
    for name in ("activity_main", "root", "preview", "results", "app_name"):
        assert re.search(rf"\b{name}\s*=", r_java), f"R.java lacks {name}"


@needs_tools
def test_every_kotlin_file_compiles_without_warnings(check_run):
    proc, out = check_run
    text = proc.stdout + proc.stderr
    assert f"{len(_kt_files())} app Kotlin files" in proc.stdout, "check_app.sh did not compile every .kt file under app/src"
    assert "compiled:" in proc.stdout, f"kotlinc failed:\n{text[-8000:]}"
    log = (out / "kotlinc.log").read_text()
    assert "warning:" not in log and "error:" not in log, log


@needs_tools
def test_app_logic_passes_its_jvm_tests(check_run):
    proc, _ = check_run
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"check_app.sh failed (exit {proc.returncode}):\n{text[-8000:]}"
    m = re.search(r"OK \((\d+) tests\)", proc.stdout)
    assert m and int(m.group(1)) >= 20, f"app JVM tests did not all run:\n{text[-4000:]}"


def test_stubs_declare_signatures_only_and_stay_off_the_gradle_build():
    files = [p for p in STUBS.rglob("*") if p.is_file() and p.name != "README.md"]
    assert files, "no stubs"
    for p in files:
        assert p.suffix in (".java", ".kt"), p
        assert "Compile-only signature stub" in p.read_text().splitlines()[0], f"{p} lacks the stub header"
    gradle_files = list(ANDROID.rglob("*.gradle.kts")) + [ANDROID / "gradle.properties", ANDROID / "gradle" / "libs.versions.toml"]
    for g in gradle_files:
        assert "stubs" not in g.read_text(), f"{g} mentions the stubs: they must never be on the Gradle classpath"
    # the app's own sources never import a stub-only helper
    for kt in _kt_files():
        assert "compile-only" not in kt.read_text(), kt


def test_gradle_build_stops_with_the_export_command_when_no_model_is_in_the_assets():
    build = (ANDROID / "app" / "build.gradle.kts").read_text()
    assert "checkModelAssets" in build
    m = re.search(r'GradleException\(\s*"([^"]*)"', build)
    assert m, "the model check must fail with a GradleException"
    assert "fgvc-mobile export" in m.group(1) and "--android-assets android_demo/app/src/main/assets" in m.group(1)
    assert 'manifest.json' in build


def test_robustness_rules_of_the_activity_hold():
    """Source-level guards for what only a phone could show: every inference-thread task goes
    through the catch-all, NNAPI is gone, decoding is subsampled, repeated intents are handled."""
    activity = (ANDROID / "app/src/main/java/dev/fgvcmobile/demo/MainActivity.kt").read_text()
    assert activity.count("inference.execute") == 1, "inference tasks must all go through onInference (its catch-all)"
    assert "catch (t: Throwable)" in activity
    assert "override fun onNewIntent(intent: Intent)" in activity
    assert "setTargetSampleSize(DecodeSize.sampleSize(" in activity
    assert "setOnApplyWindowInsetsListener" in activity
    assert "toBitmap()" not in activity, "camera frames go through FrameConverter's reused buffer, not a Bitmap per frame"
    manifest = (ANDROID / "app/src/main/AndroidManifest.xml").read_text()
    assert 'android:launchMode="singleTop"' in manifest
    for kt in _kt_files():
        assert "org.tensorflow.lite.nnapi" not in kt.read_text(), f"{kt}: NNAPI is deprecated and not offered"


def test_the_checked_kotlin_version_is_the_builds():
    """kotlinc of the CI check, of .ci/run's pinned install and of the Gradle build are one version."""
    toml = (ANDROID / "gradle" / "libs.versions.toml").read_text()
    assert re.search(rf'^kotlin = "{re.escape(KOTLIN_VERSION)}"$', toml, re.M), "libs.versions.toml's kotlin differs from the checked one"
    assert f"KOTLIN_VERSION={KOTLIN_VERSION}" in SCRIPT.read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert f"KOTLIN_VERSION={KOTLIN_VERSION}" in ci and re.search(r"^KOTLIN_TGZ_SHA256=[0-9a-f]{64}$", ci, re.M)
    for pkg in ("junit4=", "aapt=", "android-framework-res="):
        assert pkg in ci, f".ci/run must install {pkg} with a pinned version"
