"""The Android app's Gradle wrapper is Gradle's own, byte for byte, and pins its distribution.

`gradle-wrapper.jar`, `gradlew` and `gradlew.bat` are the files Gradle 8.14.3 generates (taken
from the npm package @react-native-community/template@0.81.5, template/android/, whose jar has
the sha256 Gradle publishes for 8.14.x wrappers at https://gradle.org/release-checksums/).
`distributionSha256Sum` is Gradle's published checksum of gradle-8.14.3-bin.zip
(https://services.gradle.org/distributions/gradle-8.14.3-bin.zip.sha256), so the wrapper
refuses any other download. Updating Gradle means regenerating all of these
(`./gradlew wrapper --gradle-version X --gradle-distribution-sha256-sum ...`) and this file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ANDROID = Path(__file__).resolve().parents[1] / "android_demo"
WRAPPER_DIR = ANDROID / "gradle" / "wrapper"

GRADLE_VERSION = "8.14.3"
# https://gradle.org/release-checksums/ : "Wrapper JAR" for 8.14.x
WRAPPER_JAR_SHA256 = "7d3a4ac4de1c32b59bc6a4eb8ecb8e612ccd0cf1ae1e99f66902da64df296172"
# https://services.gradle.org/distributions/gradle-8.14.3-bin.zip.sha256
DISTRIBUTION_SHA256 = "bd71102213493060956ec229d946beee57158dbd89d0e62b91bca0fa2c5f3531"
# Gradle 8.14.3's generated launch scripts (as `gradle wrapper` writes them)
GRADLEW_SHA256 = "b187b4c52e749f5760afdd6fadc31b2a98ad35fb249bf0dff03b72650f320409"
GRADLEW_BAT_SHA256 = "07a4bb3ec77dcc9f4b486423e6ec45f4d7d9523787b95681726c30dbba3079cd"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _properties() -> dict[str, str]:
    props = {}
    for line in (WRAPPER_DIR / "gradle-wrapper.properties").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip().replace("\\:", ":")
    return props


def test_wrapper_jar_is_gradles_published_one():
    jar = WRAPPER_DIR / "gradle-wrapper.jar"
    assert jar.is_file(), f"{jar} is missing (it must be committed, like in every Gradle project)"
    assert _sha256(jar) == WRAPPER_JAR_SHA256, "gradle-wrapper.jar is not Gradle's 8.14.x wrapper jar"
    with zipfile.ZipFile(jar) as z:
        assert "org/gradle/wrapper/GradleWrapperMain.class" in z.namelist()


def test_launch_scripts_are_gradles_generated_ones():
    assert _sha256(ANDROID / "gradlew") == GRADLEW_SHA256, "gradlew is not Gradle 8.14.3's generated script"
    assert _sha256(ANDROID / "gradlew.bat") == GRADLEW_BAT_SHA256, "gradlew.bat is not Gradle 8.14.3's generated script"
    assert os.access(ANDROID / "gradlew", os.X_OK), "gradlew must be executable"
    mode = subprocess.run(
        ["git", "ls-files", "-s", "gradlew"], cwd=ANDROID, capture_output=True, text=True
    ).stdout.split()
    if mode:  # committed: git must record it executable, or a fresh clone cannot run ./gradlew
        assert mode[0] == "100755", f"git records gradlew as {mode[0]}, not executable"


def test_properties_pin_the_distribution_and_its_checksum():
    props = _properties()
    assert props["distributionUrl"] == f"https://services.gradle.org/distributions/gradle-{GRADLE_VERSION}-bin.zip"
    assert props["distributionSha256Sum"] == DISTRIBUTION_SHA256
    assert props.get("validateDistributionUrl") == "true"


@pytest.mark.skipif(shutil.which("java") is None, reason="java not found: install a JDK 17 to start the wrapper")
def test_wrapper_starts_and_refuses_a_distribution_with_another_checksum(tmp_path):
    """Runs the committed gradlew + jar for real (no network): pointed at a local file that is
    not Gradle's zip, the wrapper must download it and then refuse it on the pinned checksum."""
    fake = tmp_path / f"gradle-{GRADLE_VERSION}-bin.zip"
    fake.write_bytes(b"not gradle")
    (tmp_path / "gradle" / "wrapper").mkdir(parents=True)
    shutil.copy2(ANDROID / "gradlew", tmp_path / "gradlew")
    shutil.copy2(WRAPPER_DIR / "gradle-wrapper.jar", tmp_path / "gradle" / "wrapper")
    text = (WRAPPER_DIR / "gradle-wrapper.properties").read_text()
    lines = [
        f"distributionUrl={fake.as_uri().replace(':', chr(92) + ':', 1)}" if line.startswith("distributionUrl=") else line
        for line in text.splitlines()
    ]
    (tmp_path / "gradle" / "wrapper" / "gradle-wrapper.properties").write_text("\n".join(lines) + "\n")
    env = dict(os.environ, GRADLE_USER_HOME=str(tmp_path / "home"))
    env.pop("GRADLE_OPTS", None)
    env.pop("JAVA_OPTS", None)
    proc = subprocess.run(["sh", "gradlew", "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Verification of Gradle distribution failed" in out, out[-3000:]
    assert f"Expected checksum: '{DISTRIBUTION_SHA256}'" in out, out[-3000:]
