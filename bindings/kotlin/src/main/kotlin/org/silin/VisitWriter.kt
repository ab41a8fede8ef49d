package org.silin

import com.sun.jna.Native
import java.nio.ByteBuffer
import java.nio.charset.StandardCharsets.UTF_8

/**
 * Records visits in one plain native call each, for the screens a lead
 * works through door to door.
 *
 * The same records, rules, durability and errors as [Store.recordVisit] and
 * [Store.recordVisits], at a fraction of the binding's cost per call: the
 * generated call crosses into the library five times, each with a status
 * structure JNA fills by reflection; this one crosses once with byte arrays
 * (doc/BENCHMARKS.md has the figures). Open one per screen and close it
 * with the screen; it keeps the store handle it came from, and answers
 * [StoreException.Closed] once that handle is closed. Safe to share
 * between threads.
 *
 * ```kotlin
 * store.visitWriter().use { w ->
 *     w.recordVisit(cellId, NewVisit(kind = VisitKind.HEALTH_CHECK, by = "lead", memberId = m, temperature = 36.6))
 * }
 * ```
 */
class VisitWriter internal constructor(store: Store) : AutoCloseable {
    private val writer: Long = store.openVisitWriter().toLong()

    /** [Store.recordVisit]: the new visit's id. */
    fun recordVisit(cellId: String, visit: NewVisit): String {
        val cell = cellId.toByteArray(UTF_8)
        val args = encode(FfiConverterTypeNewVisit.allocationSize(visit)) { FfiConverterTypeNewVisit.write(visit, it) }
        val reply = call { out -> HotCalls.silin_hot_record_visit(writer, cell, cell.size, args, args.size, out, out.size) }
        return String(reply.array(), reply.position(), reply.remaining(), UTF_8)
    }

    /** [Store.recordVisits]: a door-knock round, all or none; the ids in order. */
    fun recordVisits(cellId: String, visits: List<NewVisit>): List<String> {
        val cell = cellId.toByteArray(UTF_8)
        val args = encode(FfiConverterSequenceTypeNewVisit.allocationSize(visits)) { FfiConverterSequenceTypeNewVisit.write(visits, it) }
        val reply = call { out -> HotCalls.silin_hot_record_visits(writer, cell, cell.size, args, args.size, out, out.size) }
        return FfiConverterSequenceString.read(reply)
    }

    /** Lets the store handle go; later calls answer [StoreException.Closed]. */
    override fun close() = closeVisitWriter(writer.toULong())

    private inline fun encode(size: ULong, write: (ByteBuffer) -> Unit): ByteArray {
        val buf = ByteBuffer.allocate(size.toInt())
        write(buf)
        return buf.array().copyOf(buf.position())
    }

    /** Runs a hot call and returns its reply's payload, or throws its error. */
    private inline fun call(native: (ByteArray) -> Int): ByteBuffer {
        var out = ByteArray(REPLY_BYTES)
        var len = native(out)
        if (len < 0) {
            // The reply did not fit; it waits on this thread.
            out = ByteArray(-len)
            len = HotCalls.silin_hot_reply(out, out.size)
        }
        val reply = ByteBuffer.wrap(out, 1, len - 1)
        when (out[0]) {
            OK -> return reply
            FAILED -> throw FfiConverterTypeStoreError.read(reply)
            else -> throw InternalException(String(out, 1, len - 1, UTF_8))
        }
    }

    private companion object {
        const val REPLY_BYTES = 512
        const val OK: Byte = 0
        const val FAILED: Byte = 1
    }
}

/** A [VisitWriter] on this store handle; close it when the screen closes. */
fun Store.visitWriter(): VisitWriter = VisitWriter(this)

/** The library's hot calls (bindings/src/hot.rs), JNA direct-mapped. */
private object HotCalls {
    init {
        Native.register(
            HotCalls::class.java,
            System.getProperty("uniffi.component.silin.libraryOverride") ?: "silin_ffi",
        )
    }

    @JvmStatic external fun silin_hot_record_visit(
        writer: Long, cell: ByteArray, cellLen: Int, visit: ByteArray, visitLen: Int, out: ByteArray, cap: Int,
    ): Int

    @JvmStatic external fun silin_hot_record_visits(
        writer: Long, cell: ByteArray, cellLen: Int, visits: ByteArray, visitsLen: Int, out: ByteArray, cap: Int,
    ): Int

    @JvmStatic external fun silin_hot_reply(out: ByteArray, cap: Int): Int
}
