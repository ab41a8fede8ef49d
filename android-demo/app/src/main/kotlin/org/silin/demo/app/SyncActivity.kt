package org.silin.demo.app

import android.os.Bundle
import android.text.InputType
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import org.silin.demo.LeadState
import org.silin.demo.PeerLink
import org.silin.demo.SocketPeerLink
import org.silin.demo.UserMessages
import java.io.IOException
import java.net.Inet4Address
import java.net.InetSocketAddress
import java.net.NetworkInterface
import java.net.ServerSocket
import java.net.SocketException

/**
 * Sync with a nearby phone over the local Wi-Fi (one phone waits, the other
 * connects to the address it shows), or with the township hub.
 */
class SyncActivity : LeadActivity() {
    private lateinit var status: TextView
    private lateinit var waitButton: Button
    private lateinit var host: EditText
    private lateinit var hub: EditText

    @Volatile
    private var server: ServerSocket? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val root: LinearLayout = column()
        status = root.label("", 16f, bold = true)

        root.label("A nearby phone (same Wi-Fi)", 18f, bold = true)
        val addresses = localAddresses()
        root.label(
            if (addresses.isEmpty()) "This phone has no Wi-Fi address."
            else "This phone: " + addresses.joinToString { "$it:${SocketPeerLink.DEFAULT_PORT}" },
            14f,
        )
        waitButton = root.button("Wait for the other phone") { waitForPeer() }
        host = root.field("The other phone's address, e.g. 192.168.1.23", InputType.TYPE_CLASS_TEXT)
        root.button("Connect to the other phone") { connect() }

        root.label("The township hub", 18f, bold = true)
        hub = root.field("https://hub.example.org", InputType.TYPE_TEXT_VARIATION_URI or InputType.TYPE_CLASS_TEXT, app.hubUrl)
        root.button("Sync with the hub") {
            app.hubUrl = hub.value.trim()
            SilinSyncWorker.schedule(app)
            vm?.syncWithHub(hub.value)
        }
        root.button("Stop the sync") { vm?.cancelSync() }
        showScrolling(root)
    }

    override fun render(state: LeadState) {
        val sync = state.sync
        status.text = when {
            sync.running -> "Syncing with " + (if (sync.with == "hub") "the hub" else "the other phone") +
                (sync.progress?.let { " — $it" } ?: "…")
            sync.error != null -> sync.error
            sync.lastResult != null -> sync.lastResult
            else -> sync.progress ?: "Not synced yet."
        }
        status.setTextColor(if (sync.error != null) RED else if (sync.lastResult != null) GREEN else status.currentTextColor)
    }

    /** Listens for one connection, then answers its sync. */
    private fun waitForPeer() {
        if (server != null) return
        val vm = vm ?: return
        waitButton.text = "Waiting… (tap to stop)"
        waitButton.setOnClickListener { stopWaiting() }
        Thread {
            val result = try {
                ServerSocket().use { socket ->
                    server = socket
                    socket.reuseAddress = true
                    socket.bind(InetSocketAddress(SocketPeerLink.DEFAULT_PORT))
                    socket.soTimeout = 5 * 60_000
                    SocketPeerLink.accept(socket)
                }
            } catch (e: IOException) {
                e
            } finally {
                server = null
            }
            runOnUiThread {
                waitButton.text = "Wait for the other phone"
                waitButton.setOnClickListener { waitForPeer() }
                when (result) {
                    is PeerLink -> vm.syncNearby(result, initiate = false)
                    is SocketException -> status.text = "Stopped waiting."
                    is Exception -> status.text = UserMessages.of(result)
                }
            }
        }.start()
    }

    private fun stopWaiting() {
        try {
            server?.close()
        } catch (_: IOException) {
        }
    }

    /** Connects to a waiting phone, then opens the sync. */
    private fun connect() {
        val vm = vm ?: return
        val address = host.value.trim()
        if (address.isEmpty()) {
            host.error = "Enter the address the other phone shows"
            return
        }
        status.text = "Connecting to $address…"
        Thread {
            try {
                val link = SocketPeerLink.connect(address.substringBefore(':'), address.substringAfter(':', "").toIntOrNull() ?: SocketPeerLink.DEFAULT_PORT)
                vm.syncNearby(link, initiate = true)
            } catch (e: IOException) {
                runOnUiThread { status.text = UserMessages.of(e) }
            }
        }.start()
    }

    override fun onDestroy() {
        stopWaiting()
        super.onDestroy()
    }

    private fun localAddresses(): List<String> = try {
        NetworkInterface.getNetworkInterfaces().toList()
            .filter { it.isUp && !it.isLoopback }
            .flatMap { it.inetAddresses.toList() }
            .filterIsInstance<Inet4Address>()
            .map { it.hostAddress ?: "" }
            .filter { it.isNotEmpty() }
    } catch (e: SocketException) {
        emptyList()
    }
}
