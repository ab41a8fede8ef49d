// Baseline for silin's sync benchmark: what @automerge/automerge-repo sends
// over its own WebSocket sync server for 120 cell documents, in two cases:
//
//  nothing_changed  client and server hold the same docs and have synced
//                   before (persisted sync state on both sides); the client
//                   restarts, reconnects and finds every doc.
//  day              the server holds the base docs, the client the base plus
//                   one day of edits made offline; the client reconnects and
//                   finds every doc until the server has the client's heads.
//
// usage: node sync-baseline.mjs --fixture DIR [--quiet-ms 1000] [--timeout-s 120] [--verbose]
//
// Prints exactly one JSON object on stdout; diagnostics go to stderr; any
// failure exits non-zero with a one-line reason.
//
// What is counted (see README.md for the definitions):
//  - Every frame on the one real WebSocket (TCP on 127.0.0.1) between the
//    client repo and the server repo, observed on the server's end of the
//    socket: `message` events are client->server ("up"), `send()` calls are
//    server->client ("down"). bytes_* are WebSocket *payload* bytes: the
//    CBOR-encoded automerge-repo messages, exactly what a TCP capture would
//    show inside the frames. WebSocket framing overhead is NOT included in
//    bytes_*; wire_bytes_* adds the RFC 6455 frame headers (2/4/10 bytes,
//    plus the 4-byte mask on client->server frames) so both views exist.
//    permessage-deflate is off (the ws default for a server), so payload
//    bytes are the bytes on the wire. The HTTP upgrade handshake and the
//    server adapter's ping/pong keep-alives (every 5 s, whatever the sync
//    does) are not counted; --verbose shows how many there were.
//  - messages_* are frames: ws never fragments a send(), so one automerge-repo
//    message is one frame.
//  - round_trips: latency-bound round trips on the critical path. Docs sync
//    in parallel over one socket, so the sync takes (join handshake: 1) +
//    (the largest number of round trips any single doc needed), where a
//    doc's round trips are the number of times a server->client frame for it
//    follows a client->server frame for it. round_trips_all_docs is the sum
//    over docs (what it would cost if docs were synced one after another).
import * as A from "@automerge/automerge"
import {
  Repo,
  cbor,
  encodeHeads,
  interpretAsDocumentId,
  isValidDocumentId,
} from "@automerge/automerge-repo"
import {
  WebSocketClientAdapter,
  WebSocketServerAdapter,
} from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { WebSocketServer } from "ws"
import { createHash, randomBytes } from "node:crypto"
import { once } from "node:events"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { parseArgs } from "node:util"

const { values: opts } = parseArgs({
  options: {
    fixture: { type: "string" },
    "quiet-ms": { type: "string", default: "1000" },
    "timeout-s": { type: "string", default: "120" },
    verbose: { type: "boolean", default: false },
  },
})
const QUIET_MS = Number(opts["quiet-ms"])
const t0 = Date.now()
const log = (...a) => opts.verbose && console.error(`[sync-baseline +${Date.now() - t0} ms]`, ...a)
// saveDebounceRate for every repo: 20 ms rather than the default 100 ms so
// the one-doc-at-a-time warm-up is quick. It only changes when storage is
// written, never what is sent. Repo.shutdown() does not wait for pending
// sync-state saves, so sessions also sleep a few of these before and after.
const SAVE_DEBOUNCE_MS = 20
const sleep = ms => new Promise(r => setTimeout(r, ms))

function fail(msg) {
  console.error(`sync-baseline: FAILED: ${msg}`)
  process.exit(1)
}
if (!opts.fixture) fail("usage: node sync-baseline.mjs --fixture DIR")
// Never hang: automerge-repo waits silently for peers and documents.
setTimeout(() => fail(`timed out after ${opts["timeout-s"]} s`), Number(opts["timeout-s"]) * 1000)
process.on("unhandledRejection", e => fail(`unhandled rejection: ${e?.stack ?? e}`))

// ---------------------------------------------------------------- fixture

// automerge-repo document ids are bs58check-encoded 16-byte ids. silin's cell
// ids are uuids: their 16 bytes become the document id (the same mapping
// automerge-repo uses for legacy uuid ids, without its deprecation warning).
// Any other file name that is not already a document id is hashed to 16 bytes.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
function docIdFor(stem) {
  if (isValidDocumentId(stem)) return stem
  const bytes = UUID.test(stem)
    ? Buffer.from(stem.replace(/-/g, ""), "hex")
    : createHash("sha256").update(stem).digest().subarray(0, 16)
  return interpretAsDocumentId(new Uint8Array(bytes))
}

function loadFixture(dir) {
  const list = sub => {
    const d = path.join(dir, sub)
    if (!fs.existsSync(d)) fail(`fixture has no ${d}`)
    return fs.readdirSync(d).filter(f => f.endsWith(".am")).sort()
  }
  const names = list("base")
  if (names.length === 0) fail(`no .am files in ${dir}/base`)
  if (names.join() !== list("day").join()) fail("base/ and day/ hold different doc files")
  return names.map(file => {
    const stem = file.slice(0, -3)
    const baseBytes = fs.readFileSync(path.join(dir, "base", file))
    const dayBytes = fs.readFileSync(path.join(dir, "day", file))
    const base = A.load(baseBytes)
    const day = A.load(dayBytes)
    if (!A.hasHeads(day, A.getHeads(base))) fail(`${file}: day does not descend from base`)
    // The day's changes as raw automerge change bytes (the ratio denominator).
    const dayChanges = A.getChanges(base, day)
    return {
      stem,
      id: docIdFor(stem),
      baseBytes,
      baseHeads: encodeHeads(A.getHeads(base)),
      dayHeads: encodeHeads(A.getHeads(day)),
      dayChanges,
    }
  })
}

// ---------------------------------------------------------------- metering

// RFC 6455 header size of one unfragmented frame without extensions.
const frameHeader = (len, masked) =>
  (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0)

// Per-connection counters, filled from the server's end of the socket.
function meterSocket(ws) {
  const m = {
    up: { bytes: 0, wire: 0, frames: 0 },
    down: { bytes: 0, wire: 0, frames: 0 },
    events: [], // [direction, documentId|null, type] in the order they happened
    lastFrameAt: Date.now(),
    control: 0,
  }
  const record = (dir, buf) => {
    const len = buf.byteLength
    m[dir].bytes += len
    m[dir].wire += len + frameHeader(len, dir === "up") // only client frames are masked
    m[dir].frames += 1
    m.lastFrameAt = Date.now()
    let msg = {}
    try {
      msg = cbor.decode(new Uint8Array(buf))
    } catch {
      // Not ours to judge; it is still counted.
    }
    m.events.push([dir, msg.documentId ?? null, msg.type ?? "?"])
    // The automerge sync message inside automerge-repo's CBOR envelope.
    if (msg.data?.byteLength) m[dir].syncData = (m[dir].syncData ?? 0) + msg.data.byteLength
  }
  ws.on("message", (data, isBinary) => record("up", isBinary ? data : Buffer.from(data)))
  // The adapter sends with socket.send(arrayBuffer); wrap that very method.
  const send = ws.send.bind(ws)
  ws.send = (data, ...rest) => {
    record("down", data)
    return send(data, ...rest)
  }
  ws.on("ping", () => m.control++)
  ws.on("pong", () => m.control++)
  // TCP byte counters, for a --verbose cross-check of wire_bytes_* (they also
  // include ping/pong frames and the close handshake).
  const tcp = ws._socket
  const r0 = tcp.bytesRead
  const w0 = tcp.bytesWritten
  m.tcp = () => ({ up: tcp.bytesRead - r0, down: tcp.bytesWritten - w0 })
  return m
}

function summarise(m) {
  const perDoc = new Map()
  let handshake = 0
  let lastNonDoc = null
  for (const [dir, doc, type] of m.events) {
    if (doc === null) {
      // join (up) answered by peer (down)
      if (dir === "down" && lastNonDoc === "up" && type === "peer") handshake++
      lastNonDoc = dir
      continue
    }
    const d = perDoc.get(doc) ?? { last: null, rt: 0 }
    if (dir === "down" && d.last === "up") d.rt++
    d.last = dir
    perDoc.set(doc, d)
  }
  const rts = [...perDoc.values()].map(d => d.rt)
  const types = {}
  for (const [dir, , type] of m.events) types[`${dir}:${type}`] = (types[`${dir}:${type}`] ?? 0) + 1
  log("frame types", JSON.stringify(types))
  log(`automerge sync-message bytes inside the envelopes: up ${m.up.syncData}, down ${m.down.syncData}`)
  log(`TCP bytes on the server's socket after the upgrade: ${JSON.stringify(m.tcp())}`)
  // The server adapter pings every 5 s; such control frames are not counted.
  log(`ping/pong control frames seen (not counted): ${m.control}`)
  return {
    bytes_up: m.up.bytes,
    bytes_down: m.down.bytes,
    messages_up: m.up.frames,
    messages_down: m.down.frames,
    round_trips: handshake + Math.max(0, ...rts),
    round_trips_all_docs: handshake + rts.reduce((a, b) => a + b, 0),
    wire_bytes_up: m.up.wire,
    wire_bytes_down: m.down.wire,
  }
}

// ---------------------------------------------------------------- repos

const sameHeads = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join()

// Quiet = no frame either way for QUIET_MS, once `missing()` reports nothing
// missing. Frames come in reply to frames with no timers in between (except
// automerge-repo's 100 ms sync debounce after local changes), so a second of
// silence on loopback means the exchange is over. Silence while something is
// still missing means the sync stalled: fail with what is missing.
const STALL_MS = 10_000
async function untilQuiet(m, missing, label) {
  for (;;) {
    const gap = missing()
    const quietFor = Date.now() - m.lastFrameAt
    if (!gap && quietFor >= QUIET_MS) return
    if (gap && quietFor >= STALL_MS) fail(`${label}: no traffic for ${STALL_MS} ms but ${gap}`)
    await sleep(25)
  }
}

// A Repo over a storage dir with no network: used to seed the stores and to
// make the client's offline edits.
async function offlineRepo(dir, fn) {
  const repo = new Repo({ storage: new NodeFSStorageAdapter(dir), saveDebounceRate: SAVE_DEBOUNCE_MS })
  await fn(repo)
  await repo.flush()
  await repo.shutdown()
}

async function main() {
  const docs = loadFixture(opts.fixture)
  const N = docs.length
  log(`loaded ${N} docs`)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "silin-amrepo-"))
  process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }))
  const serverDir = path.join(tmp, "server")
  const clientDir = path.join(tmp, "client")

  // Both sides start with the base docs in their own store.
  for (const dir of [serverDir, clientDir])
    await offlineRepo(dir, async repo => {
      for (const d of docs) repo.import(d.baseBytes, { docId: d.id })
    })

  log("stores seeded")
  // The sync server, as in automerge-repo's sync-server example: a ws server
  // on an ephemeral loopback port, persistent storage, and a share policy
  // that only answers for docs a peer asks for (never announces).
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
  await once(wss, "listening")
  const url = `ws://127.0.0.1:${wss.address().port}`
  let nextMeter = null
  wss.on("connection", ws => {
    const m = meterSocket(ws)
    nextMeter?.(m)
    nextMeter = null
  })
  const server = new Repo({
    network: [new WebSocketServerAdapter(wss)],
    storage: new NodeFSStorageAdapter(serverDir),
    peerId: "sync-server",
    isEphemeral: false,
    sharePolicy: async () => false,
    saveDebounceRate: SAVE_DEBOUNCE_MS,
  })
  const serverStorageId = await server.storageId()
  const serverHeads = d => server.handles[d.id]?.isReady() ? server.handles[d.id].heads() : []

  // One client "app launch": a new Repo on the same client store (so a new
  // random peer id, same persistent storage id), connect and wait for the
  // join/peer handshake, find the given docs, wait until quiet, shut down. `sequential` finds one doc at a time,
  // letting each doc's final sync state be saved (see warm-up below).
  async function clientSession(label, targets, { sequential = false, missing = () => "" } = {}) {
    const meter = new Promise(r => (nextMeter = r))
    const repo = new Repo({
      // A new peer id per launch, as automerge-repo's default does, but of a
      // fixed length (its default's length varies by a char or two, and the
      // id is in every message), so byte counts are reproducible.
      peerId: `peer-${randomBytes(8).toString("hex").slice(0, 9)}`,
      network: [new WebSocketClientAdapter(url)],
      storage: new NodeFSStorageAdapter(clientDir),
      isEphemeral: false, // the server persists our sync state by our storage id
      saveDebounceRate: SAVE_DEBOUNCE_MS,
    })
    const peer = once(repo.networkSubsystem, "peer")
    const m = await meter
    await peer
    const clientStorageId = await repo.storageId()
    if (sequential) {
      for (const d of targets) {
        await repo.find(d.id)
        // Wait for this doc's exchange to finish and its sync state to be
        // saved on both sides before the next one can cancel that save.
        while (!sameHeads(serverHeads(d), repo.handles[d.id].heads()) || Date.now() - m.lastFrameAt < 4 * SAVE_DEBOUNCE_MS)
          await sleep(5)
      }
    } else {
      await Promise.all(targets.map(d => repo.find(d.id)))
    }
    const seen = () => new Set(m.events.filter(e => e[0] === "up" && e[1]).map(e => e[1]))
    const notAsked = () => {
      const s = seen()
      const n = targets.filter(d => !s.has(d.id)).length
      return n ? `the client sent nothing for ${n} docs` : ""
    }
    await untilQuiet(m, () => notAsked() || missing(), label)
    const clientHeads = Object.fromEntries(targets.map(d => [d.id, repo.handles[d.id].heads()]))
    await sleep(10 * SAVE_DEBOUNCE_MS)
    await repo.shutdown()
    await sleep(10 * SAVE_DEBOUNCE_MS)
    log(`${label}: ${m.up.frames} frames up, ${m.down.frames} down`)
    return { m, clientHeads, clientStorageId }
  }

  // Counts docs whose sync state with the other side is on disk and says
  // they share `heads` (read back through fresh adapters, i.e. from disk).
  async function persistedSyncStates(dir, peerStorageId, headsOf) {
    const store = new NodeFSStorageAdapter(dir)
    let n = 0
    for (const d of docs) {
      const bin = await store.load([d.id, "sync-state", peerStorageId])
      if (bin && sameHeads(encodeHeads(A.decodeSyncState(bin).sharedHeads), headsOf(d))) n++
    }
    return n
  }

  // ---- warm-up: first contact, so both sides hold a sync state for each
  // other. automerge-repo throttles sync-state saves per *peer* (one pending
  // save per storage id; a newer call cancels the pending one), so a burst
  // over 120 docs leaves most of them unsaved. To give automerge-repo its
  // best case we warm up one doc at a time and then check that every doc's
  // sync state is on disk on both sides.
  const warm = await clientSession("warm-up", docs, { sequential: true })
  const clientStorageId = warm.clientStorageId
  const persisted = {
    client: await persistedSyncStates(clientDir, serverStorageId, d => d.baseHeads),
    server: await persistedSyncStates(serverDir, clientStorageId, d => d.baseHeads),
  }
  log("persisted sync states after warm-up", persisted)
  if (persisted.client !== N || persisted.server !== N)
    fail(`warm-up left persisted sync states for only ${JSON.stringify(persisted)} of ${N} docs`)

  // ---- (a) nothing changed: reconnect and find all docs, steady state.
  const a = await clientSession("nothing_changed", docs)
  for (const d of docs) {
    if (!sameHeads(a.clientHeads[d.id], d.baseHeads) || !sameHeads(serverHeads(d), d.baseHeads))
      fail(`nothing_changed: heads differ for ${d.stem}`)
  }

  // ---- (b) a day of edits, made offline on the client (no network), then
  // a reconnect that must bring the server to the client's heads.
  await offlineRepo(clientDir, async repo => {
    for (const d of docs) {
      const h = await repo.find(d.id)
      h.update(doc => A.applyChanges(doc, d.dayChanges)[0])
      if (!sameHeads(h.heads(), d.dayHeads)) fail(`offline edit of ${d.stem} did not reach the day's heads`)
    }
  })
  const b = await clientSession("day", docs, {
    missing: () => {
      const n = docs.filter(d => !sameHeads(serverHeads(d), d.dayHeads)).length
      return n ? `the server lacks the client's heads for ${n} docs` : ""
    },
  })
  for (const d of docs) {
    if (!sameHeads(b.clientHeads[d.id], d.dayHeads))
      fail(`day: client heads differ from the fixture's for ${d.stem}`)
    if (!sameHeads(serverHeads(d), d.dayHeads)) fail(`day: server lacks the client's heads for ${d.stem}`)
  }

  await server.shutdown()
  wss.close()

  const versionOf = p =>
    JSON.parse(fs.readFileSync(new URL(`./node_modules/${p}/package.json`, import.meta.url))).version
  const out = {
    docs: N,
    nothing_changed: summarise(a.m),
    day: {
      ...summarise(b.m),
      raw_change_bytes: docs.reduce((s, d) => s + d.dayChanges.reduce((t, c) => t + c.length, 0), 0),
      raw_changes: docs.reduce((s, d) => s + d.dayChanges.length, 0),
    },
    persisted_sync_states: persisted,
    versions: {
      node: process.versions.node,
      ...Object.fromEntries(
        [
          "@automerge/automerge",
          "@automerge/automerge-repo",
          "@automerge/automerge-repo-network-websocket",
          "@automerge/automerge-repo-storage-nodefs",
          "ws",
        ].map(p => [p, versionOf(p)]),
      ),
    },
  }
  process.stdout.write(JSON.stringify(out) + "\n")
  process.exit(0)
}

main().catch(e => fail(e?.stack ?? String(e)))
