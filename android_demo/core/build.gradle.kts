// The pure-JVM core: no Android imports, so the project's CI compiles and tests the same
// sources with plain javac + JUnit (run_jvm_tests.sh); here Gradle builds them for the app.
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    // Java 11 API and bytecode: what run_jvm_tests.sh compiles with, and safe for D8.
    // (Core code must not call ByteBuffer.flip/rewind/position: their JDK 9+ covariant
    // return types do not exist on older Android runtimes.)
    options.release.set(11)
    options.encoding = "UTF-8"
}

dependencies {
    testImplementation(libs.junit)
}

// The JUnit tests compare against vectors written by Python (fgvc_mobile.export.android_vectors),
// so the test task needs a Python that can import fgvc_mobile (the project's venv).
val vectorsDir = layout.buildDirectory.dir("test-vectors")
val python: String = providers.gradleProperty("fgvc.python")
    .orElse(providers.environmentVariable("PYTHON"))
    .orElse("python3")
    .get()

val generateTestVectors by tasks.registering(Exec::class) {
    description = "Writes the Python reference vectors the core's tests compare against."
    workingDir = rootDir.parentFile // the repository root
    commandLine(python, "-m", "fgvc_mobile.export.android_vectors", vectorsDir.get().asFile.absolutePath)
    outputs.dir(vectorsDir)
    outputs.upToDateWhen { false }
}

tasks.named<Test>("test") {
    dependsOn(generateTestVectors)
    systemProperty("fgvc.vectors.dir", vectorsDir.get().asFile.absolutePath)
}
