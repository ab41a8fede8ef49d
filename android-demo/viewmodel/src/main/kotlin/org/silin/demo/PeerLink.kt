package org.silin.demo

import java.io.BufferedInputStream
import java.io.BufferedOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.EOFException
import java.io.IOException
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.SocketTimeoutException
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * A two-way channel to one nearby device that carries whole messages: what
 * one side [send]s, the other side [receive]s, in order, unchanged. The
 * Android layer implements it over whatever it has (a TCP socket on the local
 * Wi-Fi: [SocketPeerLink]; Bluetooth or Nearby would fit the same shape).
 * A link is used by one sync at a time, from one thread.
 */
interface PeerLink : AutoCloseable {
    /** Sends one message. Throws [IOException] if the link is broken. */
    @Throws(IOException::class)
    fun send(message: ByteArray)

    /**
     * Waits for the peer's next message. Throws [IOException] if the link is
     * broken, closed, or the peer stays silent too long.
     */
    @Throws(IOException::class)
    fun receive(): ByteArray

    /** Closes the link; the peer's pending [receive] fails. Harmless twice. */
    override fun close()
}

/** The link is broken, closed, or the peer stayed silent too long. */
class PeerLinkException(message: String, cause: Throwable? = null) : IOException(message, cause)

/**
 * Two [PeerLink]s joined in memory: what one sends, the other receives. For
 * tests, and for two stores in one process (e.g. a grid worker's tablet
 * keeping a second register).
 */
class InMemoryPeerLink private constructor(
    private val inbox: LinkedBlockingQueue<Any>,
    private val outbox: LinkedBlockingQueue<Any>,
    private val timeoutMillis: Long,
) : PeerLink {
    @Volatile
    private var closed = false

    override fun send(message: ByteArray) {
        if (closed) throw PeerLinkException("the link is closed")
        outbox.put(message.copyOf())
    }

    override fun receive(): ByteArray {
        if (closed) throw PeerLinkException("the link is closed")
        val item = inbox.poll(timeoutMillis, TimeUnit.MILLISECONDS)
            ?: throw PeerLinkException("the other phone stopped answering")
        if (item === CLOSED) {
            inbox.put(CLOSED) // later receives fail too
            throw PeerLinkException("the other phone closed the link")
        }
        return item as ByteArray
    }

    override fun close() {
        if (!closed) {
            closed = true
            outbox.put(CLOSED)
        }
    }

    companion object {
        private val CLOSED = Any()

        /** Two ends of one link; each end's receive waits at most [timeoutMillis]. */
        fun pair(timeoutMillis: Long = 120_000): Pair<PeerLink, PeerLink> {
            val aToB = LinkedBlockingQueue<Any>()
            val bToA = LinkedBlockingQueue<Any>()
            return InMemoryPeerLink(bToA, aToB, timeoutMillis) to InMemoryPeerLink(aToB, bToA, timeoutMillis)
        }
    }
}

/**
 * A [PeerLink] over a TCP socket, e.g. between two phones on the same Wi-Fi:
 * one side listens ([accept]), the other connects ([connect]). Each message
 * is framed as a 4-byte big-endian length and the bytes.
 */
class SocketPeerLink(private val socket: Socket, readTimeoutMillis: Int = DEFAULT_TIMEOUT_MILLIS) : PeerLink {
    private val input = DataInputStream(BufferedInputStream(socket.getInputStream()))
    private val output = DataOutputStream(BufferedOutputStream(socket.getOutputStream()))

    init {
        socket.soTimeout = readTimeoutMillis
        socket.tcpNoDelay = true
    }

    /** The address of the other device, for showing. */
    val remote: String
        get() = socket.remoteSocketAddress?.toString()?.removePrefix("/") ?: "?"

    override fun send(message: ByteArray) {
        try {
            output.writeInt(message.size)
            output.write(message)
            output.flush()
        } catch (e: IOException) {
            throw PeerLinkException("the connection to the other phone was lost", e)
        }
    }

    override fun receive(): ByteArray {
        try {
            val size = input.readInt()
            if (size < 0 || size > MAX_MESSAGE_BYTES) {
                throw PeerLinkException("the other device sent a message of $size bytes; not a silin peer")
            }
            val bytes = ByteArray(size)
            input.readFully(bytes)
            return bytes
        } catch (e: SocketTimeoutException) {
            throw PeerLinkException("the other phone stopped answering", e)
        } catch (e: EOFException) {
            throw PeerLinkException("the other phone closed the connection", e)
        } catch (e: PeerLinkException) {
            throw e
        } catch (e: IOException) {
            throw PeerLinkException("the connection to the other phone was lost", e)
        }
    }

    override fun close() {
        try {
            socket.close()
        } catch (_: IOException) {
        }
    }

    companion object {
        const val DEFAULT_PORT = 47_310
        const val DEFAULT_TIMEOUT_MILLIS = 60_000

        /** Larger than any one silin sync message (a round is about 8 MiB at most). */
        const val MAX_MESSAGE_BYTES = 64 shl 20

        /** Connects to a listening phone at [host]:[port]. Blocking. */
        @Throws(IOException::class)
        fun connect(host: String, port: Int = DEFAULT_PORT, timeoutMillis: Int = 10_000): SocketPeerLink {
            val socket = Socket()
            try {
                socket.connect(InetSocketAddress(host, port), timeoutMillis)
            } catch (e: IOException) {
                socket.close()
                throw PeerLinkException("could not connect to $host:$port", e)
            }
            return SocketPeerLink(socket)
        }

        /** Waits for one phone to connect to [server]. Blocking. */
        @Throws(IOException::class)
        fun accept(server: ServerSocket): SocketPeerLink = SocketPeerLink(server.accept())
    }
}
