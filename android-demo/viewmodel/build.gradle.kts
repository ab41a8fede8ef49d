// The view-model layer as a plain Kotlin/JVM module. The same sources build
// with Maven (pom.xml beside this file; android-demo/test runs its tests).
//
// The generated silin bindings (bindings/generate writes them to
// target/bindings/kotlin/src, build output never committed) are compiled
// here, once, so both this module's code and the app see org.silin.*.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    kotlin("jvm")
}

val silinBindings = file("../../target/bindings/kotlin")

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
    sourceSets["main"].kotlin.srcDir(silinBindings.resolve("src"))
    // The hand-written part of the Kotlin package (Flows, sync status,
    // background-sync policy), compiled with the generated code.
    sourceSets["main"].kotlin.srcDir(file("../../bindings/kotlin/src/main/kotlin"))
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    // The bindings call JNA. The app brings JNA's Android AAR (with its
    // native dispatch library); a JNA jar here would clash with it, so JNA
    // is only compiled against here, and the jar is used for JVM tests.
    compileOnly("net.java.dev.jna:jna:5.19.1")
    // The bindings' suspend funs (syncWithHubAsync, …) run on coroutines.
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.0")

    testImplementation("net.java.dev.jna:jna:5.19.1")
    testImplementation(platform("org.junit:junit-bom:5.14.4"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

tasks.test {
    useJUnitPlatform()
    // The host build of libsilin_ffi that bindings/generate places there.
    systemProperty("jna.library.path", silinBindings.resolve("jni").path)
}
