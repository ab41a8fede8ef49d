package org.silin

import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import java.nio.file.Path
import java.util.UUID

/** A fixed day, so that every query and report in the tests names it. */
const val DAY = "2026-11-29"
const val NEXT_DAY = "2026-11-30"

/** An instant on [DAY] in the cell's time zone. */
fun at(hhmm: String, day: String = DAY) = "${day}T$hhmm:00+08:00"

/** Opens (creating) the store file `name` in `dir`. */
fun openStore(dir: Path, name: String = "silin.db", key: String? = null): Store =
    Store.open(dir.resolve(name).toString(), key)

/**
 * A valid 18-character resident ID number: region 110105, the given birth
 * date (YYYYMMDD), sequence `seq` (3 digits; odd for men, even for women)
 * and the ISO 7064 MOD 11-2 check character.
 */
fun residentId(birth: String, seq: String = "002"): String {
    val body = "110105$birth$seq"
    require(body.length == 17)
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val check = "10X98765432"
    val sum = body.mapIndexed { i, c -> (c - '0') * weights[i] }.sum()
    return body + check[sum % 11]
}

/** The same number with a wrong check character. */
fun withWrongCheck(id: String): String {
    val last = id.last()
    val other = if (last == '0') '1' else '0'
    return id.dropLast(1) + other
}

fun randomId(): String = UUID.randomUUID().toString()

/**
 * Runs one app-carried sync: `a` starts, `b` accepts, the bytes go back and
 * forth until `a`'s session returns null, then a's closing message ends b's
 * session. Returns a's session, done.
 */
fun syncStores(a: Store, b: Store, peer: String? = null): SyncSession {
    val start = a.startSync(peer)
    val initiator = start.session
    val responder = b.acceptSync()
    var message = start.message
    var rounds = 0
    while (true) {
        val reply = responder.receive(message)
            ?: fail("the responder ended the session; only the initiator may")
        val next = initiator.receive(reply) ?: break
        message = next
        rounds++
        assertTrue(rounds < 1000, "sync did not settle")
    }
    assertTrue(initiator.isDone(), "initiator done after a null reply")
    initiator.closeMessage()?.let { assertNull(responder.receive(it), "the closing message ends the responder") }
    assertTrue(responder.isDone(), "responder done after the closing message")
    responder.destroy()
    return initiator
}

/**
 * What a silin call may throw: only StoreException or SyncException. Any
 * other throwable (InternalException is how uniffi reports a Rust panic)
 * fails the test. Returns the silin exception, or null on success.
 */
inline fun silinOutcome(what: String, block: () -> Unit): Exception? {
    return try {
        block()
        null
    } catch (e: StoreException) {
        e
    } catch (e: SyncException) {
        e
    } catch (e: Throwable) {
        throw AssertionError("$what threw ${e.javaClass.name} (${e.message}), not a StoreException or SyncException", e)
    }
}

/** The ids a bad-id test feeds to every call that takes one. */
val BAD_IDS: List<String> = listOf(
    "",
    "nope",
    " ",
    randomId(),
    randomId().uppercase(),
    "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f",
    "x".repeat(100_000),
    "\u0000",
    "abc\u0000def",
    "\u0001\u0002\u001b[31m\n\r\t",
    "🙂".repeat(1000),
    "'; DROP TABLE cells; --",
    "../../etc/passwd",
    "\uFFFF\uFFFE",
)
