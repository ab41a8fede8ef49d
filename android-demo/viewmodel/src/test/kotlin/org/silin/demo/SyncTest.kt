package org.silin.demo

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import org.silin.SyncPhase
import org.silin.SyncStatus
import org.silin.VisitKind
import java.net.InetAddress
import java.net.ServerSocket
import java.nio.file.Path
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList

/** Two phones, two real stores on disk, real sessions over a PeerLink. */
class SyncTest {
    @TempDir
    lateinit var dir: Path

    /** A lead's phone with a small cell: one household, one member checked today. */
    private fun leadWithCell(phone: Phone): String {
        val vm = phone.vm
        vm.start().await()
        val cell = vm.createCell(CellForm("Building 7 east", REGION)).await()!!
        val h = vm.addHousehold(HouseholdForm(door = "3")).await()!!
        val m = vm.addMember(MemberForm(h, "Wang Jun", birthYear = "1941")).await()!!
        vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = m, temperature = "36.7")).await()!!
        return cell
    }

    @Test
    fun `the sync screen's progress line reads the status`() {
        fun line(phase: SyncPhase, done: UInt, total: UInt, bytes: ULong) =
            SyncState(status = SyncStatus(phase, done, total, bytes, 0uL, null, null)).progress
        assertEquals("Connecting…", line(SyncPhase.CONNECTING, 0u, 0u, 300uL))
        assertEquals("Receiving: 12 of 40 cells, 1.5 MB", line(SyncPhase.RECEIVING, 12u, 40u, 1_572_864uL))
        assertEquals("Sending: 2.0 kB", line(SyncPhase.SENDING, 0u, 0u, 2048uL))
        assertNull(line(SyncPhase.IDLE, 0u, 0u, 0uL), "never synced")
    }

    @Test
    fun `a lead and a grid worker sync over an in-memory link and end with equal cells`() {
        Phone(dir, "lead", "Wang Fang", 1).use { lead ->
            Phone(dir, "worker", "Grid worker Liu", 2).use { worker ->
                val cell = leadWithCell(lead)
                worker.vm.start().await()
                assertTrue(worker.vm.state.value.cells.isEmpty())

                assertEquals(SyncPhase.IDLE, lead.vm.state.value.sync.status?.phase)
                assertNull(lead.vm.state.value.sync.progress, "no sync yet")
                val phases = CopyOnWriteArrayList<SyncPhase>()
                val watching = lead.vm.state.observe { s -> s.sync.status?.phase?.let { phases += it } }

                val (a, b) = InMemoryPeerLink.pair()
                val responding = worker.vm.syncNearby(b, initiate = false)
                val initiated = lead.vm.syncNearby(a, initiate = true).await()
                val responded = responding.await()
                watching.close()
                // silin's status went through the steps, and ends idle with the figures.
                assertTrue(SyncPhase.SENDING in phases && SyncPhase.RECEIVING in phases, "$phases")
                val status = initiated.status!!
                assertEquals(SyncPhase.IDLE, status.phase)
                assertEquals(1u, status.cellsDone)
                assertEquals(1u, status.cellsTotal)
                assertTrue(status.bytesUp > 0uL && status.bytesDown > 0uL)
                assertNotNull(status.lastSynced)
                assertNull(status.lastError)
                assertEquals("Last synced ${status.lastSynced}", initiated.progress)
                assertEquals(1u, responded.status!!.cellsDone)
                assertNull(initiated.error, initiated.error)
                assertNull(responded.error, responded.error)
                assertFalse(initiated.running)
                assertEquals(1UL, initiated.lastStats!!.docsSent)
                assertEquals(1UL, responded.lastStats!!.docsReceived)

                // The worker's phone now holds the lead's cell, whole.
                assertEquals(lead.store.cell(cell).synced(), worker.store.cell(cell).synced())
                val ws = worker.vm.state.value
                assertEquals(cell, ws.cell?.id, "the only cell held becomes the one shown")
                assertEquals(lead.vm.state.value.cell, ws.cell)

                // The worker adds an errand; the lead initiates again and gets it.
                worker.vm.recordVisit(VisitForm(VisitKind.ERRAND, note = "groceries for Door 3")).await()!!
                val (c, d) = InMemoryPeerLink.pair()
                val again = worker.vm.syncNearby(d, initiate = false)
                val pulled = lead.vm.syncNearby(c, initiate = true).await()
                assertNull(pulled.error, pulled.error)
                assertNull(again.await().error)
                assertEquals(1UL, pulled.lastStats!!.docsReceived)
                assertEquals(lead.store.cell(cell), worker.store.cell(cell))
                assertEquals(2, lead.vm.state.value.cell!!.visitsToday.size)
                assertEquals(1L, lead.vm.state.value.report!!.draft.errands)

                // Nothing new: one round trip says so.
                val (e, f) = InMemoryPeerLink.pair()
                val idle = worker.vm.syncNearby(f, initiate = false)
                val same = lead.vm.syncNearby(e, initiate = true).await()
                assertNull(idle.await().error)
                assertEquals("Already in step with the other phone.", same.lastResult)
            }
        }
    }

    @Test
    fun `an observer refreshes the state when a sync changes the cell behind the view-model`() {
        Phone(dir, "lead", "Wang Fang", 1).use { lead ->
            Phone(dir, "worker", "Grid worker Liu", 2).use { worker ->
                val cell = leadWithCell(lead)
                worker.vm.start().await()
                val (a, b) = InMemoryPeerLink.pair()
                val responding = worker.vm.syncNearby(b, initiate = false)
                assertNull(lead.vm.syncNearby(a, initiate = true).await().error)
                assertNull(responding.await().error)

                // The worker records a fever on its phone.
                val member = worker.vm.state.value.cell!!.members.single().id
                worker.vm.recordVisit(VisitForm(VisitKind.HEALTH_CHECK, memberId = member, temperature = "38.6")).await()!!

                // The lead's store syncs without its view-model knowing: only
                // the CellObserver can bring the fever to the lead's screen.
                val (c, d) = InMemoryPeerLink.pair()
                val behind = CompletableFuture.supplyAsync { PeerSync.respond(lead.store, d) }
                worker.vm.syncNearby(c, initiate = true).await().also { assertNull(it.error, it.error) }
                assertEquals(1UL, behind.await().stats.docsReceived)

                val s = lead.vm.awaitState("the worker's fever") { st -> st.cell?.members?.any { it.abnormalToday } == true }
                assertEquals(cell, s.cell!!.id)
                assertEquals(2, s.cell!!.visitsToday.size)
                assertEquals(1L, s.report!!.draft.abnormal)
                assertEquals(worker.store.cell(cell), lead.store.cell(cell))
            }
        }
    }

    @Test
    fun `phones sync over a TCP socket on the local network`() {
        Phone(dir, "lead", "Wang Fang", 1).use { lead ->
            Phone(dir, "worker", "Grid worker Liu", 2).use { worker ->
                val cell = leadWithCell(lead)
                worker.vm.start().await()
                ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { server ->
                    // The listening phone accepts on its own thread (the app's
                    // job), then hands the link to its view-model.
                    val listening = CompletableFuture.supplyAsync { SocketPeerLink.accept(server) }
                        .thenCompose { link -> worker.vm.syncNearby(link, initiate = false) }
                    val link = SocketPeerLink.connect(InetAddress.getLoopbackAddress().hostAddress, server.localPort)
                    val initiated = lead.vm.syncNearby(link, initiate = true).await()
                    assertNull(initiated.error, initiated.error)
                    assertNull(listening.await().error)
                }
                assertEquals(lead.store.cell(cell).synced(), worker.store.cell(cell).synced())
                assertEquals(lead.vm.state.value.cell, worker.vm.state.value.cell)
            }
        }
    }

    @Test
    fun `a link that breaks mid-sync is a user-facing error and both phones go on`() {
        Phone(dir, "lead", "Wang Fang", 1).use { lead ->
            leadWithCell(lead)
            val (a, b) = InMemoryPeerLink.pair()
            b.close() // the other phone walked away
            val s = lead.vm.syncNearby(a, initiate = true).await()
            assertFalse(s.running)
            assertNotNull(s.error)
            assertTrue(s.error!!.contains("other phone"), s.error)
            // The store is fine: the lead goes on recording.
            val m = lead.vm.state.value.cell!!.members.single().id
            assertNotNull(lead.vm.recordVisit(VisitForm(VisitKind.CALL, memberId = m)).await())
        }
    }

    @Test
    fun `a peer that is not silin is refused with a message, and told so`() {
        Phone(dir, "lead", "Wang Fang", 1).use { lead ->
            leadWithCell(lead)
            val (a, b) = InMemoryPeerLink.pair()
            val answered = lead.vm.syncNearby(a, initiate = false)
            b.send(byteArrayOf(PeerSync.DATA, 1, 2, 3, 4))
            val s = answered.await()
            assertNotNull(s.error)
            val abort = b.receive()
            assertEquals(PeerSync.ABORT, abort[0], "the peer is told why")
        }
    }

    @Test
    fun `hub errors are shown as sentences`() {
        Phone(dir, "lead", "Wang Fang", 1).use { lead ->
            lead.vm.start().await()
            val blank = lead.vm.syncWithHub("  ").await()
            assertTrue(blank.error!!.startsWith("Enter the hub"))
            val bad = lead.vm.syncWithHub("not a url").await()
            assertNotNull(bad.error)
            assertFalse(bad.running)
            // Nothing listens on this loopback port: unreachable, not a crash.
            val port = ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { it.localPort }
            val down = lead.vm.syncWithHub("http://127.0.0.1:$port").await()
            assertNotNull(down.error)
            assertEquals("hub", down.with)
            assertFalse(lead.vm.state.value.sync.running)
        }
    }
}

/**
 * The cell as both phones hold it once they have synced: without the
 * report reminders each phone's view-model raises for itself after the
 * sync when it is past the report's hour (20:00 by default).
 */
private fun org.silin.CellView.synced() =
    copy(tasks = tasks.filter { it.kind != org.silin.TaskKind.REMINDER })
