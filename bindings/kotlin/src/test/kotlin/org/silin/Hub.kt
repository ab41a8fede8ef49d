package org.silin

import java.io.BufferedReader
import java.net.HttpURLConnection
import java.net.URI
import java.nio.file.Path
import java.util.concurrent.TimeUnit

/** The township region the hub tests' cells and grid workers are in. */
const val TOWNSHIP = "Liangdang/Zhangjia"

/**
 * A real `silin hub serve` on a loopback port, with its own SQLite file in
 * `dir`: the process an office runs. Tokens come from `silin hub token`.
 */
class Hub private constructor(private val dir: Path, private val process: Process, val url: String) : AutoCloseable {
    private val db = dir.resolve("hub.db").toString()

    fun token(role: String, vararg scope: String): String {
        val p = ProcessBuilder(listOf(cli(), "--json", "hub", "token", "--db", db, "--role", role, "--scope") + scope)
            .redirectErrorStream(false).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor() == 0) { "silin hub token failed: ${p.errorStream.bufferedReader().readText()}" }
        return field(out, "token")
    }

    /** Stops the hub with SIGTERM; it must exit 0. */
    override fun close() {
        process.destroy()
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            error("the hub did not stop on SIGTERM")
        }
        check(process.exitValue() == 0) { "the hub exited with ${process.exitValue()}" }
    }

    companion object {
        fun cli(): String = System.getProperty("silin.cli") ?: error("the silin.cli property names the silin binary")

        fun field(json: String, name: String): String =
            Regex("\"$name\"\\s*:\\s*\"([^\"]*)\"").find(json)?.groupValues?.get(1)
                ?: error("no $name in $json")

        fun start(dir: Path): Hub {
            val log = dir.resolve("hub.log").toFile()
            val process = ProcessBuilder(cli(), "--json", "hub", "serve", "--listen", "127.0.0.1:0", "--db", dir.resolve("hub.db").toString())
                .redirectError(ProcessBuilder.Redirect.appendTo(log))
                .redirectInput(ProcessBuilder.Redirect.from(java.io.File("/dev/null")))
                .start()
            val first = BufferedReader(process.inputStream.reader()).readLine()
                ?: run { process.destroyForcibly(); error("the hub did not start: ${log.readText()}") }
            val hub = Hub(dir, process, field(first, "url").trimEnd('/'))
            hub.awaitHealthy(log)
            return hub
        }
    }

    /** Readiness, not a measurement: the hub answers /healthz once serving. */
    private fun awaitHealthy(log: java.io.File) {
        repeat(600) {
            val ok = runCatching {
                val c = URI("$url/healthz").toURL().openConnection() as HttpURLConnection
                c.connectTimeout = 5000
                c.readTimeout = 5000
                c.responseCode == 200
            }.getOrDefault(false)
            if (ok) return
            check(process.isAlive) { "the hub exited: ${log.readText()}" }
            Thread.sleep(100)
        }
        error("the hub is not healthy: ${log.readText()}")
    }
}

/** Creates `n` cells under [TOWNSHIP]. */
fun createCells(store: Store, n: Int, prefix: String = "Cell"): List<String> = (1..n).map { i ->
    store.createCell("$prefix $i", "$TOWNSHIP/Hongqi/Group ${i % 7}", null)
}
