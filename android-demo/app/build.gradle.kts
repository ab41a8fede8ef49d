// The thin Android layer: Activities over :viewmodel's LeadViewModel.
//
// Needs, before a build (see ../README.md):
//  * the generated Kotlin bindings in ../target/bindings/kotlin/src
//    (bindings/generate). They are compiled by :viewmodel, which this app
//    depends on, not a second time here: the classes would be duplicated.
//  * libsilin_ffi.so per ABI in app/src/main/jniLibs/<abi>/ (cargo-ndk).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    kotlin("android")
}

android {
    namespace = "org.silin.demo.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.silin.demo"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            // The ABIs cargo-ndk builds libsilin_ffi.so for (README.md).
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets["main"].apply {
        // Where `cargo ndk -o app/src/main/jniLibs` writes libsilin_ffi.so
        // (the default folder, named here so it is easy to find).
        jniLibs.srcDir("src/main/jniLibs")
    }

    buildTypes {
        release {
            // JNA finds native methods by reflection: keep it simple, no
            // shrinking. proguard-rules.pro has the keep rules if enabled.
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    packaging {
        // Extract the .so files on install so JNA's dlopen finds them by name.
        jniLibs.useLegacyPackaging = true
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    implementation(project(":viewmodel"))
    // JNA for Android: the AAR carries libjnidispatch.so for each ABI.
    implementation("net.java.dev.jna:jna:5.19.1@aar")
    // SilinSyncWorker: background sync on WorkManager (CoroutineWorker).
    implementation("androidx.work:work-runtime-ktx:2.9.1")
}
