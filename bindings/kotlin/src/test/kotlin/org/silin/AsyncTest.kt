package org.silin

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList

/** The suspend funs, sync status and progress, and cancelling a hub sync. */
class AsyncTest {

    @TempDir
    lateinit var dir: Path

    @Test
    fun `suspend calls give what the blocking ones give, without blocking the caller's thread`() = runBlocking {
        val lead = openStore(dir, "lead.db")
        val other = openStore(dir, "other.db")
        val third = openStore(dir, "third.db")
        val cell = lead.createCell("Fourth cell", "$TOWNSHIP/Hongqi/Group 4", "Wang Jianguo")
        val h = lead.addHousehold(cell, NewHousehold(address = "Hongqi 12"))
        lead.addMember(h, NewMember(name = "Li Xiuying", birthYear = 1948))

        val bundle = lead.exportBundleAsync(listOf(cell), null)
        assertEquals(1u, bundle.cells)
        // Two calls in flight at once from one thread: each runs on silin's
        // own thread and resumes this coroutine when done.
        val intoOther = async { other.importBundleAsync(bundle.data) }
        val intoThird = async { third.importBundleAsync(bundle.data) }
        assertEquals(1u, intoOther.await().cells)
        assertEquals(1u, intoThird.await().cells)
        assertEquals(0u, other.importBundleAsync(bundle.data).changed, "importing twice changes nothing")
        assertEquals(lead.cell(cell), other.cell(cell))
        assertEquals(lead.cell(cell), third.cell(cell))

        // Errors are the same typed errors.
        assertThrows(SyncException.Invalid::class.java) { runBlocking { lead.exportBundleAsync(listOf("not a cell id"), null) } }
        assertThrows(SyncException.Malformed::class.java) { runBlocking { other.importBundleAsync(byteArrayOf(1, 2, 3)) } }
        assertThrows(SyncException.BadHubUrl::class.java) { runBlocking { lead.syncWithHubAsync("ftp://nowhere") } }
        lead.closeStore()
        assertThrows(SyncException.Closed::class.java) { runBlocking { lead.exportBundleAsync(emptyList(), null) } }
        other.closeStore(); third.closeStore()
    }

    @Test
    fun `a phone-to-phone sync shows its steps in the status of both phones`() = runBlocking {
        val a = openStore(dir, "a.db")
        val b = openStore(dir, "b.db")
        createCells(a, 3)
        val seenA = CopyOnWriteArrayList<SyncStatus>()
        val seenB = CopyOnWriteArrayList<SyncStatus>()
        a.subscribeSyncStatus(object : SyncStatusObserver { override fun statusChanged(status: SyncStatus) { seenA += status } })
        b.subscribeSyncStatus(object : SyncStatusObserver { override fun statusChanged(status: SyncStatus) { seenB += status } })

        val start = a.startSync(null)
        val responder = b.acceptSync()
        var message: ByteArray = start.message
        while (true) {
            val reply = responder.receiveAsync(message) ?: error("the responder ended the session")
            message = start.session.receiveAsync(reply) ?: break
        }
        start.session.closeMessage()?.let { assertNull(responder.receiveAsync(it)) }

        for ((name, seen) in listOf("a" to seenA, "b" to seenB)) {
            val phases = seen.map { it.phase }
            assertTrue(SyncPhase.SENDING in phases && SyncPhase.RECEIVING in phases, "$name went through $phases")
            val last = seen.last()
            assertEquals(SyncPhase.IDLE, last.phase, name)
            assertEquals(3u, last.cellsDone, name)
            assertEquals(3u, last.cellsTotal, name)
            assertTrue(last.bytesUp > 0u && last.bytesDown > 0u, name)
            assertNotNull(last.lastSynced, name)
            assertNull(last.lastError, name)
        }
        assertEquals(seenA.last(), a.syncStatus())
        assertEquals(3, b.cells(emptyList()).size)
        a.closeStore(); b.closeStore()
    }

    @Test
    fun `a hub sync goes connecting, sending, receiving, idle, with n of m cells and bytes`() = runBlocking {
        Hub.start(dir).use { hub ->
            val worker = openStore(dir, "worker.db")
            assertEquals(SyncPhase.IDLE, worker.syncStatus().phase)
            assertNull(worker.syncStatus().lastSynced)
            worker.enrollAsync(hub.url, hub.token("grid_worker", TOWNSHIP))
            createCells(worker, 5)
            val seen = CopyOnWriteArrayList<SyncStatus>()
            val flowSeen = CopyOnWriteArrayList<SyncStatus>()
            worker.subscribeSyncStatus(object : SyncStatusObserver { override fun statusChanged(status: SyncStatus) { seen += status } })
            // The Flow form of the same: first the current value, then each change.
            val collecting = CompletableDeferred<Unit>()
            val watcher = launch(Dispatchers.Default) {
                worker.syncStatusFlow().collect {
                    flowSeen += it
                    collecting.complete(Unit)
                    if (it.lastSynced != null) throw kotlinx.coroutines.CancellationException("done")
                }
            }
            collecting.await()

            val stats = worker.syncWithHubAsync(hub.url)
            assertEquals(5uL, stats.docsSent)
            watcher.join()

            val phases = seen.map { it.phase }
            assertEquals(SyncPhase.CONNECTING, phases.first(), "$phases")
            assertEquals(SyncPhase.IDLE, phases.last(), "$phases")
            assertTrue(phases.indexOf(SyncPhase.RECEIVING) < phases.indexOf(SyncPhase.SENDING), "$phases")
            val done = seen.last()
            assertEquals(5u, done.cellsDone)
            assertEquals(5u, done.cellsTotal)
            assertEquals(stats.bytesUp, done.bytesUp, "bytes as the stats say")
            assertEquals(stats.bytesDown, done.bytesDown)
            assertNotNull(done.lastSynced)
            assertNull(done.lastError)
            assertEquals(done, worker.syncStatus())
            assertEquals(SyncPhase.IDLE, flowSeen.first().phase)
            assertEquals(done, flowSeen.last())

            // A failure shows as the last error; the last success stays.
            assertThrows(SyncException.HubUnreachable::class.java) { runBlocking { worker.syncWithHubAsync("http://127.0.0.1:9") } }
            assertNotNull(worker.syncStatus().lastError)
            assertEquals(done.lastSynced, worker.syncStatus().lastSynced)
            worker.closeStore()
        }
    }

    @Test
    fun `a sync cancelled from another coroutine stops at a round boundary, keeps whole rounds, and the next sync finishes`() = runBlocking {
        Hub.start(dir).use { hub ->
            // More cells than one round carries (256), so the pull takes two.
            val worker = openStore(dir, "worker.db")
            worker.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
            val cells = createCells(worker, 300)
            worker.syncWithHub(hub.url)

            val phone = openStore(dir, "phone.db")
            phone.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
            lateinit var job: Job
            val stopped = CompletableDeferred<SyncStatus>()
            var cancelled = false
            phone.subscribeSyncStatus(object : SyncStatusObserver {
                override fun statusChanged(status: SyncStatus) {
                    // At the first boundary after a round brought cells,
                    // another coroutine cancels the one awaiting the sync,
                    // and this step waits until that cancellation is done.
                    if (!cancelled && status.phase == SyncPhase.SENDING && status.cellsDone > 0u) {
                        cancelled = true
                        job.cancel()
                        runBlocking { job.join() }
                    }
                    if (cancelled && status.phase == SyncPhase.IDLE) stopped.complete(status)
                }
            })
            job = launch(Dispatchers.Default) { phone.syncWithHubAsync(hub.url) }
            job.join()
            assertTrue(job.isCancelled)
            val end = stopped.await()
            assertNotNull(end.lastError, "the cancelled sync says why it stopped")
            assertNull(end.lastSynced)

            // Exactly the first round's cells, each whole; nothing of the second.
            val held = phone.cells(emptyList())
            assertEquals(256, held.size)
            for (c in held) assertEquals(worker.cell(c.id), phone.cell(c.id))

            // The next sync brings the rest.
            val stats = phone.syncWithHubAsync(hub.url)
            assertEquals(44uL, stats.docsReceived)
            assertEquals(cells.toSet(), phone.cells(emptyList()).map { it.id }.toSet())
            assertNull(phone.syncStatus().lastError)

            // cancelSync() stops a blocking sync the same way, from another thread.
            val third = openStore(dir, "third.db")
            third.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
            third.subscribeSyncStatus(object : SyncStatusObserver {
                override fun statusChanged(status: SyncStatus) {
                    if (status.phase == SyncPhase.SENDING && status.cellsDone > 0u) third.cancelSync()
                }
            })
            assertThrows(SyncException.Cancelled::class.java) { third.syncWithHub(hub.url) }
            assertEquals(256, third.cells(emptyList()).size)
            worker.closeStore(); phone.closeStore(); third.closeStore()
        }
    }
}
