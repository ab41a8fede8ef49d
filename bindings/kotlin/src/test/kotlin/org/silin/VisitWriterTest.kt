package org.silin

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path
import kotlin.concurrent.thread

/**
 * VisitWriter: the same visits, rules and errors as Store.recordVisit, in one
 * plain native call each.
 */
class VisitWriterTest {

    @TempDir
    lateinit var dir: Path

    private fun withCell(body: (Store, String, String) -> Unit) {
        val store = Store.openAt(File(dir.toFile(), "writer.db").path, null, NOW)
        try {
            val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", "Wang Fang")
            val h = store.addHousehold(cell, NewHousehold(address = "12 East Lane"))
            val m = store.addMember(h, NewMember(name = "Li Qiang"))
            body(store, cell, m)
        } finally {
            store.closeStore()
            store.destroy()
        }
    }

    private companion object {
        const val NOW = "2027-03-01T09:30:00+08:00"
    }

    private fun check(m: String, t: Double = 36.6) =
        NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = t, symptoms = "咳嗽")

    @Test
    fun `a visit written through the writer is the one recordVisit writes`() = withCell { store, cell, m ->
        val direct = store.recordVisit(cell, check(m))
        val fast = store.visitWriter().use { it.recordVisit(cell, check(m)) }
        val visits = store.cell(cell).visits.associateBy { it.id }
        assertEquals(setOf(direct, fast), visits.keys)
        // Everything but the id and the moment is the same: the store's
        // clock, running on from 09:30, dated both.
        val (a, b) = visits.getValue(direct) to visits.getValue(fast)
        assertEquals(a.copy(id = fast, at = b.at), b)
        assertTrue(b.at.startsWith("2027-03-01T09:30:") && b.at >= a.at, b.at)
        assertEquals(listOf(direct, fast).sorted(), store.visitsOn("2027-03-01").map { it.visitId }.sorted())
    }

    @Test
    fun `a round is all or none and its ids come back in order`() = withCell { store, cell, m ->
        store.visitWriter().use { w ->
            // Twenty ids do not fit the first reply buffer: the long reply
            // is fetched in a second call.
            val ids = w.recordVisits(cell, List(20) { check(m, 36.0 + it / 10.0) })
            assertEquals(20, ids.toSet().size)
            val byId = store.cell(cell).visits.associateBy { it.id }
            assertEquals(ids.map { 36.0 + ids.indexOf(it) / 10.0 }, ids.map { byId.getValue(it).temperature })

            val before = store.cell(cell).visits.size
            val e = assertThrows(StoreException.Invalid::class.java) {
                w.recordVisits(cell, listOf(check(m), check(m, t = 51.0)))
            }
            assertEquals("temperature", e.field)
            assertEquals(before, store.cell(cell).visits.size, "a refused round writes nothing")
        }
    }

    @Test
    fun `errors are the store's own, typed`() = withCell { store, cell, m ->
        store.visitWriter().use { w ->
            val gone = assertThrows(StoreException.NotFound::class.java) {
                w.recordVisit(cell, check("0193a4d2-0000-7000-8000-00000000abcd"))
            }
            assertEquals("member", gone.what)
            assertThrows(StoreException.NotFound::class.java) {
                w.recordVisit("0193a4d2-0000-7000-8000-00000000dcba", check(m))
            }
            assertEquals(0, store.cell(cell).visits.size)
        }
        // A closed writer, and a writer on a closed handle, answer Closed.
        val w = store.visitWriter()
        w.close()
        assertThrows(StoreException.Closed::class.java) { w.recordVisit(cell, check(m)) }
        w.close()
        val second = Store.openAt(File(dir.toFile(), "writer.db").path, null, NOW)
        val onSecond = second.visitWriter()
        second.closeStore()
        assertThrows(StoreException.Closed::class.java) { onSecond.recordVisit(cell, check(m)) }
        onSecond.close()
        second.destroy()
        // The first handle is still open and its writers still write.
        store.visitWriter().use { it.recordVisit(cell, check(m)) }
        assertEquals(1, store.cell(cell).visits.size)
    }

    @Test
    fun `threads share one writer`() = withCell { store, cell, m ->
        val ids = java.util.concurrent.ConcurrentLinkedQueue<String>()
        store.visitWriter().use { w ->
            val threads = List(4) {
                thread {
                    repeat(25) { ids.add(w.recordVisit(cell, check(m))) }
                    ids.addAll(w.recordVisits(cell, List(15) { check(m) }))
                }
            }
            threads.forEach { it.join() }
        }
        assertEquals(160, ids.toSet().size)
        assertTrue(store.cell(cell).visits.map { it.id }.containsAll(ids))
    }
}
