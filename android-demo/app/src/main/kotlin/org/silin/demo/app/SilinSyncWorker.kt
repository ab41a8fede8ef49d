package org.silin.demo.app

import android.content.Context
import android.util.Log
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import org.silin.BackgroundSyncPolicy
import org.silin.LogLevel
import org.silin.Store
import org.silin.SyncDecision
import org.silin.SyncNetwork
import org.silin.backgroundSync
import org.silin.setLogger
import java.io.File
import java.util.concurrent.TimeUnit

/**
 * Syncs the register with the township hub in the background, as
 * WorkManager schedules it: periodic, under the policy's network, battery
 * and storage constraints, retried with exponential backoff. The decision
 * itself is org.silin.backgroundSync (tested on the JVM); this class only
 * maps it onto WorkManager.
 *
 * When WorkManager stops the work (constraints lost, the system's time
 * limit), the coroutine is cancelled, and the sync stops at its next round
 * boundary: what it brought is kept, the next run carries on.
 */
class SilinSyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as SilinApp
        val hub = app.hubUrl.ifBlank { return Result.failure() }
        // The same file the screens use: opening it again in this process
        // shares the store already open.
        val store = Store.open(File(app.filesDir, "register.silin").path, StoreKeys.storeKeyHex(app))
        return try {
            when (val decision = store.backgroundSync(hub, runAttemptCount, POLICY)) {
                SyncDecision.Done -> Result.success()
                is SyncDecision.Retry -> Result.retry()
                is SyncDecision.GiveUp -> {
                    Log.w(TAG, "background sync stopped: ${decision.reason}")
                    Result.failure()
                }
            }
        } finally {
            store.destroy()
        }
    }

    companion object {
        const val TAG = "silin"
        private const val WORK = "silin-sync"
        val POLICY = BackgroundSyncPolicy()

        /** Schedules the periodic sync (keeps an existing schedule). */
        fun schedule(context: Context, policy: BackgroundSyncPolicy = POLICY) {
            val constraints = Constraints.Builder()
                .setRequiredNetworkType(
                    when (policy.network) {
                        SyncNetwork.CONNECTED -> NetworkType.CONNECTED
                        SyncNetwork.UNMETERED -> NetworkType.UNMETERED
                    },
                )
                .setRequiresBatteryNotLow(policy.batteryNotLow)
                .setRequiresStorageNotLow(policy.storageNotLow)
                .build()
            val request = PeriodicWorkRequestBuilder<SilinSyncWorker>(
                policy.every.inWholeMinutes, TimeUnit.MINUTES,
                policy.flex.inWholeMinutes, TimeUnit.MINUTES,
            )
                .setConstraints(constraints)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, policy.initialBackoff.inWholeSeconds, TimeUnit.SECONDS)
                .build()
            WorkManager.getInstance(context)
                .enqueueUniquePeriodicWork(WORK, ExistingPeriodicWorkPolicy.KEEP, request)
        }

        /** silin's log to Logcat, tag "silin" (ids and counts only, never personal data). */
        fun logToLogcat(level: LogLevel = LogLevel.INFO) {
            setLogger(level) { l, target, message ->
                val priority = when (l) {
                    LogLevel.ERROR -> Log.ERROR
                    LogLevel.WARN -> Log.WARN
                    LogLevel.INFO -> Log.INFO
                    LogLevel.DEBUG -> Log.DEBUG
                    LogLevel.TRACE -> Log.VERBOSE
                }
                Log.println(priority, TAG, "$target: $message")
            }
        }
    }
}
