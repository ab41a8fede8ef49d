// The silin Android demo: open this folder (android-demo/) in Android Studio.
// Before building, from the repository root: bindings/generate (the Kotlin
// bindings) and the cargo-ndk commands in README.md (the native libraries).
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
        google()
        mavenCentral()
    }
}

rootProject.name = "silin-android-demo"

// :viewmodel is plain Kotlin (also built and tested by Maven: android-demo/test);
// :app is the thin Android layer over it.
include(":viewmodel", ":app")
