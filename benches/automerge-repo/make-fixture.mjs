// Writes a development fixture in the format sync-baseline.mjs reads:
//
//   OUT/base/<doc-id>.am   Automerge.save of each cell document's base state
//   OUT/day/<doc-id>.am    the same document after one more day of edits
//
// The real fixture comes from the Rust side (silin's workload generator);
// this one only imitates its shape closely enough to develop and sanity-check
// the benchmark: the same root maps as core/src/cell.rs (cell, households
// with nested members, visits, reports, tasks), uuid keys, scalar strings
// (Rust `put` of a &str is a scalar string, so we use ImmutableString rather
// than Automerge 3's default collaborative text), one change per user
// action, and two devices per cell (lead and grid worker) whose edits are
// merged daily, as a week of phone use would produce.
//
// usage: node make-fixture.mjs --out DIR [--docs 120] [--seed 1]
import * as A from "@automerge/automerge"
import fs from "node:fs"
import path from "node:path"
import { parseArgs } from "node:util"

const { values: opts } = parseArgs({
  options: {
    out: { type: "string" },
    docs: { type: "string", default: "120" },
    seed: { type: "string", default: "1" },
  },
})
if (!opts.out) {
  console.error("usage: node make-fixture.mjs --out DIR [--docs 120] [--seed 1]")
  process.exit(2)
}
const nDocs = Number(opts.docs)

// Deterministic PRNG so two runs produce byte-identical fixtures.
let seed = Number(opts.seed) >>> 0
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1))
const pick = xs => xs[Math.floor(rand() * xs.length)]
const hex = n => Array.from({ length: n }, () => int(0, 15).toString(16)).join("")
// uuid v7 layout (what silin's model::new_id produces), random bits from the PRNG.
const uuid = () =>
  `${hex(8)}-${hex(4)}-7${hex(3)}-${pick(["8", "9", "a", "b"])}${hex(3)}-${hex(12)}`
const S = s => new A.ImmutableString(String(s))

const SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄"]
const GIVEN = ["建国", "芳", "秀英", "伟", "丽", "军", "敏", "静", "强", "磊"]
const KINDS = ["door_knock", "health_check", "call", "errand"]
const name = () => pick(SURNAMES) + pick(GIVEN)
const DAY0 = Date.UTC(2026, 10, 22) / 1000 // 2026-11-22, a week before the measured day
const dateOf = d => new Date((DAY0 + d * 86400) * 1000).toISOString().slice(0, 10)

function visit(doc, at, by) {
  const hids = Object.keys(doc.households)
  const hid = pick(hids)
  const mids = Object.keys(doc.households[hid].members)
  const kind = pick(KINDS)
  return A.change(doc, { time: at }, d => {
    const v = {
      kind: S(kind),
      household: S(hid),
      at: S(new Date(at * 1000).toISOString()),
      by: S(by),
    }
    if (mids.length) v.member = S(pick(mids))
    if (kind === "health_check") v.temperature = 36 + int(0, 12) / 10
    if (rand() < 0.3) v.note = S("正常，无异常情况")
    d.visits[uuid()] = v
  })
}

function report(doc, day, by) {
  const at = DAY0 + day * 86400 + 20 * 3600 + int(0, 3000)
  return A.change(doc, { time: at }, d => {
    d.reports[dateOf(day)] = {
      by: S(by),
      at: S(new Date(at * 1000).toISOString()),
      arrivals: int(0, 2),
      under_monitoring: int(0, 3),
      abnormal: 0,
      errands: int(0, 4),
    }
  })
}

// One day of edits: ~6 visits split between the two phones, then the lead's
// report after the phones have synced with each other.
function oneDay(lead, worker, day, leadName) {
  const n = int(5, 7)
  for (let i = 0; i < n; i++) {
    const at = DAY0 + day * 86400 + 8 * 3600 + i * 1500 + int(0, 900)
    if (rand() < 0.6) lead = visit(lead, at, leadName)
    else worker = visit(worker, at, "网格员")
  }
  lead = A.merge(lead, worker)
  lead = report(lead, day, leadName)
  worker = A.merge(worker, lead)
  return [lead, worker]
}

function makeCell(cellId) {
  const leadName = name()
  let lead = A.init({ actor: hex(32) })
  lead = A.change(lead, { time: DAY0 }, d => {
    d.schema = 2
    d.cell = {
      id: S(cellId),
      name: S(`三组第${int(1, 30)}联户`),
      path: [S("两当县"), S("城关镇"), S("东关村"), S("三组")],
      lead: S(leadName),
    }
    d.households = {}
    d.visits = {}
    d.reports = {}
    d.tasks = {}
  })
  // Register 3-5 households with 1-4 members each, one change per action.
  for (let h = 0, nh = int(3, 5); h < nh; h++) {
    const hid = uuid()
    lead = A.change(lead, { time: DAY0 + 600 * h }, d => {
      d.households[hid] = {
        address: S(`东关村三组${int(1, 80)}号`),
        phone: S(`139${hex(8).replace(/[a-f]/g, "7")}`),
        members: {},
      }
    })
    for (let m = 0, nm = int(1, 4); m < nm; m++) {
      lead = A.change(lead, { time: DAY0 + 600 * h + 60 * (m + 1) }, d => {
        d.households[hid].members[uuid()] = {
          name: S(name()),
          sex: S(pick(["male", "female"])),
          birth_year: int(1935, 2020),
          relation: S(m === 0 ? "户主" : pick(["配偶", "子女", "父母"])),
          residence: S(pick(["resident", "resident", "away", "returned"])),
        }
      })
    }
  }
  let worker = A.clone(lead, { actor: hex(32) })
  for (let day = 0; day < 7; day++) [lead, worker] = oneDay(lead, worker, day, leadName)
  const base = lead
  // The measured day, on copies (base must stay usable) that keep each
  // phone's actor id: a plain clone would get a random one.
  const keep = doc => A.clone(doc, { actor: A.getActorId(doc) })
  const [day] = oneDay(keep(base), keep(worker), 7, leadName)
  return { base, day }
}

for (const sub of ["base", "day"]) fs.mkdirSync(path.join(opts.out, sub), { recursive: true })
let total = { base: 0, day: 0, changes: 0 }
for (let i = 0; i < nDocs; i++) {
  const id = uuid()
  const { base, day } = makeCell(id)
  const b = A.save(base)
  const d = A.save(day)
  fs.writeFileSync(path.join(opts.out, "base", `${id}.am`), b)
  fs.writeFileSync(path.join(opts.out, "day", `${id}.am`), d)
  total.base += b.length
  total.day += d.length
  total.changes += A.getChanges(base, day).length
}
console.error(
  `wrote ${nDocs} docs to ${opts.out}: base ${total.base} B, day ${total.day} B, ` +
    `${total.changes} changes in the day`,
)
