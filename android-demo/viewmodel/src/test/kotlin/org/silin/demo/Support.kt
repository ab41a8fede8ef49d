package org.silin.demo

import org.junit.jupiter.api.Assertions.assertTrue
import org.silin.Store
import java.nio.file.Path
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CountDownLatch
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference

/** Generous: these waits bound a hang, they time nothing. */
const val WAIT_SECONDS = 120L

const val REGION = "Lucheng/Nanhu/Xincun/Group 3"

/** A 32-byte store key as the app passes it: 64 hex digits. */
fun hexKey(seed: Int): String = (0 until 32).joinToString("") { "%02x".format((it * 7 + seed) and 0xff) }

/** A real store file in [dir], encrypted with a raw key like the app's. */
fun openStore(dir: Path, name: String, seed: Int = 1): Store =
    Store.open(dir.resolve("$name.silin").toString(), hexKey(seed))

fun worker(name: String): ExecutorService =
    Executors.newSingleThreadExecutor { r -> Thread(r, "worker-$name").apply { isDaemon = true } }

fun <T> CompletableFuture<T>.await(): T = get(WAIT_SECONDS, TimeUnit.SECONDS)

/** Waits until the view-model's state satisfies [predicate]; returns that state. */
fun LeadViewModel.awaitState(what: String, predicate: (LeadState) -> Boolean): LeadState {
    val latch = CountDownLatch(1)
    val seen = AtomicReference<LeadState>()
    val handle = state.observe {
        if (predicate(it)) {
            seen.compareAndSet(null, it)
            latch.countDown()
        }
    }
    try {
        assertTrue(latch.await(WAIT_SECONDS, TimeUnit.SECONDS), "state never showed $what; last state: ${state.value}")
    } finally {
        handle.close()
    }
    return seen.get()
}

/** A view-model, its worker and its store, closed together. */
class Phone(dir: Path, name: String, lead: String, seed: Int) : AutoCloseable {
    val store = openStore(dir, name, seed)
    val worker = worker(name)
    val vm = LeadViewModel(store, worker, lead)

    override fun close() {
        vm.close()
        worker.shutdown()
        worker.awaitTermination(WAIT_SECONDS, TimeUnit.SECONDS)
        store.destroy()
    }
}
