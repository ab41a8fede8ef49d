package org.silin

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/**
 * The Flow wrappers: a first answer at once, then one after each committed
 * change that alters the answer, and none for changes that do not. "None"
 * is checked without a clock: after an irrelevant change, a relevant one
 * is made, and the next emission must be the relevant one.
 */
class LiveQueryTest {

    @TempDir
    lateinit var dir: Path

    /** Collects a flow into a channel, on another thread, while `block` runs. */
    private fun <T> watching(flow: Flow<T>, block: suspend (Channel<T>) -> Unit) = runBlocking {
        val seen = Channel<T>(Channel.UNLIMITED)
        val job = launch(Dispatchers.Default) { flow.collect { seen.send(it) } }
        try {
            block(seen)
        } finally {
            job.cancel()
        }
    }

    @Test
    fun `a cell's view emits after each committed change to it, and not for other cells`() {
        val store = openStore(dir)
        val cell = store.createCell("Fourth cell", "$TOWNSHIP/Hongqi/Group 4", null)
        val other = store.createCell("Fifth cell", "$TOWNSHIP/Hongqi/Group 5", null)
        watching(store.cellFlow(cell)) { seen ->
            assertEquals(store.cell(cell), seen.receive(), "the first answer comes at once")

            val h = store.addHousehold(cell, NewHousehold(address = "Hongqi 12"))
            val after = seen.receive()
            assertEquals(listOf(h), after.households.map { it.id }, "emitted after the commit, with the change")
            // Committed: another handle on the file sees it too.
            assertEquals(after, openStore(dir).cell(cell))

            store.addHousehold(other, NewHousehold(address = "elsewhere"))
            store.renameCell(cell, "Fourth cell (east)")
            assertEquals("Fourth cell (east)", seen.receive().cell.name, "nothing was emitted for the other cell")
        }
        store.closeStore()
    }

    @Test
    fun `lists emit only when their answer changes`() {
        val store = openStore(dir)
        val cell = store.createCell("Fourth cell", "$TOWNSHIP/Hongqi/Group 4", null)
        val h = store.addHousehold(cell, NewHousehold())
        watching(store.underMonitoringFlow(DAY)) { seen ->
            assertEquals(emptyList<MemberSummary>(), seen.receive())
            // A member who is not under monitoring changes nothing in the list.
            val m = store.addMember(h, NewMember(name = "Wang Fang"))
            store.addMember(h, NewMember(name = "Zhang Wei"))
            store.editMember(m, listOf(
                MemberEdit.SetResidence(Residence.RETURNED),
                MemberEdit.SetMonitoringSince("2026-11-26"),
                MemberEdit.SetMonitoringUntil("2026-12-10"),
            ))
            assertEquals(listOf(m), seen.receive().map { it.memberId })
            store.recordVisit(cell, NewVisit(kind = VisitKind.CALL, by = "lead", memberId = m))
            store.editMember(m, listOf(MemberEdit.SetMonitoringUntil("2026-11-28")))
            assertEquals(emptyList<MemberSummary>(), seen.receive(), "the visit changed nothing in the list")
        }
        watching(store.cellsFlow()) { seen ->
            assertEquals(listOf(cell), seen.receive().map { it.id })
            store.recordVisit(cell, NewVisit(kind = VisitKind.DOOR_KNOCK, by = "lead", householdId = h))
            val second = store.createCell("Fifth cell", "$TOWNSHIP/Hongqi/Group 5", null)
            assertEquals(setOf(cell, second), seen.receive().map { it.id }.toSet())
        }
        watching(store.cellsMissingReportFlow(DAY)) { seen ->
            assertEquals(2, seen.receive().size)
            store.submitReport(cell, NewReport(date = DAY, by = "lead", arrivals = 0, abnormal = 0))
            assertEquals(1, seen.receive().size)
        }
        watching(store.vulnerableMembersFlow()) { seen ->
            assertEquals(emptyList<MemberSummary>(), seen.receive())
            store.addMember(h, NewMember(name = "Li Xiuying", vulnerable = listOf(Vulnerability.ELDERLY)))
            assertEquals(listOf("Li Xiuying"), seen.receive().map { it.name })
        }
        store.closeStore()
    }

    @Test
    fun `open tasks emit as errands are added and done, and changes from a sync count`() {
        val store = openStore(dir, "lead.db")
        val cell = store.createCell("Fourth cell", "$TOWNSHIP/Hongqi/Group 4", null)
        watching(store.openTasksFlow(cell)) { seen ->
            assertEquals(emptyList<CellTask>(), seen.receive())
            val t = store.addTask(cell, NewTask(title = "Buy medicine"))
            assertEquals(listOf(t), seen.receive().map { it.id })
            store.setTaskStatus(cell, t, TaskStatus.DONE)
            assertEquals(emptyList<CellTask>(), seen.receive())

            // An errand added on another phone arrives by sync.
            val worker = openStore(dir, "worker.db")
            syncStores(store, worker).destroy()
            val t2 = worker.addTask(cell, NewTask(title = "Carry water"))
            syncStores(worker, store).destroy()
            assertEquals(listOf(t2), seen.receive().map { it.id })
            worker.closeStore()
        }
        store.closeStore()
    }

    @Test
    fun `a flow on a closed store ends with Closed`() {
        val store = openStore(dir)
        store.closeStore()
        val outcome = runCatching { runBlocking { store.cellsFlow().collect { } } }
        assertTrue(outcome.exceptionOrNull() is StoreException.Closed, "$outcome")
    }
}
