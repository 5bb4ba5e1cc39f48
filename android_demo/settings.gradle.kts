// fgvc-mobile Android sample: the app and the pure-JVM core it shares with the project's CI.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google() // LiteRT, CameraX and AndroidX live on Google's Maven only
        mavenCentral()
    }
}

rootProject.name = "fgvc-mobile-android"
include(":app", ":core")
