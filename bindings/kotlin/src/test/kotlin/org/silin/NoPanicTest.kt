package org.silin

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.random.Random

/**
 * Hostile input, closed stores and threads: every failure is a
 * StoreException or SyncException (a Rust panic would arrive as
 * InternalException and fail [silinOutcome]), and the store stays
 * consistent.
 */
class NoPanicTest {

    @TempDir
    lateinit var dir: Path

    private fun populated(store: Store): Triple<String, String, String> {
        val cell = store.createCell("Fourth cell", "Liangdang/Zhangjia/Hongqi/Group 3", "Wang Fang")
        val h = store.addHousehold(cell, NewHousehold(address = "12 East Lane"))
        val m = store.addMember(h, NewMember(name = "Wang Lei", phone = "13800138000"))
        repeat(5) { i ->
            store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = 36.0 + i * 0.4, at = at("09:0$i")))
        }
        store.addTask(cell, NewTask(title = "errand", householdId = h))
        store.submitReport(cell, NewReport(date = DAY, by = "lead", arrivals = 0L, abnormal = 1L, at = at("18:00")))
        return Triple(cell, h, m)
    }

    /** Every cell reads back whole and the query tables agree with the documents. */
    private fun assertConsistent(store: Store) {
        val cells = store.cells(emptyList())
        var visitsOnDay = 0
        for (c in cells) {
            val view = store.cell(c.id)
            assertEquals(c, view.cell)
            visitsOnDay += view.visits.count { it.at.startsWith(DAY) }
            for (h in view.households) for (m in h.members) assertEquals(m, store.member(m.id))
        }
        assertEquals(visitsOnDay, store.visitsOn(DAY).size, "visit table matches the documents")
        store.rollup(DAY, Level.COUNTY)
        assertEquals(cells.size.toLong(), store.rollup(DAY, Level.GROUP).sumOf { it.cells })
    }

    @Test
    fun `malformed, truncated and corrupted bytes never panic`() {
        val a = openStore(dir, "a.db")
        val b = openStore(dir, "b.db")
        populated(a)
        populated(b)
        val random = Random(20261129)
        val inputs = mutableListOf<ByteArray>()
        inputs += ByteArray(0)
        inputs += ByteArray(1)
        repeat(40) { inputs += random.nextBytes(random.nextInt(1, 4096)) }
        // Real messages, cut short at many lengths and with bytes flipped.
        val hello = a.startSync(null).message
        val reply = b.acceptSync().receive(hello)!!
        val bundle = a.exportBundle(emptyList(), null).data
        for (real in listOf(hello, reply, bundle)) {
            for (len in (0 until real.size).filter { it < 64 || it % (real.size / 40 + 1) == 0 }) {
                inputs += real.copyOf(len)
            }
            repeat(40) {
                val flipped = real.copyOf()
                val at = random.nextInt(flipped.size)
                flipped[at] = (flipped[at].toInt() xor (1 shl random.nextInt(8))).toByte()
                inputs += flipped
            }
            inputs += real + random.nextBytes(16)
        }

        var failures = 0
        for ((i, bytes) in inputs.withIndex()) {
            // As the first message to a responder, as a reply to an
            // initiator, and as a bundle.
            if (silinOutcome("responder.receive #$i") { b.acceptSync().receive(bytes) } != null) failures++
            if (silinOutcome("initiator.receive #$i") { a.startSync(null).session.receive(bytes) } != null) failures++
            if (silinOutcome("importBundle #$i") { b.importBundle(bytes) } != null) failures++
        }
        assertTrue(failures > inputs.size * 2, "most of these inputs are refused ($failures)")

        listOf(a, b).forEach { it.closeStore(); it.destroy() }
        for (name in listOf("a.db", "b.db")) {
            val s = openStore(dir, name)
            assertConsistent(s)
            s.closeStore()
            s.destroy()
        }
    }

    @Test
    fun `bad ids in every call never panic`() {
        val store = openStore(dir)
        val (cell, household, member) = populated(store)
        val calls: List<Pair<String, (String) -> Unit>> = listOf(
            "cell" to { id -> store.cell(id) },
            "conflicts" to { id -> store.conflicts(id) },
            "member" to { id -> store.member(id) },
            "renameCell" to { id -> store.renameCell(id, "x") },
            "setLead" to { id -> store.setLead(id, "x") },
            "addHousehold" to { id -> store.addHousehold(id, NewHousehold()) },
            "addMember" to { id -> store.addMember(id, NewMember(name = "x")) },
            "editMember" to { id -> store.editMember(id, listOf(MemberEdit.SetName("x"))) },
            "recordVisit cell" to { id -> store.recordVisit(id, NewVisit(kind = VisitKind.CALL, by = "x")) },
            "recordVisit member" to { id -> store.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "x", memberId = id, temperature = 36.6)) },
            "recordVisit household" to { id -> store.recordVisit(cell, NewVisit(kind = VisitKind.DOOR_KNOCK, by = "x", householdId = id)) },
            "recordVisit task" to { id -> store.recordVisit(cell, NewVisit(kind = VisitKind.ERRAND, by = "x", taskId = id)) },
            "submitReport" to { id -> store.submitReport(id, NewReport(date = DAY, by = "x", arrivals = 0L, abnormal = 0L)) },
            "addTask" to { id -> store.addTask(id, NewTask(title = "x")) },
            "addTask household" to { id -> store.addTask(cell, NewTask(title = "x", householdId = id, memberId = id)) },
            "setTaskStatus cell" to { id -> store.setTaskStatus(id, id, TaskStatus.DONE) },
            "setTaskStatus task" to { id -> store.setTaskStatus(cell, id, TaskStatus.DONE) },
            "underMonitoring" to { id -> store.underMonitoring(id) },
            "monitoringEnds" to { id -> store.monitoringEnds(id) },
            "visitsOn" to { id -> store.visitsOn(id) },
            "cellsMissingReport" to { id -> store.cellsMissingReport(id) },
            "rollup" to { id -> store.rollup(id, Level.VILLAGE) },
            "cells" to { id -> store.cells(listOf(id)) },
            "exportBundle" to { id -> store.exportBundle(listOf(id), null) },
            "exportBundle forPeer" to { id -> store.exportBundle(emptyList(), id) },
            "startSync" to { id -> store.startSync(id).session.destroy() },
            "setDeviceName" to { id -> store.setDeviceName(id) },
            "createCell" to { id -> store.createCell(id, "$id/$id/$id/$id", id) },
            "checkResidentId" to { id -> checkResidentId(id) },
            "syncWithHub" to { id -> if (id.length < 200) store.syncWithHub(id) },
            "enroll" to { id -> if (id.length < 200) store.enroll(id, id) },
        )
        val before = store.cell(cell)
        val outcomes = mutableMapOf<String, Int>()
        for ((name, call) in calls) {
            for (id in BAD_IDS) {
                if (name.startsWith("syncWithHub") || name.startsWith("enroll")) {
                    // Only ids that cannot reach a network: no host, or a refused port.
                    if (id.contains("127.0.0.1") || id.contains(".")) continue
                }
                val e = silinOutcome("$name(${id.take(40)})") { call(id) }
                if (e != null) outcomes.merge(e.javaClass.simpleName, 1, Int::plus)
            }
        }
        assertTrue(outcomes.isNotEmpty())
        assertTrue(outcomes.keys.all { it in setOf("Invalid", "NotFound", "BadHubUrl", "HubUnreachable", "BadToken", "Storage") }, outcomes.toString())
        // The bad ids reached nothing in the populated cell beyond what some
        // calls may legitimately add (names and leads are free text).
        assertEquals(before.households.map { it.id }, store.cell(cell).households.map { it.id })
        assertEquals(member, store.member(member).id)
        assertEquals(household, store.member(member).householdId)
        store.closeStore()
        store.destroy()
        openStore(dir).also { assertConsistent(it); it.closeStore(); it.destroy() }
    }

    @Test
    fun `every call on a closed store is a Closed exception`() {
        val store = openStore(dir)
        val (cell, household, member) = populated(store)
        val pending = store.startSync(null)
        val responder = store.acceptSync()
        store.closeStore()
        val calls: List<Pair<String, () -> Unit>> = listOf(
            "identity" to { store.identity() },
            "setDeviceName" to { store.setDeviceName("x") },
            "createCell" to { store.createCell("x", "a/b/c/d", null) },
            "renameCell" to { store.renameCell(cell, "x") },
            "setLead" to { store.setLead(cell, "x") },
            "cells" to { store.cells(emptyList()) },
            "cell" to { store.cell(cell) },
            "conflicts" to { store.conflicts(cell) },
            "addHousehold" to { store.addHousehold(cell, NewHousehold()) },
            "addMember" to { store.addMember(household, NewMember(name = "x")) },
            "editMember" to { store.editMember(member, listOf(MemberEdit.SetName("x"))) },
            "member" to { store.member(member) },
            "recordVisit" to { store.recordVisit(cell, NewVisit(kind = VisitKind.CALL, by = "x")) },
            "submitReport" to { store.submitReport(cell, NewReport(date = DAY, by = "x", arrivals = 0L, abnormal = 0L)) },
            "addTask" to { store.addTask(cell, NewTask(title = "x")) },
            "setTaskStatus" to { store.setTaskStatus(cell, randomId(), TaskStatus.DONE) },
            "underMonitoring" to { store.underMonitoring(DAY) },
            "monitoringEnds" to { store.monitoringEnds(DAY) },
            "vulnerableMembers" to { store.vulnerableMembers() },
            "cellsMissingReport" to { store.cellsMissingReport(DAY) },
            "visitsOn" to { store.visitsOn(DAY) },
            "rollup" to { store.rollup(DAY, Level.COUNTY) },
            "subscribe" to { store.subscribe(ObserverTest.Recorder()) },
            "enroll" to { store.enroll("http://127.0.0.1:9", "0".repeat(32) + "." + "0".repeat(16)) },
            "syncWithHub" to { store.syncWithHub("http://127.0.0.1:9") },
            "startSync" to { store.startSync(null) },
            "acceptSync" to { store.acceptSync() },
            "exportBundle" to { store.exportBundle(emptyList(), null) },
            "importBundle" to { store.importBundle(ByteArray(10)) },
            "session.receive" to { pending.session.receive(ByteArray(10)) },
            "responder.receive" to { responder.receive(pending.message) },
        )
        for ((name, call) in calls) {
            val e = silinOutcome(name, call)
            assertTrue(e is StoreException.Closed || e is SyncException.Closed, "$name on a closed store: $e")
        }
        // These answer without the store.
        store.unsubscribe(1uL)
        assertTrue(store.isClosed())
        pending.session.stats()
        responder.isDone()
        store.closeStore()
        store.destroy()
    }

    @Test
    fun `eight threads writing, reading and syncing on one store while it is closed midway`() {
        val shared = openStore(dir, "shared.db")
        val peer = openStore(dir, "peer.db")
        val (cell, household, member) = populated(shared)
        syncStores(shared, peer).destroy()
        val peerCell = peer.createCell("Peer cell", "Liangdang/Zhangjia/Hongqi/Group 9", null)

        val threads = 8
        val opsPerThread = 40
        val halfway = CountDownLatch(threads)
        val closed = CountDownLatch(1)
        val start = CountDownLatch(1)
        val unexpected = ConcurrentLinkedQueue<Throwable>()
        val committedVisits = Collections.synchronizedList(mutableListOf<String>())
        val committedHouseholds = Collections.synchronizedList(mutableListOf<String>())
        val closedErrors = AtomicInteger()
        val observed = AtomicInteger()
        shared.subscribe(object : CellObserver {
            override fun cellsChanged(cellIds: List<String>) {
                observed.incrementAndGet()
            }
        })

        fun op(t: Int, i: Int) {
            when ((t + i) % 8) {
                0 -> committedVisits += shared.recordVisit(cell, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "t$t", memberId = member, temperature = 36.6, at = at("10:00")))
                1 -> committedHouseholds += shared.addHousehold(cell, NewHousehold(door = "t$t-$i"))
                2 -> shared.editMember(member, listOf(MemberEdit.SetRelation("r$t-$i")))
                3 -> { shared.cell(cell); shared.visitsOn(DAY); shared.rollup(DAY, Level.VILLAGE) }
                4 -> syncStores(if (i % 2 == 0) shared else peer, if (i % 2 == 0) peer else shared).destroy()
                5 -> { val bundle = peer.exportBundle(emptyList(), null); shared.importBundle(bundle.data); shared.exportBundle(emptyList(), null) }
                6 -> { shared.underMonitoring(DAY); shared.vulnerableMembers(); shared.cellsMissingReport(DAY); shared.member(member) }
                else -> { shared.cell(randomId()) }
            }
        }

        val workers = (0 until threads).map { t ->
            Thread {
                start.await()
                for (i in 0 until opsPerThread) {
                    if (i == opsPerThread / 2) halfway.countDown()
                    try {
                        op(t, i)
                    } catch (e: StoreException.Closed) {
                        closedErrors.incrementAndGet()
                    } catch (e: SyncException.Closed) {
                        closedErrors.incrementAndGet()
                    } catch (e: StoreException) {
                        // NotFound for the random id; anything else is checked below.
                        if (e !is StoreException.NotFound) unexpected += e
                    } catch (e: SyncException) {
                        unexpected += e
                    } catch (e: Throwable) {
                        unexpected += e
                    }
                }
                // One call after the close has certainly happened.
                closed.await()
                try {
                    op(t, 0)
                    unexpected += AssertionError("a call after close succeeded")
                } catch (e: StoreException.Closed) {
                    closedErrors.incrementAndGet()
                } catch (e: SyncException.Closed) {
                    closedErrors.incrementAndGet()
                } catch (e: Throwable) {
                    unexpected += e
                }
            }.also { it.start() }
        }
        val closer = Thread {
            try {
                halfway.await()
                shared.closeStore()
                shared.closeStore()
            } catch (e: Throwable) {
                unexpected += e
            } finally {
                closed.countDown()
            }
        }.also { it.start() }
        start.countDown()
        closer.join(TimeUnit.MINUTES.toMillis(5))
        workers.forEach { it.join(TimeUnit.MINUTES.toMillis(5)) }
        assertTrue(workers.none { it.isAlive } && !closer.isAlive, "all threads finished")

        assertTrue(unexpected.isEmpty(), "unexpected: " + unexpected.joinToString { "${it.javaClass.name}: ${it.message}" })
        assertTrue(closedErrors.get() >= threads, "each thread saw the store closed")
        assertTrue(shared.isClosed())
        assertTrue(observed.get() > 0)

        // Reopened, everything that was reported committed is there, and the
        // store is consistent; the peer is intact too.
        shared.destroy()
        val reopened = openStore(dir, "shared.db")
        val view = reopened.cell(cell)
        val visitIds = view.visits.map { it.id }.toSet()
        assertTrue(visitIds.containsAll(committedVisits), "every committed visit survived")
        assertTrue(view.households.map { it.id }.containsAll(committedHouseholds), "every committed household survived")
        assertConsistent(reopened)
        // A sync after the storm brings both stores to the same state.
        syncStores(reopened, peer).destroy()
        assertEquals(reopened.cell(cell), peer.cell(cell))
        assertEquals(reopened.cell(peerCell), peer.cell(peerCell))
        assertConsistent(peer)
        listOf(reopened, peer).forEach { it.closeStore(); it.destroy() }
    }
}
