// Versions for the whole demo. Kotlin and JNA match bindings/kotlin's pom
// (Kotlin 2.4.21, JNA 5.19.1).
plugins {
    id("com.android.application") version "8.7.3" apply false
    kotlin("android") version "2.4.21" apply false
    kotlin("jvm") version "2.4.21" apply false
}
