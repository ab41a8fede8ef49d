package org.silin.demo

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.Executor

/** A value that changes over time, readable at any moment and observable. */
interface Observable<T> {
    /** The latest value. */
    val value: T

    /**
     * Calls [listener] with the current value and after every change, on the
     * view-model's UI executor. Listeners are always handed the latest value
     * (never a stale one), so a burst of changes may arrive as fewer calls.
     * Close the returned handle to stop listening.
     */
    fun observe(listener: (T) -> Unit): AutoCloseable
}

/** The view-model's side of an [Observable]: thread-safe updates. */
class MutableObservable<T>(initial: T, private val deliver: Executor) : Observable<T> {
    private val lock = Any()

    @Volatile
    private var current: T = initial
    private val listeners = CopyOnWriteArrayList<(T) -> Unit>()

    override val value: T
        get() = current

    /** Replaces the value with `change(value)` atomically and tells listeners. */
    fun update(change: (T) -> T): T {
        val next = synchronized(lock) {
            current = change(current)
            current
        }
        for (listener in listeners) {
            deliver.execute { if (listeners.contains(listener)) listener(current) }
        }
        return next
    }

    override fun observe(listener: (T) -> Unit): AutoCloseable {
        listeners.add(listener)
        deliver.execute { if (listeners.contains(listener)) listener(current) }
        return AutoCloseable { listeners.remove(listener) }
    }
}
