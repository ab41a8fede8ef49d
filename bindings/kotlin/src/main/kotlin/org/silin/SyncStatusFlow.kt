// The store's sync status as a Flow, and a lambda logger: hand-written
// over the generated bindings.
package org.silin

import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged

/**
 * The sync status (phase, n of m cells, bytes, last synced, last error):
 * the current value first, then each change, from every sync on this file
 * (hub, nearby phone, a background worker). A slow collector sees the
 * latest value, not every step.
 */
fun Store.syncStatusFlow(): Flow<SyncStatus> = callbackFlow {
    val subscription = subscribeSyncStatus(object : SyncStatusObserver {
        override fun statusChanged(status: SyncStatus) {
            trySend(status)
        }
    })
    trySend(syncStatus())
    awaitClose { unsubscribeSyncStatus(subscription) }
}.conflate().distinctUntilChanged()

/** True while a sync runs. */
val SyncStatus.isActive: Boolean get() = phase != SyncPhase.IDLE

/**
 * Sends silin's log at `level` and above to `sink` (e.g. android.util.Log
 * on Android: `{ l, tag, msg -> Log.println(priority(l), tag, msg) }`).
 * Lines carry ids, counts and kinds of failure, never personal data.
 */
fun setLogger(level: LogLevel, sink: (LogLevel, String, String) -> Unit) {
    setLogger(object : Logger {
        override fun log(level: LogLevel, target: String, message: String) = sink(level, target, message)
    }, level)
}
