// FFI overhead of the commonest write: Store.recordVisit of a health check,
// called from Kotlin through JNA. The Rust-side twin runs the same workload
// on silin-core directly; the difference is what the bindings cost.
//
// Usage: bindings/kotlin/bench [N]   (or SILIN_BENCH_VISITS=N; default 2000;
// SILIN_BENCH_WARMUP sets the warm-up visits, default 200)
// Prints one JSON line: {"visits":N,"ns_per_visit":X,"total_ms":Y}
package org.silin.bench

import org.silin.NewHousehold
import org.silin.NewMember
import org.silin.NewVisit
import org.silin.Store
import org.silin.VisitKind
import java.io.File
import java.nio.file.Files
import java.util.Locale
import kotlin.system.exitProcess

private fun count(value: String?, what: String, default: Int): Int {
    if (value.isNullOrBlank()) return default
    val n = value.trim().toIntOrNull()
    if (n == null || n < 0) {
        System.err.println("$what must be a whole number ≥ 0, not \"$value\"")
        exitProcess(2)
    }
    return n
}

fun main(args: Array<String>) {
    val visits = count(args.getOrNull(0) ?: System.getenv("SILIN_BENCH_VISITS"), "visits", 2000)
    val warmup = count(System.getenv("SILIN_BENCH_WARMUP"), "SILIN_BENCH_WARMUP", 200)
    val dir = Files.createTempDirectory("silin-bench").toFile()
    try {
        val store = Store.open(File(dir, "bench.db").path, null)
        try {
            val cellId = store.createCell("Bench cell", "county/township/village/group", "lead")
            val household = store.addHousehold(cellId, NewHousehold())
            val m = store.addMember(household, NewMember(name = "Member"))

            fun visit() {
                store.recordVisit(cellId, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = 36.6, at = null))
            }

            repeat(warmup) { visit() }
            val start = System.nanoTime()
            repeat(visits) { visit() }
            val elapsed = System.nanoTime() - start

            val nsPerVisit = if (visits == 0) 0.0 else elapsed.toDouble() / visits

            // The same visits as door-knock rounds of 5, one call each.
            fun round() {
                store.recordVisits(cellId, List(5) { NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = 36.6, at = null) })
            }
            repeat(warmup / 5) { round() }
            val roundStart = System.nanoTime()
            repeat(visits / 5) { round() }
            val roundVisits = visits / 5 * 5
            val nsPerRoundVisit = if (roundVisits == 0) 0.0 else (System.nanoTime() - roundStart).toDouble() / roundVisits

            // What a call costs with next to nothing to do on the Rust side:
            // the floor the bindings add to every call.
            repeat(10_000) { store.isClosed() }
            val callStart = System.nanoTime()
            repeat(100_000) { store.isClosed() }
            val nsPerCall = (System.nanoTime() - callStart).toDouble() / 100_000

            println(
                String.format(
                    Locale.ROOT,
                    "{\"visits\":%d,\"ns_per_visit\":%.0f,\"total_ms\":%.1f,\"round_ns_per_visit\":%.0f,\"ns_per_empty_call\":%.0f}",
                    visits, nsPerVisit, elapsed / 1e6, nsPerRoundVisit, nsPerCall,
                ),
            )
        } finally {
            store.closeStore()
            store.destroy()
        }
    } finally {
        dir.deleteRecursively()
    }
}
