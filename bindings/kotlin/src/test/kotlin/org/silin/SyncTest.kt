package org.silin

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/** Two phones, both unenrolled ("open mode"), syncing through the app. */
class SyncTest {

    @TempDir
    lateinit var dir: Path
    lateinit var a: Store
    lateinit var b: Store

    @BeforeEach
    fun open() {
        a = openStore(dir, "a.db")
        b = openStore(dir, "b.db")
    }

    @AfterEach
    fun close() {
        for (s in listOf(a, b)) {
            s.closeStore()
            s.destroy()
        }
    }

    @Test
    fun `two stores sync over app-carried bytes, then merge concurrent edits with a conflict`() {
        assertNotEquals(a.identity().deviceId, b.identity().deviceId)

        val cell = a.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", "Wang Fang")
        val household = a.addHousehold(cell, NewHousehold(address = "12 East Lane"))
        val member = a.addMember(household, NewMember(name = "Wang Lei", phone = "13800138000"))
        val other = a.addMember(household, NewMember(name = "Wang Fang"))
        a.recordVisit(cell, NewVisit(kind = VisitKind.DOOR_KNOCK, by = "Wang Fang", householdId = household, at = at("08:00")))

        // First sync: b has nothing, receives the cell whole.
        val first = syncStores(a, b)
        val stats = first.stats()
        assertEquals(1uL, stats.docsSent)
        assertEquals(0uL, stats.docsReceived)
        assertTrue(stats.bytesUp > 0uL && stats.bytesDown > 0uL)
        assertTrue(stats.roundTrips >= 2u)
        // Unenrolled peers are anonymous to each other: open mode keeps no
        // per-peer state, so no peer id is reported.
        assertEquals(null, first.peerDeviceId())
        first.destroy()
        assertEquals(a.cell(cell), b.cell(cell))
        assertEquals("Wang Lei", b.member(member).name)

        // Nothing changed: one round trip settles it.
        val idle = syncStores(a, b)
        assertEquals(1u, idle.stats().roundTrips)
        assertEquals(0uL, idle.stats().docsSent)
        idle.destroy()

        // Both phones edit while apart, including the same field.
        a.editMember(member, listOf(MemberEdit.SetPhone("13911112222"), MemberEdit.SetRelation("son")))
        b.editMember(member, listOf(MemberEdit.SetPhone("13733334444")))
        b.editMember(other, listOf(MemberEdit.SetBirthYear(1980L)))
        a.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "Wang Fang", memberId = member, temperature = 36.7, at = at("09:00")))
        b.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "Chen Jie", memberId = other, temperature = 37.5, at = at("09:05")))
        b.submitReport(cell, NewReport(date = DAY, by = "Chen Jie", arrivals = 0L, abnormal = 1L, at = at("18:00")))
        assertNotEquals(a.cell(cell), b.cell(cell))

        // b starts this time.
        syncStores(b, a).destroy()

        val viewA = a.cell(cell)
        val viewB = b.cell(cell)
        assertEquals(viewA, viewB, "both replicas end equal")
        assertEquals(3, viewA.visits.size)
        assertEquals(1, viewA.reports.size)
        assertEquals("son", a.member(member).relation, "a's edit kept")
        assertEquals(1980L, a.member(other).birthYear, "b's edit kept")

        // The concurrent phone edits are one conflict, with both values kept.
        val conflict = viewA.conflicts.single()
        assertTrue(conflict.path.contains(member) && conflict.path.endsWith("phone"), conflict.path)
        assertEquals(2, conflict.values.size)
        assertTrue(conflict.values.any { it.contains("13911112222") }, conflict.values.toString())
        assertTrue(conflict.values.any { it.contains("13733334444") }, conflict.values.toString())
        assertEquals(viewA.conflicts, b.conflicts(cell))
        assertEquals(a.member(member).phone, b.member(member).phone, "both show the same winner")

        // Queries on b see what came from a.
        assertEquals(2, b.visitsOn(DAY).count { it.kind == VisitKind.HEALTH_CHECK })
        assertEquals(1, a.visitsOn(DAY).count { it.abnormal })
        assertTrue(a.cellsMissingReport(DAY).isEmpty(), "b's report reached a")

        // Resolving the conflict on one side and syncing clears it on both.
        a.editMember(member, listOf(MemberEdit.SetPhone("13911112222")))
        syncStores(a, b, b.identity().deviceId).destroy()
        assertTrue(a.cell(cell).conflicts.isEmpty())
        assertTrue(b.cell(cell).conflicts.isEmpty())
        assertEquals("13911112222", b.member(member).phone)
        assertEquals(a.cell(cell), b.cell(cell))
    }

    @Test
    fun `bundles carry cells by hand and importing twice changes nothing`() {
        val c1 = a.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        val c2 = a.createCell("Fifth cell", "Liangdang/Zhangjia/Hongqi/Group 4", null)
        val h = a.addHousehold(c1, NewHousehold(door = "1-1"))
        a.addMember(h, NewMember(name = "Zhao Xiuying", vulnerable = listOf(Vulnerability.ELDERLY)))

        val all = a.exportBundle(emptyList(), null)
        assertEquals(2u, all.cells)
        assertTrue(all.data.isNotEmpty())

        val imported = b.importBundle(all.data)
        assertEquals(BundleImport(cells = 2u, changed = 2u), imported)
        assertEquals(a.cell(c1), b.cell(c1))
        assertEquals(a.cell(c2), b.cell(c2))
        assertEquals(1, b.vulnerableMembers().size)

        val again = b.importBundle(all.data)
        assertEquals(2u, again.cells)
        assertEquals(0u, again.changed, "re-import changes nothing")
        assertEquals(a.cell(c1), b.cell(c1))

        // One cell only; b's edit back to a by bundle.
        b.recordVisit(c2, NewVisit(kind = VisitKind.CALL, by = "Chen Jie", at = at("11:00"), note = "called the group"))
        val one = b.exportBundle(listOf(c2), null)
        assertEquals(1u, one.cells)
        assertEquals(BundleImport(cells = 1u, changed = 1u), a.importBundle(one.data))
        assertEquals(b.cell(c2), a.cell(c2))
        assertEquals("called the group", a.cell(c2).visits.single().note)
        assertEquals(0u, a.importBundle(one.data).changed)

        // The exported bytes are a snapshot: exporting again from an
        // unchanged store gives a bundle that also changes nothing.
        assertEquals(0u, b.importBundle(a.exportBundle(emptyList(), null).data).changed)
    }

    @Test
    fun `in open mode a bundle for a peer carries whole cells, and still merges once`() {
        val cell = a.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        val h = a.addHousehold(cell, NewHousehold(door = "1-1"))
        syncStores(a, b).destroy()
        assertEquals(a.cell(cell), b.cell(cell))

        a.addMember(h, NewMember(name = "Wang Lei"))
        val whole = a.exportBundle(listOf(cell), null)
        // No sync state is kept for an anonymous peer, so "only what it
        // lacks" is everything.
        val forPeer = a.exportBundle(listOf(cell), b.identity().deviceId)
        assertEquals(1u, forPeer.cells)
        assertEquals(whole.data.size, forPeer.data.size)
        assertEquals(BundleImport(1u, 1u), b.importBundle(forPeer.data))
        assertEquals(a.cell(cell), b.cell(cell))
        assertEquals(BundleImport(1u, 0u), b.importBundle(whole.data))
        // An unknown peer id is no error: everything goes whole.
        assertEquals(1u, a.exportBundle(emptyList(), randomId()).cells)
    }

    @Test
    fun `sessions and stats are usable from the app's side`() {
        a.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", null)
        val start = a.startSync(null)
        assertFalse(start.session.isDone())
        assertEquals(null, start.session.peerDeviceId())
        val responder = b.acceptSync()
        val reply = responder.receive(start.message)!!
        assertEquals(null, responder.peerDeviceId(), "an unenrolled peer is anonymous")
        var next = start.session.receive(reply)
        while (next != null) {
            next = start.session.receive(responder.receive(next)!!)
        }
        assertTrue(start.session.isDone())
        assertEquals(a.cells(emptyList()), b.cells(emptyList()))
        // Each side's byte counts mirror the other's.
        assertEquals(start.session.stats().bytesUp, responder.stats().bytesDown)
        assertEquals(start.session.stats().bytesDown, responder.stats().bytesUp)
        start.destroy()
        responder.destroy()
    }
}
