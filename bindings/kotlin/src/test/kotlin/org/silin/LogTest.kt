package org.silin

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList

/**
 * silin's log reaches the app's logger at the level asked, and carries no
 * personal data: names, phones and resident ID numbers planted as markers
 * never appear in it, through a hub sync, a phone-to-phone sync, refused
 * input and bundles.
 */
class LogTest {

    @TempDir
    lateinit var dir: Path

    @Test
    fun `the log tells of syncs and never of the people in the register`() = runBlocking {
        val lines = CopyOnWriteArrayList<Triple<LogLevel, String, String>>()
        setLogger(LogLevel.TRACE) { level, target, message -> lines += Triple(level, target, message) }
        try {
            val name = "MarkerName Qxzv"
            val phone = "13912345678"
            val idNumber = residentId("19481231", "002")
            Hub.start(dir).use { hub ->
                val worker = openStore(dir, "worker.db")
                worker.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
                val cell = worker.createCell("MarkerCell Wqjx", "$TOWNSHIP/Hongqi/Group 4", "MarkerLead Zkpy")
                val h = worker.addHousehold(cell, NewHousehold(address = "MarkerAddress Jvvq", phone = phone))
                val m = worker.addMember(h, NewMember(name = name, idNumber = idNumber, phone = phone))
                runCatching { worker.editMember(m, listOf(MemberEdit.SetPhone("12345"))) }
                worker.syncWithHubAsync(hub.url)
                val phone2 = openStore(dir, "phone.db")
                phone2.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
                phone2.syncWithHub(hub.url)
                assertEquals(name, phone2.member(m).name)
                worker.addMember(h, NewMember(name = "MarkerName Second"))
                syncStores(worker, phone2, phone2.identity().deviceId).destroy()
                phone2.importBundle(worker.exportBundle(listOf(cell), null).data)
                worker.closeStore(); phone2.closeStore()
            }
            assertTrue(lines.any { it.third.contains("hub sync finished") }, "a hub sync is logged: $lines")
            assertTrue(lines.any { it.second.startsWith("silin_core") }, "the core's events come through")
            assertTrue(lines.all { it.second.startsWith("silin") }, "only silin's own events")
            val text = lines.joinToString("\n") { "${it.first} ${it.second} ${it.third}" }
            for (marker in listOf(name, "MarkerName", "MarkerCell", "MarkerLead", "MarkerAddress", phone, idNumber)) {
                assertTrue(marker !in text, "the log carries $marker:\n$text")
            }

            // The level filters; clearing stops the log.
            lines.clear()
            setLogger(LogLevel.ERROR) { level, target, message -> lines += Triple(level, target, message) }
            val a = openStore(dir, "a.db"); val b = openStore(dir, "b.db")
            createCells(a, 1)
            syncStores(a, b).destroy()
            assertEquals(emptyList<Triple<LogLevel, String, String>>(), lines)
            setLogger(LogLevel.INFO) { level, target, message -> lines += Triple(level, target, message) }
            clearLogger()
            syncStores(a, b).destroy()
            assertEquals(emptyList<Triple<LogLevel, String, String>>(), lines)
            a.closeStore(); b.closeStore()
        } finally {
            clearLogger()
        }
    }
}
