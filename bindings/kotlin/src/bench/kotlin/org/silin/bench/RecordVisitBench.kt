// FFI overhead of the commonest write: Store.recordVisit of a health check,
// called from Kotlin through JNA, by the generated call and by VisitWriter.
// The Rust-side twin runs the same workload on silin-core directly; the
// difference is what the bindings cost.
//
// Usage: bindings/kotlin/bench [N]   (or SILIN_BENCH_VISITS=N; default 2000;
// SILIN_BENCH_WARMUP sets the warm-up visits, default 200)
// Prints one JSON line: {"visits":N,"ns_per_visit":X,"writer_ns_per_visit":Y,…}
package org.silin.bench

import org.silin.NewHousehold
import org.silin.NewMember
import org.silin.NewVisit
import org.silin.Store
import org.silin.VisitKind
import org.silin.VisitWriter
import org.silin.visitWriter
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

/** Per-visit nanoseconds of single visits, then of door-knock rounds of five. */
private class Run(val single: Double, val round: Double)

/**
 * A fresh store with a cell, a household and a member; `warmup` visits
 * untimed, `visits` single visits timed, then the same in rounds of five.
 */
private fun run(
    dir: File,
    name: String,
    visits: Int,
    warmup: Int,
    record: (Store, String, NewVisit) -> Unit,
    round: (Store, String, List<NewVisit>) -> Unit,
    after: (Store) -> Unit = {},
): Run {
    val store = Store.open(File(dir, "$name.db").path, null)
    try {
        val cellId = store.createCell("Bench cell", "county/township/village/group", "lead")
        val household = store.addHousehold(cellId, NewHousehold())
        val m = store.addMember(household, NewMember(name = "Member"))
        fun visit() = NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = 36.6, at = null)

        repeat(warmup) { record(store, cellId, visit()) }
        val start = System.nanoTime()
        repeat(visits) { record(store, cellId, visit()) }
        val single = if (visits == 0) 0.0 else (System.nanoTime() - start).toDouble() / visits

        repeat(warmup / 5) { round(store, cellId, List(5) { visit() }) }
        val roundStart = System.nanoTime()
        repeat(visits / 5) { round(store, cellId, List(5) { visit() }) }
        val roundVisits = visits / 5 * 5
        val perRound = if (roundVisits == 0) 0.0 else (System.nanoTime() - roundStart).toDouble() / roundVisits
        after(store)
        return Run(single, perRound)
    } finally {
        store.closeStore()
        store.destroy()
    }
}

fun main(args: Array<String>) {
    val visits = count(args.getOrNull(0) ?: System.getenv("SILIN_BENCH_VISITS"), "visits", 2000)
    val warmup = count(System.getenv("SILIN_BENCH_WARMUP"), "SILIN_BENCH_WARMUP", 200)
    val dir = Files.createTempDirectory("silin-bench").toFile()
    try {
        // The generated calls, as the bindings give them.
        var nsPerCall = 0.0
        val generated = run(dir, "generated", visits, warmup, { s, c, v -> s.recordVisit(c, v) }, { s, c, vs -> s.recordVisits(c, vs) }) { store ->
            // What a call costs with next to nothing to do on the Rust side:
            // the floor the generated bindings add to every call.
            repeat(10_000) { store.isClosed() }
            val callStart = System.nanoTime()
            repeat(100_000) { store.isClosed() }
            nsPerCall = (System.nanoTime() - callStart).toDouble() / 100_000
        }
        // The same on a fresh store through VisitWriter, one plain call each.
        val writers = HashMap<Store, VisitWriter>()
        val writer = run(
            dir, "writer", visits, warmup,
            { s, c, v -> writers.getOrPut(s) { s.visitWriter() }.recordVisit(c, v) },
            { s, c, vs -> writers.getOrPut(s) { s.visitWriter() }.recordVisits(c, vs) },
        ) { store -> writers.remove(store)?.close() }

        println(
            String.format(
                Locale.ROOT,
                "{\"visits\":%d,\"ns_per_visit\":%.0f,\"round_ns_per_visit\":%.0f,\"writer_ns_per_visit\":%.0f,\"writer_round_ns_per_visit\":%.0f,\"ns_per_empty_call\":%.0f}",
                visits, generated.single, generated.round, writer.single, writer.round, nsPerCall,
            ),
        )
    } finally {
        dir.deleteRecursively()
    }
}
