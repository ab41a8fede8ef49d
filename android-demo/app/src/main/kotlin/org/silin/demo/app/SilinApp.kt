package org.silin.demo.app

import android.app.Application
import android.content.Context
import android.os.Handler
import android.os.Looper
import org.silin.Store
import org.silin.demo.LeadViewModel
import org.silin.demo.UserMessages
import java.io.File
import java.util.concurrent.Executor
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Holds the one open store and the lead's view-model for the whole process.
 * The store is opened, and every call on it made, on [worker]: never on the
 * main thread.
 */
class SilinApp : Application() {
    /** One thread for every blocking silin call, in order. */
    val worker: ExecutorService = Executors.newSingleThreadExecutor { r -> Thread(r, "silin-store") }

    /** Runs on the main thread: where the view-model delivers state. */
    val main: Executor by lazy {
        val handler = Handler(Looper.getMainLooper())
        Executor { handler.post(it) }
    }

    private val prefs by lazy { getSharedPreferences("silin", Context.MODE_PRIVATE) }

    override fun onCreate() {
        super.onCreate()
        // silin's log (ids, counts, kinds of failure; no personal data) to Logcat.
        SilinSyncWorker.logToLogcat()
        // Background sync with the hub, once its address is known.
        if (hubUrl.isNotBlank()) SilinSyncWorker.schedule(this)
    }

    /** The lead householder's name, as the cell knows them; null before the first start. */
    var leadName: String?
        get() = prefs.getString("lead_name", null)
        set(value) = prefs.edit().putString("lead_name", value).apply()

    var hubUrl: String
        get() = prefs.getString("hub_url", "") ?: ""
        set(value) = prefs.edit().putString("hub_url", value).apply()

    sealed interface Opened {
        data class Ready(val vm: LeadViewModel) : Opened
        data class Failed(val message: String) : Opened
    }

    // Main thread only.
    private var opened: Opened? = null
    private var opening = false
    private val waiting = mutableListOf<(Opened) -> Unit>()

    /**
     * Calls [callback] on the main thread with the view-model, opening the
     * store on the worker the first time.
     */
    fun whenOpen(lead: String, callback: (Opened) -> Unit) {
        opened?.let { return callback(it) }
        waiting += callback
        if (opening) return
        opening = true
        worker.execute {
            val result = try {
                val store = Store.open(File(filesDir, "register.silin").path, StoreKeys.storeKeyHex(this))
                val vm = LeadViewModel(
                    store = store,
                    worker = worker,
                    leadName = lead,
                    uiExecutor = main,
                    initialCellId = prefs.getString("cell_id", null),
                )
                vm.onCellChosen = { id -> prefs.edit().putString("cell_id", id).apply() }
                vm.start()
                Opened.Ready(vm)
            } catch (e: Exception) {
                Opened.Failed(UserMessages.of(e))
            }
            main.execute {
                opened = result
                opening = false
                val callbacks = waiting.toList()
                waiting.clear()
                callbacks.forEach { it(result) }
            }
        }
    }
}
