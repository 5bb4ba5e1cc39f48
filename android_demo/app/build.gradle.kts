plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.fgvcmobile.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.fgvcmobile.demo"
        // 28: ImageDecoder, which applies EXIF orientation like Python's load_rgb does
        minSdk = 28
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
    }

    buildFeatures {
        buildConfig = true
    }

    androidResources {
        // the interpreter memory-maps the model straight from the APK: it must stay uncompressed
        noCompress += "tflite"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))

    implementation(libs.litert.runtime)
    implementation(libs.litert.gpu.delegate)
    implementation(libs.litert.gpu.api)

    implementation(libs.androidx.camera.core)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)
    implementation(libs.androidx.activity.ktx)
    implementation(libs.androidx.core.ktx)

    testImplementation(libs.junit) // app/src/test: the app's pure logic (also run on CI by check_app.sh)

    androidTestImplementation(libs.androidx.test.ext.junit)
    androidTestImplementation(libs.androidx.test.runner)
}

// The model is not in the repository (app/src/main/assets is git-ignored): without it the APK
// would build and then only say "no model" on the phone. Stop the build instead, with the command
// that puts it there. Only tasks that package assets depend on this; unit tests do not.
val checkModelAssets by tasks.registering {
    description = "Fails when app/src/main/assets has no manifest.json (run fgvc-mobile export --android-assets first)."
    val manifest = layout.projectDirectory.file("src/main/assets/manifest.json").asFile
    doLast {
        if (!manifest.isFile) {
            throw GradleException(
                "No model in app/src/main/assets: run `fgvc-mobile export --checkpoint CKPT --format tflite --android-assets android_demo/app/src/main/assets` first (android_demo/README.md)"
            )
        }
    }
}
tasks.matching { it.name.startsWith("merge") && it.name.endsWith("Assets") }.configureEach {
    dependsOn(checkModelAssets)
}
