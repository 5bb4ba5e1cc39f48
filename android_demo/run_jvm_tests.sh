#!/usr/bin/env bash
# Compile and unit-test android_demo's pure-JVM core with plain javac + Debian's JUnit 4:
# no Gradle, no Android SDK, no network. Also regenerates the Python test vectors the tests
# compare against. Exits non-zero on any compile error or test failure.
#
#   PYTHON=/work/main/.venv/bin/python android_demo/run_jvm_tests.sh
#
# Env: PYTHON (default python3; must import fgvc_mobile), JUNIT_JAR, HAMCREST_JAR (defaults:
# Debian's /usr/share/java/junit4.jar and hamcrest-core.jar), FGVC_JVM_BUILD (output folder,
# default android_demo/jvm-build, gitignored).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="${FGVC_JVM_BUILD:-$HERE/jvm-build}"
PYTHON="${PYTHON:-python3}"

die() { echo "run_jvm_tests.sh: $*" >&2; exit 2; }

command -v javac >/dev/null || die "javac not found (install a JDK 17, e.g. apt-get install -y openjdk-17-jdk-headless)"
command -v java >/dev/null || die "java not found"

first_jar() { for j in "$@"; do [ -f "$j" ] && { echo "$j"; return 0; }; done; return 1; }
JUNIT_JAR="${JUNIT_JAR:-$(first_jar /usr/share/java/junit4.jar /usr/share/java/junit4-*.jar || true)}"
HAMCREST_JAR="${HAMCREST_JAR:-$(first_jar /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar /usr/share/java/hamcrest-all.jar || true)}"
[ -n "$JUNIT_JAR" ] && [ -f "$JUNIT_JAR" ] || die "JUnit 4 jar not found (apt-get install -y junit4, or set JUNIT_JAR)"
[ -n "$HAMCREST_JAR" ] && [ -f "$HAMCREST_JAR" ] || die "hamcrest jar not found (apt-get install -y junit4, or set HAMCREST_JAR)"

CORE="$HERE/core/src"
rm -rf "$OUT/classes" "$OUT/test-classes" "$OUT/vectors"
mkdir -p "$OUT/classes" "$OUT/test-classes"

echo "== compiling core (javac --release 11, warnings are errors)"
# --release 11: the same language level the Gradle build uses, so Android's D8 accepts the classes
find "$CORE/main/java" -name '*.java' | sort > "$OUT/main-sources.txt"
javac --release 11 -Xlint:all -Werror -encoding UTF-8 -d "$OUT/classes" @"$OUT/main-sources.txt"

echo "== compiling tests"
find "$CORE/test/java" -name '*.java' | sort > "$OUT/test-sources.txt"
javac --release 11 -encoding UTF-8 -d "$OUT/test-classes" -cp "$OUT/classes:$JUNIT_JAR" @"$OUT/test-sources.txt"

echo "== generating Python test vectors with $PYTHON"
(cd "$REPO" && "$PYTHON" -m fgvc_mobile.export.android_vectors "$OUT/vectors") >/dev/null

TESTS=$(cd "$CORE/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
echo "== running JUnit: $(echo $TESTS | wc -w) test classes"
java -Dfgvc.vectors.dir="$OUT/vectors" -Dfile.encoding=UTF-8 \
    -cp "$OUT/classes:$OUT/test-classes:$CORE/test/resources:$JUNIT_JAR:$HAMCREST_JAR" \
    org.junit.runner.JUnitCore $TESTS
