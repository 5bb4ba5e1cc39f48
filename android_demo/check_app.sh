#!/usr/bin/env bash
# Check android_demo's app (app/) as far as a machine without the Android SDK allows:
#   1. link resources + manifest with aapt2 against the real framework resources (Debian's
#      android-framework-res, API 29); this also generates the app's R.java
#   2. compile every Kotlin file of the app (main, test, androidTest) with kotlinc 2.2.21,
#      warnings as errors, against the core, the generated R/BuildConfig and compile-only
#      signature stubs (stubs/, see stubs/README.md)
#   3. run the app's JVM unit tests (app/src/test: benchmark-intent parsing, texts, report
#      files, frame conversion, decode sizing) with JUnit 4
# Exits non-zero on the first failure. What it cannot check (the Gradle build, dexing, the
# real AndroidX/LiteRT/CameraX jars, instrumented tests) needs the Android SDK: README.md.
#
#   android_demo/check_app.sh
#
# Env: KOTLINC (default: kotlinc 2.2.21 from $FGVC_TOOLS/kotlinc-2.2.21, FGVC_TOOLS default
# /opt/fgvc-tools, else `kotlinc` on PATH), AAPT2 (default aapt2 on PATH, Debian's `aapt`),
# FRAMEWORK_RES (default /usr/share/android-framework-res/framework-res.apk), JUNIT_JAR,
# HAMCREST_JAR (Debian's junit4), FGVC_APP_BUILD (output, default android_demo/jvm-build/app).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${FGVC_APP_BUILD:-$HERE/jvm-build/app}"
KOTLIN_VERSION=2.2.21

die() { echo "check_app.sh: $*" >&2; exit 2; }
first() { for f in "$@"; do [ -n "$f" ] && [ -e "$f" ] && { echo "$f"; return 0; }; done; return 1; }

command -v javac >/dev/null && command -v java >/dev/null || die "javac/java not found (JDK 17 needed)"
KOTLINC="${KOTLINC:-$(first "${FGVC_TOOLS:-/opt/fgvc-tools}/kotlinc-$KOTLIN_VERSION/bin/kotlinc" "$(command -v kotlinc || true)" || true)}"
[ -n "$KOTLINC" ] || die "kotlinc $KOTLIN_VERSION not found (.ci/run installs it; or set KOTLINC)"
"$KOTLINC" -version 2>&1 | grep -q "kotlinc-jvm $KOTLIN_VERSION " || die "$KOTLINC is not kotlinc $KOTLIN_VERSION: $("$KOTLINC" -version 2>&1 | tail -1)"
KOTLIN_HOME="$(cd "$(dirname "$KOTLINC")/.." && pwd)"
STDLIB="$KOTLIN_HOME/lib/kotlin-stdlib.jar"
[ -f "$STDLIB" ] || die "$STDLIB not found"
AAPT2="${AAPT2:-$(command -v aapt2 || true)}"
[ -n "$AAPT2" ] || die "aapt2 not found (apt-get install -y aapt, or set AAPT2)"
FRAMEWORK_RES="${FRAMEWORK_RES:-/usr/share/android-framework-res/framework-res.apk}"
[ -f "$FRAMEWORK_RES" ] || die "$FRAMEWORK_RES not found (apt-get install -y android-framework-res)"
JUNIT_JAR="${JUNIT_JAR:-$(first /usr/share/java/junit4.jar || true)}"
HAMCREST_JAR="${HAMCREST_JAR:-$(first /usr/share/java/hamcrest-core.jar /usr/share/java/hamcrest.jar || true)}"
[ -n "$JUNIT_JAR" ] && [ -n "$HAMCREST_JAR" ] || die "JUnit 4 / hamcrest jars not found (apt-get install -y junit4)"

APP="$HERE/app"
rm -rf "$OUT"
mkdir -p "$OUT/core-classes" "$OUT/gen" "$OUT/classes"

# What AGP would take from app/build.gradle.kts and gradle/libs.versions.toml
gradle_value() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" "$2" | head -1; }
NAMESPACE=$(gradle_value namespace "$APP/build.gradle.kts")
MIN_SDK=$(gradle_value minSdk "$APP/build.gradle.kts")
TARGET_SDK=$(gradle_value targetSdk "$APP/build.gradle.kts")
VERSION_CODE=$(gradle_value versionCode "$APP/build.gradle.kts")
VERSION_NAME=$(gradle_value versionName "$APP/build.gradle.kts")
LITERT_VERSION=$(gradle_value litert "$HERE/gradle/libs.versions.toml")
for v in NAMESPACE MIN_SDK TARGET_SDK VERSION_CODE VERSION_NAME LITERT_VERSION; do
    [ -n "${!v}" ] || die "could not read $v from app/build.gradle.kts / gradle/libs.versions.toml"
done

echo "== aapt2: compiling app/src/main/res and linking the manifest against $(basename "$FRAMEWORK_RES")"
# AGP injects the namespace as the manifest's package; do the same on a copy. Debian's aapt2
# (Android 10) predates <uses-native-library> (API 31), so the copy drops those one-line
# elements; everything else in the manifest is linked as written.
sed -e "s|<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\"|& package=\"$NAMESPACE\"|" \
    -e '/^[[:space:]]*<uses-native-library android:name="[^"]*" android:required="\(true\|false\)" \/>[[:space:]]*$/d' \
    "$APP/src/main/AndroidManifest.xml" > "$OUT/AndroidManifest.xml"
grep -q "package=\"$NAMESPACE\"" "$OUT/AndroidManifest.xml" || die "could not set the package on the manifest"
"$AAPT2" compile --dir "$APP/src/main/res" -o "$OUT/res.zip"
"$AAPT2" link -I "$FRAMEWORK_RES" --manifest "$OUT/AndroidManifest.xml" -R "$OUT/res.zip" \
    --min-sdk-version "$MIN_SDK" --target-sdk-version "$TARGET_SDK" \
    --version-code "$VERSION_CODE" --version-name "$VERSION_NAME" \
    --auto-add-overlay --java "$OUT/gen" -o "$OUT/app-resources.apk"
[ -f "$OUT/gen/${NAMESPACE//.//}/R.java" ] || die "aapt2 wrote no R.java"
echo "linked: app-resources.apk, R.java"

cat > "$OUT/gen/BuildConfig.java" <<JAVA
// What AGP generates for buildConfig = true (app/build.gradle.kts), for the compile check only.
package $NAMESPACE;

public final class BuildConfig {
    public static final boolean DEBUG = true;
    public static final String APPLICATION_ID = "$NAMESPACE";
    public static final String BUILD_TYPE = "debug";
    public static final int VERSION_CODE = $VERSION_CODE;
    public static final String VERSION_NAME = "$VERSION_NAME";
    public static final String LITERT_VERSION = "$LITERT_VERSION";
}
JAVA

echo "== javac: core"
find "$HERE/core/src/main/java" -name '*.java' | sort > "$OUT/core-sources.txt"
javac --release 11 -encoding UTF-8 -nowarn -d "$OUT/core-classes" @"$OUT/core-sources.txt"

KT_FILES=$(find "$APP/src" -name '*.kt' | sort)
echo "== kotlinc $KOTLIN_VERSION: $(echo "$KT_FILES" | wc -l) app Kotlin files (main, test, androidTest), warnings are errors"
# Stub Java sources are only read by kotlinc, never compiled; the Kotlin stubs are compiled
# with the app but kept off the JVM tests' classpath below.
"$KOTLINC" -Werror -Wextra -jvm-target 17 -no-reflect -Xjdk-release=17 \
    -cp "$OUT/core-classes:$JUNIT_JAR:$HAMCREST_JAR" -d "$OUT/classes" \
    $KT_FILES "$HERE/stubs/kotlin" "$HERE/stubs/java" "$OUT/gen" > "$OUT/kotlinc.log" 2>&1 && rc=0 || rc=$?
cat "$OUT/kotlinc.log"
[ "$rc" -eq 0 ] || die "kotlinc failed (exit $rc)"
echo "compiled: $(find "$OUT/classes/${NAMESPACE//.//}" -name '*.class' | wc -l) app classes"

TESTS=$(cd "$APP/src/test/java" && find . -name '*Test.kt' | sed 's|^\./||; s|\.kt$||; s|/|.|g' | sort)
echo "== JUnit: $(echo $TESTS | wc -w) app test classes on the JVM (no Android classes on the classpath)"
# only the app's own classes: the stubs compiled alongside stay off the test classpath, so a
# tested class that touched Android would fail here with NoClassDefFoundError
mkdir -p "$OUT/app-only"
cp -r "$OUT/classes/${NAMESPACE%%.*}" "$OUT/app-only/"
java -Dfile.encoding=UTF-8 -cp "$OUT/app-only:$OUT/core-classes:$STDLIB:$JUNIT_JAR:$HAMCREST_JAR" \
    org.junit.runner.JUnitCore $TESTS
