package org.silin.demo

import org.silin.Store
import org.silin.SyncException
import org.silin.SyncStats
import java.io.IOException

/**
 * Runs one silin sync session over a [PeerLink]. One phone initiates, the
 * other responds; both call this with the same link's two ends.
 *
 * silin's sessions turn each peer message into the next message; the
 * initiator learns the sync is over when its session returns null, and then
 * sends its session's closing message (if any), which ends the responder's
 * session too. Each message on the link carries one leading byte: [DATA] +
 * a session message; [DONE], the initiator's last frame, after which the
 * responder stops listening (also when there was nothing to close because
 * both phones were equal); or [ABORT] + a UTF-8 reason when either side
 * gives up. ios-demo's PeerSync frames the same way.
 */
object PeerSync {
    const val DATA: Byte = 1
    const val DONE: Byte = 2
    const val ABORT: Byte = 3

    /** What one sync moved, and who the peer was (null for an unenrolled peer). */
    data class Result(val stats: SyncStats, val peerDeviceId: String?)

    /** Opens a sync with the phone at the other end of [link]. Blocking. */
    @Throws(SyncException::class, IOException::class)
    fun initiate(store: Store, link: PeerLink, peerDeviceId: String? = null): Result {
        val start = store.startSync(peerDeviceId)
        start.session.use { session ->
            link.send(frame(DATA, start.message))
            while (true) {
                val message = link.receive()
                when (message.firstOrNull()) {
                    DATA -> {
                        val reply = step(link) { session.receive(message.copyOfRange(1, message.size)) }
                        if (reply == null) {
                            session.closeMessage()?.let { link.send(frame(DATA, it)) }
                            link.send(byteArrayOf(DONE))
                            return Result(session.stats(), session.peerDeviceId())
                        }
                        link.send(frame(DATA, reply))
                    }
                    ABORT -> throw PeerAbortedException(reason(message))
                    else -> {
                        link.send(abort("unexpected message"))
                        throw PeerLinkException("the other phone sent something that is not a silin sync")
                    }
                }
            }
        }
    }

    /** Answers a sync the phone at the other end of [link] opens. Blocking. */
    @Throws(SyncException::class, IOException::class)
    fun respond(store: Store, link: PeerLink): Result {
        store.acceptSync().use { session ->
            while (true) {
                val message = link.receive()
                when (message.firstOrNull()) {
                    DATA -> {
                        // The closing message gets no answer; DONE follows it.
                        val reply = step(link) { session.receive(message.copyOfRange(1, message.size)) }
                        if (reply != null) link.send(frame(DATA, reply))
                    }
                    DONE -> return Result(session.stats(), session.peerDeviceId())
                    ABORT -> throw PeerAbortedException(reason(message))
                    else -> {
                        link.send(abort("unexpected message"))
                        throw PeerLinkException("the other phone sent something that is not a silin sync")
                    }
                }
            }
        }
    }

    /** Runs one session step; if silin refuses, tells the peer before rethrowing. */
    private inline fun step(link: PeerLink, receive: () -> ByteArray?): ByteArray? =
        try {
            receive()
        } catch (e: SyncException) {
            try {
                link.send(abort(UserMessages.of(e)))
            } catch (_: IOException) {
            }
            throw e
        }

    private fun frame(kind: Byte, payload: ByteArray): ByteArray {
        val out = ByteArray(payload.size + 1)
        out[0] = kind
        payload.copyInto(out, 1)
        return out
    }

    private fun abort(reason: String): ByteArray = frame(ABORT, reason.toByteArray(Charsets.UTF_8))

    private fun reason(message: ByteArray): String =
        String(message, 1, message.size - 1, Charsets.UTF_8).take(500)
}

/** The other phone gave up the sync and said why. */
class PeerAbortedException(val reason: String) : IOException("the other phone stopped the sync: $reason")
