package org.silin

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/** The background-sync policy a WorkManager worker applies, on the JVM. */
class BackgroundSyncTest {

    @TempDir
    lateinit var dir: Path

    @Test
    fun `retries wait twice as long each time, up to the cap`() {
        val p = BackgroundSyncPolicy()
        assertEquals(listOf(30.seconds, 60.seconds, 120.seconds, 240.seconds), (0..3).map(p::backoff))
        assertEquals(5.hours, p.backoff(20))
        assertEquals(5.hours, p.backoff(1000))
        val short = BackgroundSyncPolicy(initialBackoff = 10.seconds, maxBackoff = 1.minutes)
        assertEquals(listOf(10.seconds, 20.seconds, 40.seconds, 1.minutes, 1.minutes), (0..4).map(short::backoff))
    }

    @Test
    fun `a policy outside what the scheduler allows is refused`() {
        assertThrows(IllegalArgumentException::class.java) { BackgroundSyncPolicy(every = 5.minutes) }
        assertThrows(IllegalArgumentException::class.java) { BackgroundSyncPolicy(flex = 2.hours) }
        assertThrows(IllegalArgumentException::class.java) { BackgroundSyncPolicy(initialBackoff = 1.seconds) }
        assertThrows(IllegalArgumentException::class.java) { BackgroundSyncPolicy(maxBackoff = 6.hours) }
    }

    @Test
    fun `failures that may pass are retried, those a person must fix are not`() {
        val p = BackgroundSyncPolicy()
        assertEquals(SyncDecision.Done, p.decide(null, 0))
        assertEquals(SyncDecision.Retry(30.seconds), p.decide(SyncException.HubUnreachable("http://hub", "down"), 0))
        assertEquals(SyncDecision.Retry(60.seconds), p.decide(SyncException.SessionFailed("cut"), 1))
        assertEquals(SyncDecision.Retry(30.seconds), p.decide(SyncException.Cancelled("stopped"), 0))
        assertEquals(SyncDecision.Retry(30.seconds), p.decide(SyncException.HubRefused(503u, "busy", "later"), 0))
        for (e in listOf(
            SyncException.NotEnrolled("enrol"),
            SyncException.Refused("revoked"),
            SyncException.ClockSkew("set the clock"),
            SyncException.BadHubUrl("x", "bad"),
            SyncException.HubRefused(403u, "identity", "revoked"),
            StoreException.WrongKey("key"),
        )) {
            assertTrue(p.decide(e, 0) is SyncDecision.GiveUp, "$e")
        }
        val last = p.decide(SyncException.HubUnreachable("http://hub", "down"), p.maxAttempts - 1)
        assertTrue(last is SyncDecision.GiveUp && "attempts" in last.reason, "$last")
    }

    @Test
    fun `a worker's sync against a real hub retries while it is unreachable, done once it answers`() = runBlocking {
        Hub.start(dir).use { hub ->
            val phone = openStore(dir, "phone.db")
            assertTrue(phone.backgroundSync(hub.url, 0) is SyncDecision.GiveUp, "not enrolled: a person must act")
            phone.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
            createCells(phone, 2)
            assertEquals(SyncDecision.Retry(30.seconds), phone.backgroundSync("http://127.0.0.1:9", 0))
            assertEquals(SyncDecision.Done, phone.backgroundSync(hub.url, 1))
            assertEquals(SyncPhase.IDLE, phone.syncStatus().phase)
            phone.closeStore()
        }
    }
}
