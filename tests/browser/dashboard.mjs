// The office dashboard in a real browser: Debian's chromium, headless,
// driven over the DevTools protocol by playwright-core (never a downloaded
// browser), against a real `silin hub serve` process on loopback.
//
// Logs in with a `silin hub user add` password, checks every figure of the
// village table against the hub's /v1/rollup for the same day, drills down
// to a village's cells (lead and phone), sees a notice's reach and drills
// down to the cell nobody has marked, switches to English, and saves a
// screenshot under target/browser/ (a CI artifact, not in git).
//
// Environment: SILIN_BIN (default target/debug/silin), CHROMIUM (default
// /usr/bin/chromium).

import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const silinBin = process.env.SILIN_BIN || join(root, "target/debug/silin");
const chromiumBin = process.env.CHROMIUM || "/usr/bin/chromium";
// The injected clock: every command and the hub see this day.
const NOW = "2026-11-29T10:00:00+08:00";
const DAY = "2026-11-29";

const dir = mkdtempSync(join(tmpdir(), "silin-browser-"));
const db = join(dir, "hub.db");
const env = { ...process.env, SILIN_NOW: NOW };

function silin(args, input) {
  const out = execFileSync(silinBin, ["--store", db, "--json", ...args], {
    env,
    input: input ?? "",
    encoding: "utf8",
  });
  return JSON.parse(out);
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

// A township of three cells in two villages; one report missing.
silin(["init", "--name", "城关镇办公室"]);
const cell = (name, path, lead) =>
  silin(["cell", "create", "--name", name, "--path", path, "--lead", lead]).cell_id;
const a = cell("一组第1联户", "两当县/城关镇/东关村/一组", "王建国");
const b = cell("二组第2联户", "两当县/城关镇/东关村/二组", "李明");
const c = cell("一组第3联户", "两当县/城关镇/西坡村/一组", "赵强");
const household = (cellId, phone) =>
  silin(["household", "add", "--cell", cellId, "--phone", phone]).household_id;
const ha = household(a, "13912345678");
silin(["member", "add", "--household", ha, "--name", "王建国"]);
const hb = household(b, "13800000002");
silin(["member", "add", "--household", hb, "--name", "李明"]);
const hc = household(c, "13700000003");
silin(["member", "add", "--household", hc, "--name", "赵强", "--phone", "13700000013"]);
silin(["report", "submit", "--cell", a, "--date", DAY]);
silin(["report", "submit", "--cell", b, "--date", DAY, "--arrivals", "1"]);
silin(["visit", "record", "--cell", a, "--kind", "door_knock"]);
silin(["visit", "record", "--cell", b, "--kind", "call"]);
silin(["hub", "user", "add", "--name", "clerk"], "township-pass-1\n");
// A notice to the township: 王建国's household has read it, the others not.
const notice = silin([
  "notice", "send", "--region", "两当县/城关镇", "--title", "今晚八点村委会开会", "--text", "请转告全户",
]).notice_id;
silin(["notice", "mark", "--cell", a, "--notice", notice, "--household", ha, "--status", "read"]);

const hub = spawn(silinBin, ["--store", db, "--json", "hub", "serve", "--listen", "127.0.0.1:0"], {
  env,
  stdio: ["ignore", "pipe", "inherit"],
});
let browser;
try {
  const first = await new Promise((ok, fail) => {
    const lines = createInterface({ input: hub.stdout });
    lines.once("line", ok);
    hub.once("exit", (code) => fail(new Error(`the hub exited (${code}) before listening`)));
  });
  const url = JSON.parse(first).url;

  const api = await (await fetch(`${url}/v1/rollup?date=${DAY}&level=village`)).json();
  check(api.length === 2, `two villages in the rollup API, got ${api.length}`);

  browser = await chromium.launch({ executablePath: chromiumBin, headless: true });
  const page = await browser.newPage({ viewport: { width: 412, height: 915 } });

  // Not logged in: the login form, and none of the register.
  await page.goto(`${url}/`);
  check(await page.locator("#login").isVisible(), "a login form");
  const before = await page.content();
  for (const s of ["王建国", "13912345678", "东关村"]) {
    check(!before.includes(s), `${s} shown before login`);
  }

  await page.fill("#name", "clerk");
  await page.fill("#password", "township-pass-1");
  await Promise.all([page.waitForURL(`${url}/`), page.click("#login")]);
  await page.waitForSelector("#villages");
  check((await page.getAttribute("html", "lang")) === "zh-CN", "Chinese by default");

  // Every figure of the village table is the rollup API's.
  for (const row of api) {
    for (const col of ["cells", "reported", "missing", "arrivals", "abnormal", "door_knocks", "calls", "errands"]) {
      const shown = await page
        .locator(`#villages tr[data-path="${row.path}"] td[data-col="${col}"]`)
        .innerText();
      check(shown.trim() === String(row[col]), `${row.path} ${col}: page ${shown}, API ${row[col]}`);
    }
  }
  check(api.some((r) => r.missing === 1), "a village with a missing report");

  // Drill down to the village with the missing report: its cell, lead, phone.
  await Promise.all([
    page.waitForSelector("#cells"),
    page.locator(`#villages tr[data-path="两当县/城关镇/西坡村"] a`).click(),
  ]);
  const cellsTable = await page.locator("#cells").innerText();
  check(cellsTable.includes("一组第3联户"), "the cell in the drill-down");
  check(cellsTable.includes("赵强") && cellsTable.includes("13700000013"), "the lead and phone");
  check(cellsTable.includes("未报告"), "its report missing");

  // The notice's reach: one household of three, two cells with no mark;
  // its drill-down puts those cells first, with their leads.
  await Promise.all([page.waitForSelector("#villages"), page.goto(`${url}/`)]);
  const row = page.locator(`#notices tr[data-notice="${notice}"]`);
  check(await row.isVisible(), "the notice in the notices section");
  const col = async (c) => (await row.locator(`[data-col="${c}"]`).innerText()).trim();
  check((await col("reached")) === "1" && (await col("households")) === "3", "1 of 3 households reached");
  check((await col("coverage")) === "33%", "33% coverage");
  check((await col("unmarked_cells")) === "2", "two cells with no mark yet");
  await Promise.all([page.waitForSelector("#notice-cells"), row.locator("a").click()]);
  const firstCell = await page.locator("#notice-cells tbody tr").first().innerText();
  check(firstCell.includes("未标记"), `an unmarked cell first: ${firstCell}`);
  const noticeCells = await page.locator("#notice-cells").innerText();
  check(noticeCells.includes("赵强") && noticeCells.includes("13700000013"), "the lead to call");
  check(noticeCells.includes("部分送达") || noticeCells.includes("全部送达"), "the marked cell");
  const shots = join(root, "target/browser");
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "notice.png"), fullPage: true });
  await Promise.all([page.waitForSelector("#villages"), page.goto(`${url}/`)]);

  // English.
  await Promise.all([page.waitForSelector("#villages"), page.click("#lang")]);
  check((await page.getAttribute("html", "lang")) === "en", "English after the switch");
  check((await page.locator("h2").first().innerText()).startsWith("Zero reports of the day"), "English headings");
  check((await page.locator("#notices-section h2").innerText()).startsWith("Notices of the last 7 days"), "English notices");

  await page.screenshot({ path: join(shots, "dashboard.png"), fullPage: true });
  console.log(`browser test: ok (screenshot in ${join(shots, "dashboard.png")})`);
} finally {
  if (browser) await browser.close();
  hub.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
