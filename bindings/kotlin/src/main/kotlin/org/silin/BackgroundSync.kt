// Background sync: when a scheduled sync with the hub runs, and what it
// does after a failure. The policy is plain Kotlin so that it is tested on
// the JVM; an Android app's WorkManager worker (see android-demo's
// SilinSyncWorker) maps it onto Constraints, a PeriodicWorkRequest and
// BackoffPolicy.EXPONENTIAL, and its doWork() is `store.backgroundSync(…)`.
package org.silin

import kotlin.time.Duration
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

/** The network a background sync waits for. */
enum class SyncNetwork {
    /** Any network (the office Wi-Fi, mobile data). */
    CONNECTED,

    /** Wi-Fi or another unmetered network only (the first full sync of many cells). */
    UNMETERED,
}

/**
 * When a background sync runs and how it retries.
 *
 * Defaults: every hour within a 15-minute window, on any network, not on a
 * low battery or a full disk; after a failure that may pass by itself
 * (hub unreachable, interrupted, storage), retry after 30 s, doubling to
 * at most 5 h, and stop after 8 attempts until the next period. Failures
 * a person must fix (not enrolled, revoked, a wrong address, the clock)
 * are not retried. The bounds are WorkManager's own.
 */
data class BackgroundSyncPolicy(
    val every: Duration = 1.hours,
    val flex: Duration = 15.minutes,
    val network: SyncNetwork = SyncNetwork.CONNECTED,
    val batteryNotLow: Boolean = true,
    val storageNotLow: Boolean = true,
    val initialBackoff: Duration = 30.seconds,
    val maxBackoff: Duration = 5.hours,
    val maxAttempts: Int = 8,
) {
    init {
        require(every >= MIN_PERIOD) { "a periodic sync runs at most every $MIN_PERIOD" }
        require(flex in MIN_FLEX..every) { "the window is between $MIN_FLEX and the period" }
        require(initialBackoff in MIN_BACKOFF..maxBackoff) { "the first retry waits at least $MIN_BACKOFF" }
        require(maxBackoff <= MAX_BACKOFF) { "retries wait at most $MAX_BACKOFF" }
        require(maxAttempts >= 1)
    }

    /** How long retry number `attempt` (0 for the first) waits: doubling, capped. */
    fun backoff(attempt: Int): Duration {
        require(attempt >= 0)
        var delay = initialBackoff
        repeat(minOf(attempt, 32)) {
            delay *= 2
            if (delay >= maxBackoff) return maxBackoff
        }
        return delay
    }

    /** What to do after sync attempt `attempt` (0 for the first) ended with `error` (null: success). */
    fun decide(error: Throwable?, attempt: Int): SyncDecision {
        if (error == null) return SyncDecision.Done
        val why = error.message ?: error.javaClass.simpleName
        if (!passes(error)) return SyncDecision.GiveUp(why)
        if (attempt + 1 >= maxAttempts) return SyncDecision.GiveUp("gave up after $maxAttempts attempts: $why")
        return SyncDecision.Retry(backoff(attempt))
    }

    /** A failure that may pass by itself, so that a later attempt may succeed. */
    private fun passes(e: Throwable): Boolean = when (e) {
        is SyncException.HubUnreachable, is SyncException.SessionFailed, is SyncException.Storage,
        is SyncException.Cancelled, is SyncException.Closed -> true
        // The hub's own trouble or load; a 4xx is about this device.
        is SyncException.HubRefused -> e.status.toInt() >= 500 || e.status.toInt() == 429
        is SyncException -> false
        is StoreException.Storage, is StoreException.Closed -> true
        else -> false
    }

    companion object {
        val MIN_PERIOD = 15.minutes
        val MIN_FLEX = 5.minutes
        val MIN_BACKOFF = 10.seconds
        val MAX_BACKOFF = 5.hours
    }
}

/** The outcome of one background sync attempt. */
sealed interface SyncDecision {
    /** Synced; next time is the next period. */
    data object Done : SyncDecision

    /** Try again after `after` (WorkManager: Result.retry(), with the policy's backoff). */
    data class Retry(val after: Duration) : SyncDecision

    /** Do not retry: a person must act (`reason` says why), or attempts ran out. */
    data class GiveUp(val reason: String) : SyncDecision
}

/**
 * One background sync with the hub: runs it (awaited; cancelling the
 * caller stops it at a round boundary) and decides what comes next.
 * `attempt` is the worker's run attempt (0 for the first).
 */
suspend fun Store.backgroundSync(
    hubUrl: String,
    attempt: Int,
    policy: BackgroundSyncPolicy = BackgroundSyncPolicy(),
): SyncDecision {
    val error = try {
        syncWithHubAsync(hubUrl)
        null
    } catch (e: SyncException) {
        e
    } catch (e: StoreException) {
        e
    }
    return policy.decide(error, attempt)
}
