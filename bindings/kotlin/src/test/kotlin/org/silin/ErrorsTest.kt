package org.silin

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Files
import java.nio.file.Path

/** Every failure arrives as the StoreException / SyncException subtype the UDL names. */
class ErrorsTest {

    @TempDir
    lateinit var dir: Path
    lateinit var store: Store
    lateinit var cell: String
    lateinit var household: String
    lateinit var member: String

    @BeforeEach
    fun open() {
        store = openStore(dir)
        cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        household = store.addHousehold(cell, NewHousehold())
        member = store.addMember(household, NewMember(name = "Wang Lei"))
    }

    @AfterEach
    fun close() {
        store.closeStore()
        store.destroy()
    }

    private fun invalid(field: String, block: () -> Unit): StoreException.Invalid {
        val e = assertThrows(StoreException.Invalid::class.java) { block() }
        assertEquals(field, e.field, "field of ${e.message}")
        assertTrue(e.rule.isNotBlank(), "a rule to show the user")
        return e
    }

    @Test
    fun `a value breaking a field's rule is Invalid with the field named, and nothing is written`() {
        val before = store.cell(cell)

        val t = invalid("temperature") {
            store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = member, temperature = 50.0))
        }
        assertTrue(t.rule.contains("34") && t.rule.contains("43"), t.rule)
        invalid("temperature") {
            store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = member, temperature = Double.NaN))
        }
        invalid("member") { store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", temperature = 36.6)) }
        invalid("at") { store.recordVisit(cell, NewVisit(kind = VisitKind.CALL, by = "lead", at = "yesterday morning")) }

        invalid("phone") { store.addMember(household, NewMember(name = "Wang Fang", phone = "12345")) }
        invalid("phone") { store.editMember(member, listOf(MemberEdit.SetPhone("1234567890a"))) }
        invalid("phone") { store.addHousehold(cell, NewHousehold(phone = "0571-8888888")) }

        val good = residentId("19990412", "013")
        val e = invalid("id_number") { store.addMember(household, NewMember(name = "Wang Fang", idNumber = withWrongCheck(good))) }
        assertTrue(e.rule.contains("check digit"), e.rule)
        invalid("id_number") { store.addMember(household, NewMember(name = "Wang Fang", idNumber = "12345")) }
        invalid("id_number") { store.editMember(member, listOf(MemberEdit.SetIdNumber(residentId("29990101")))) }
        invalid("id_number") { checkResidentId(withWrongCheck(good)) }
        invalid("birth_year") { store.addMember(household, NewMember(name = "Wang Fang", idNumber = good, birthYear = 1990L)) }

        invalid("date") { store.submitReport(cell, NewReport(date = "29/11/2026", by = "lead", arrivals = 0L, abnormal = 0L)) }
        invalid("date") { store.submitReport(cell, NewReport(date = "2026-02-30", by = "lead", arrivals = 0L, abnormal = 0L)) }
        invalid("arrivals") { store.submitReport(cell, NewReport(date = DAY, by = "lead", arrivals = -1L, abnormal = 0L)) }
        invalid("day") { store.underMonitoring("tomorrow") }
        invalid("day") { store.visitsOn("") }
        invalid("day") { store.rollup("2026-13-01", Level.COUNTY) }
        invalid("monitoring_until") { store.editMember(member, listOf(MemberEdit.SetMonitoringUntil("next week"))) }
        invalid("due") { store.addTask(cell, NewTask(title = "errand", due = "soon")) }
        invalid("vaccination_doses") { store.editMember(member, listOf(MemberEdit.SetVaccinationDoses(99L))) }

        invalid("path") { store.createCell("cell", "Liangdang/Zhangjia/Hongqi", null) }
        invalid("path") { store.createCell("cell", "a//b/c", null) }
        invalid("name") { store.addMember(household, NewMember(name = "   ")) }
        invalid("name") { store.editMember(member, listOf(MemberEdit.SetName("bell\u0007"))) }
        invalid("cell") { store.cell("nope") }

        // A batch of edits with one bad value writes none of them.
        invalid("phone") {
            store.editMember(member, listOf(MemberEdit.SetRelation("son"), MemberEdit.SetPhone("99")))
        }
        assertEquals(null, store.member(member).relation)
        assertEquals(before, store.cell(cell), "nothing was written")
        assertEquals(1, store.cells(emptyList()).size)
    }

    @Test
    fun `an id naming nothing is NotFound with what and id`() {
        val ghost = randomId()
        val e = assertThrows(StoreException.NotFound::class.java) { store.cell(ghost) }
        assertEquals("cell", e.what)
        assertEquals(ghost, e.id)
        assertEquals("member", assertThrows(StoreException.NotFound::class.java) { store.member(ghost) }.what)
        assertEquals("household", assertThrows(StoreException.NotFound::class.java) { store.addMember(ghost, NewMember(name = "x")) }.what)
        assertThrows(StoreException.NotFound::class.java) { store.editMember(ghost, listOf(MemberEdit.SetName("x"))) }
        assertThrows(StoreException.NotFound::class.java) { store.recordVisit(ghost, NewVisit(kind = VisitKind.CALL, by = "lead")) }
        assertThrows(StoreException.NotFound::class.java) {
            store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = ghost, temperature = 36.6))
        }
        val task = assertThrows(StoreException.NotFound::class.java) { store.setTaskStatus(cell, ghost, TaskStatus.DONE) }
        assertEquals("task", task.what)
        assertEquals(ghost, task.id)
        assertThrows(StoreException.NotFound::class.java) { store.conflicts(ghost) }
        val sync = assertThrows(SyncException.NotFound::class.java) { store.exportBundle(listOf(ghost), null) }
        assertEquals(ghost, sync.id)
        assertEquals("cell", assertThrows(SyncException.Invalid::class.java) { store.exportBundle(listOf("nope"), null) }.field)
    }

    @Test
    fun `an encrypted store opens only with its key`() {
        val hexKey = "0123456789abcdef".repeat(4)
        val enc = openStore(dir, "enc.db", hexKey)
        val c = enc.createCell("Secret cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        enc.closeStore()
        enc.destroy()

        // The file is not readable as plain SQLite.
        val header = Files.readAllBytes(dir.resolve("enc.db")).copyOf(16)
        assertFalse(String(header, Charsets.ISO_8859_1).startsWith("SQLite format 3"))

        val wrong = assertThrows(StoreException.WrongKey::class.java) { openStore(dir, "enc.db", "f".repeat(64)) }
        assertTrue(wrong.detail.isNotBlank())
        assertThrows(StoreException.WrongKey::class.java) { openStore(dir, "enc.db", null) }
        assertThrows(StoreException.WrongKey::class.java) { openStore(dir, "enc.db", "") }
        assertThrows(StoreException.WrongKey::class.java) { openStore(dir, "enc.db", "0123456789abcdef") }

        openStore(dir, "enc.db", hexKey.uppercase()).let {
            assertEquals("Secret cell", it.cell(c).cell.name)
            it.closeStore()
            it.destroy()
        }

        // A passphrase works the same way.
        val pass = openStore(dir, "pass.db", "correct horse battery staple")
        pass.createCell("Cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        pass.closeStore()
        pass.destroy()
        assertThrows(StoreException.WrongKey::class.java) { openStore(dir, "pass.db", "correct horse battery stapler") }
        assertThrows(StoreException.WrongKey::class.java) { openStore(dir, "pass.db", null) }
        openStore(dir, "pass.db", "correct horse battery staple").let {
            assertEquals(1, it.cells(emptyList()).size)
            it.closeStore()
            it.destroy()
        }

        // A key for a plaintext store is wrong too, and the file is untouched.
        store.closeStore()
        val size = Files.size(dir.resolve("silin.db"))
        assertThrows(StoreException.WrongKey::class.java) { openStore(dir, "silin.db", hexKey) }
        assertEquals(size, Files.size(dir.resolve("silin.db")))
        store.destroy()
        store = openStore(dir)
        assertEquals(cell, store.cells(emptyList()).single().id)
    }

    @Test
    fun `a file that is not a store is refused with a StoreException`() {
        val junk = dir.resolve("junk.db")
        Files.write(junk, ByteArray(8192) { (it * 31 + 7).toByte() })
        val e = assertThrows(StoreException::class.java) { Store.open(junk.toString(), null) }
        assertTrue(e is StoreException.WrongKey || e is StoreException.Incompatible, e.javaClass.name)
        val missingDir = dir.resolve("no/such/dir/x.db")
        assertThrows(StoreException.Storage::class.java) { Store.open(missingDir.toString(), null) }
    }

    @Test
    fun `calls on a closed store are Closed, for register and sync alike`() {
        store.closeStore()
        assertTrue(store.isClosed())
        assertTrue(assertThrows(StoreException.Closed::class.java) { store.cell(cell) }.detail.isNotBlank())
        assertThrows(StoreException.Closed::class.java) { store.createCell("x", "a/b/c/d", null) }
        assertThrows(StoreException.Closed::class.java) { store.identity() }
        assertThrows(StoreException.Closed::class.java) { store.subscribe(object : CellObserver { override fun cellsChanged(cellIds: List<String>) {} }) }
        assertThrows(SyncException.Closed::class.java) { store.startSync(null) }
        assertThrows(SyncException.Closed::class.java) { store.acceptSync() }
        assertThrows(SyncException.Closed::class.java) { store.exportBundle(emptyList(), null) }
        assertThrows(SyncException.Closed::class.java) { store.importBundle(byteArrayOf(1, 2, 3)) }
        assertThrows(SyncException.Closed::class.java) { store.syncWithHub("http://127.0.0.1:9") }
        store.unsubscribe(1uL) // harmless
    }

    @Test
    fun `garbage bytes are Malformed`() {
        val garbage = ByteArray(200) { (it * 7).toByte() }
        val responder = store.acceptSync()
        assertTrue(assertThrows(SyncException.Malformed::class.java) { responder.receive(garbage) }.detail.isNotBlank())
        val initiator = store.startSync(null).session
        assertThrows(SyncException.Malformed::class.java) { initiator.receive(garbage) }
        assertThrows(SyncException.Malformed::class.java) { store.importBundle(garbage) }
        assertThrows(SyncException.Malformed::class.java) { store.importBundle(ByteArray(0)) }
        assertThrows(SyncException.Malformed::class.java) { store.acceptSync().receive(ByteArray(0)) }
    }

    @Test
    fun `a message replayed into a finished session or fed to another session is SessionFailed`() {
        val peer = openStore(dir, "peer.db")
        try {
            val start = store.startSync(null)
            val responder = peer.acceptSync()
            val replies = mutableListOf<ByteArray>()
            var message: ByteArray = start.message
            while (true) {
                val reply = responder.receive(message)!!
                replies += reply
                message = start.session.receive(reply) ?: break
            }
            assertTrue(start.session.isDone())
            // Replayed into the finished session.
            val finished = assertThrows(SyncException.SessionFailed::class.java) { start.session.receive(replies.first()) }
            assertTrue(finished.detail.isNotBlank())

            // Another session of the same store gets a reply meant for the first.
            val second = store.startSync(null)
            assertThrows(SyncException.SessionFailed::class.java) { second.session.receive(replies.first()) }
            // The failed session cannot go on: its own reply is refused now.
            val ownReply = peer.acceptSync().receive(second.message)!!
            assertThrows(SyncException.SessionFailed::class.java) { second.session.receive(ownReply) }

            // An opening message where a bundle is expected, and the reverse.
            assertThrows(SyncException.SessionFailed::class.java) { peer.importBundle(store.startSync(null).message) }
            val bundle = store.exportBundle(emptyList(), null).data
            assertThrows(SyncException.SessionFailed::class.java) { peer.acceptSync().receive(bundle) }
        } finally {
            peer.closeStore()
            peer.destroy()
        }
    }

    @Test
    fun `hub addresses that cannot be used or reached`() {
        val bad = assertThrows(SyncException.BadHubUrl::class.java) { store.syncWithHub("ftp://hub.example/") }
        assertEquals("ftp://hub.example/", bad.url)
        assertTrue(bad.detail.isNotBlank())
        assertThrows(SyncException.BadHubUrl::class.java) { store.syncWithHub("http://") }
        assertThrows(SyncException.BadHubUrl::class.java) { store.enroll("not a url at all", "0".repeat(32) + "." + "0".repeat(16)) }

        val down = assertThrows(SyncException.HubUnreachable::class.java) { store.syncWithHub("http://127.0.0.1:9") }
        assertTrue(down.url.contains("127.0.0.1:9"), down.url)
        assertTrue(down.detail.isNotBlank())
        assertThrows(SyncException.HubUnreachable::class.java) {
            store.enroll("http://127.0.0.1:9", "0123456789abcdef0123456789abcdef.0123456789abcdef")
        }
        assertThrows(SyncException.BadToken::class.java) { store.enroll("http://127.0.0.1:9", "not-a-token") }
        assertFalse(store.identity().enrolled, "nothing changed")
    }
}
