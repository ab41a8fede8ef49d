package org.silin

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList

/** CellObserver callbacks from Rust into Kotlin. */
class ObserverTest {

    @TempDir
    lateinit var dir: Path
    lateinit var store: Store

    /** Records every list of cell ids it is told, and the thread it ran on. */
    class Recorder : CellObserver {
        val calls = CopyOnWriteArrayList<List<String>>()
        val threads = CopyOnWriteArrayList<Thread>()
        override fun cellsChanged(cellIds: List<String>) {
            calls += cellIds
            threads += Thread.currentThread()
        }
        val cells: List<String> get() = calls.flatten()
    }

    @BeforeEach
    fun open() {
        store = openStore(dir)
    }

    @AfterEach
    fun close() {
        store.closeStore()
        store.destroy()
    }

    @Test
    fun `an observer hears each committed edit, on the calling thread, until unsubscribed`() {
        val recorder = Recorder()
        val sub = store.subscribe(recorder)
        val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        assertEquals(listOf(listOf(cell)), recorder.calls, "creating a cell is a change")
        assertEquals(Thread.currentThread(), recorder.threads.single())

        val h = store.addHousehold(cell, NewHousehold())
        val m = store.addMember(h, NewMember(name = "Wang Lei"))
        store.editMember(m, listOf(MemberEdit.SetPhone("13800138000")))
        store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = 36.6))
        assertEquals(List(5) { cell }, recorder.cells)

        // A refused write is no change.
        runCatching { store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = 99.0)) }
        assertEquals(5, recorder.calls.size)

        // Reads are no change.
        store.cell(cell)
        store.visitsOn(DAY)
        assertEquals(5, recorder.calls.size)

        val other = Recorder()
        val sub2 = store.subscribe(other)
        assertNotEquals(sub, sub2)
        store.unsubscribe(sub)
        store.renameCell(cell, "Renamed")
        assertEquals(5, recorder.calls.size, "no call after unsubscribe")
        assertEquals(listOf(listOf(cell)), other.calls)
        store.unsubscribe(sub2)
        store.unsubscribe(sub2) // twice is harmless
        store.unsubscribe(987654321uL) // unknown is harmless
        store.setLead(cell, "Wang Fang")
        assertEquals(1, other.calls.size)
    }

    @Test
    fun `an observer hears the cells a sync or a bundle brings, and only when they change`() {
        val peer = openStore(dir, "peer.db")
        try {
            val cell = peer.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
            val second = peer.createCell("Fifth cell", "Liangdang/Zhangjia/Hongqi/Group 4", null)
            val recorder = Recorder()
            store.subscribe(recorder)

            syncStores(store, peer).destroy()
            assertEquals(setOf(cell, second), recorder.cells.toSet())

            // Nothing new: nothing heard.
            val heard = recorder.calls.size
            syncStores(peer, store).destroy()
            assertEquals(heard, recorder.calls.size)

            // An edit on the peer reaches this store when the peer starts.
            peer.renameCell(second, "Fifth cell (west)")
            syncStores(peer, store).destroy()
            assertEquals(second, recorder.calls.last().single())
            assertEquals(heard + 1, recorder.calls.size)

            // A bundle too, and re-importing it is silent.
            peer.setLead(cell, "Chen Jie")
            val bundle = peer.exportBundle(listOf(cell), null).data
            store.importBundle(bundle)
            assertEquals(listOf(cell), recorder.calls.last())
            val after = recorder.calls.size
            store.importBundle(bundle)
            assertEquals(after, recorder.calls.size)
        } finally {
            peer.closeStore()
            peer.destroy()
        }
    }

    @Test
    fun `an observer that throws does not break the write or later calls`() {
        val thrown = CopyOnWriteArrayList<String>()
        val failing = object : CellObserver {
            override fun cellsChanged(cellIds: List<String>) {
                thrown += cellIds
                throw IllegalStateException("the app's UI is gone")
            }
        }
        val declared = object : CellObserver {
            override fun cellsChanged(cellIds: List<String>) {
                throw ObserverException.Failed("declared failure")
            }
        }
        val recorder = Recorder()
        store.subscribe(failing)
        store.subscribe(declared)
        store.subscribe(recorder)

        val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        val h = store.addHousehold(cell, NewHousehold(door = "1-1"))
        val visit = store.recordVisit(cell, NewVisit(kind = VisitKind.DOOR_KNOCK, by = "lead", householdId = h))

        // Every write was committed, and the observers after the failing ones still heard them.
        assertEquals(listOf(cell, cell, cell), thrown)
        assertEquals(listOf(cell, cell, cell), recorder.cells)
        val view = store.cell(cell)
        assertEquals(h, view.households.single().id)
        assertEquals(visit, view.visits.single().id)
        assertEquals(1, store.visitsOn(today()).size)

        // And the data is on disk.
        store.closeStore()
        store.destroy()
        store = openStore(dir)
        assertEquals(visit, store.cell(cell).visits.single().id)
    }

    @Test
    fun `an observer may read the store from inside its callback`() {
        val names = CopyOnWriteArrayList<String>()
        store.subscribe(object : CellObserver {
            override fun cellsChanged(cellIds: List<String>) {
                for (id in cellIds) names += store.cell(id).cell.name
            }
        })
        val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        store.renameCell(cell, "Renamed")
        assertEquals(listOf("Fourth cell", "Renamed"), names)
        assertTrue(store.cells(emptyList()).isNotEmpty())
    }
}
