package org.silin

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path

/**
 * Store.openAt: an app's tests fix the day the store lives on, so what it
 * dates by itself (a visit or task given no time) is the same whatever day
 * the tests run.
 */
class OpenAtTest {

    @TempDir
    lateinit var dir: Path

    @Test
    fun `a store opened at a set time dates its records by that clock`() {
        val yearEnd = "2026-12-31T23:00:00+08:00"
        val store = Store.openAt(File(dir.toFile(), "year-end.db").path, null, yearEnd)
        try {
            val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", "Wang Fang")
            val h = store.addHousehold(cell, NewHousehold(address = "12 East Lane"))
            val knock = store.recordVisit(cell, NewVisit(kind = VisitKind.DOOR_KNOCK, by = "lead", householdId = h))
            assertEquals(listOf(knock), store.visitsOn("2026-12-31").map { it.visitId })
            store.addTask(cell, NewTask(title = "Fetch medicine", householdId = h))
            assertEquals(1, store.cell(cell).tasks.size)
            // The same file on the phone's clock is refused while this is open.
            val e = assertThrows(StoreException.Invalid::class.java) {
                Store.open(File(dir.toFile(), "year-end.db").path, null)
            }
            assertEquals("now", e.field)
        } finally {
            store.closeStore()
            store.destroy()
        }
        val never = File(dir.toFile(), "never.db")
        for (bad in listOf("2026-12-32", "next week")) {
            val e = assertThrows(StoreException.Invalid::class.java) { Store.openAt(never.path, null, bad) }
            assertEquals("now", e.field, bad)
        }
        assertFalse(never.exists(), "a refused time makes no file")
    }
}
