// Browser test of Rill's web console: headless Debian chromium driven by playwright-core.
// Started by compat/test_console.py, which runs a live cluster and passes, in the environment:
//   CONSOLE_URL  base URL of one node's admin listener (http://127.0.0.1:PORT)
//   BOOTSTRAP    the cluster's Kafka bootstrap string (for the rill CLI)
//   RILL_BIN     the rill binary
//   CHROMIUM     the chromium executable
//   ARTIFACTS    directory for the screenshots
//   TOPIC, GROUP names to use (fresh per run)
//   TXN, TXN_TOPIC  a transactional id with a transaction open on TXN_TOPIC partition 0
//                (the Python side holds it open while this runs)
// It creates a topic in the UI, produces and consumes through the CLI, and checks that the
// topic, its offsets and the group's lag appear; exits non-zero on the first failure.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("CONSOLE_URL");
const BOOTSTRAP = env("BOOTSTRAP");
const RILL = env("RILL_BIN");
const ARTIFACTS = env("ARTIFACTS");
const TOPIC = env("TOPIC");
const GROUP = env("GROUP");
mkdirSync(ARTIFACTS, { recursive: true });

const started = Date.now();
const step = (what) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

function rill(args, input) {
  return execFileSync(RILL, [...args, "-b", BOOTSTRAP], {
    input: input ?? "",
    encoding: "utf8",
    timeout: 30000,
  });
}

function produce(partition, count, prefix) {
  const lines = Array.from({ length: count }, (_, i) => `${prefix}${i}:{"n":${i},"p":${partition}}`).join("\n") + "\n";
  const out = rill(["produce", TOPIC, "--partition", String(partition), "-K", ":", "-H", "source=console-test"], lines);
  step(`produced ${count} to partition ${partition}: ${out.trim()}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  step(`screenshot ${name}`);
}

async function cellText(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

// Polls `fn` until it returns true (the console refreshes every few seconds).
async function eventually(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last === true) return;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = false;
let live = null; // a `rill consume` child, stopped at the end
const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
const consoleErrors = [];
// Script errors fail the test, and so does any asset or page that fails to load. API errors
// (a 404 for a group that does not exist yet) are answers the page shows, not failures.
page.on("pageerror", (e) => consoleErrors.push(String(e)));
page.on("response", (r) => {
  if (r.status() >= 400 && !new URL(r.url()).pathname.startsWith("/api/v1/")) {
    consoleErrors.push(`${r.status()} for ${r.url()}`);
  }
});
page.on("dialog", (d) => d.accept());
try {
  // Overview: the node is ready and the cluster's brokers are listed.
  await page.goto(`${BASE}/#/overview`);
  await page.locator("#node-badge.ready").waitFor({ timeout: 15000 });
  const brokers = await page.locator('[data-testid="brokers"] tbody tr').count();
  step(`overview: ${brokers} brokers`);
  if (brokers !== Number(process.env.BROKERS || 1)) throw new Error(`expected ${process.env.BROKERS} brokers, saw ${brokers}`);

  // Topics: create one in the UI.
  await page.goto(`${BASE}/#/topics`);
  await page.fill('#create-topic-form input[name="name"]', TOPIC);
  await page.fill('#create-topic-form input[name="partitions"]', "3");
  await page.fill('#create-topic-form input[name="replication_factor"]', process.env.RF || "1");
  await page.click("#create-topic");
  await page.locator(`tr[data-topic="${TOPIC}"]`).waitFor({ timeout: 15000 });
  step("topic created in the UI");
  const listed = rill(["topics", "list"]);
  if (!listed.split("\n").some((l) => l.trim().startsWith(TOPIC))) throw new Error(`CLI does not list ${TOPIC}:\n${listed}`);
  await shot(page, "topics.png");

  // Produce through the CLI, consume everything with a group, then produce 4 more on
  // partition 0: the group lags by exactly 4 there.
  produce(0, 10, "a");
  produce(1, 7, "b");
  produce(2, 5, "c");
  const consumed = rill(["consume", TOPIC, "-g", GROUP, "--from-beginning", "-n", "22"]);
  step(`consumed ${consumed.trim().split("\n").length} with group ${GROUP}`);
  produce(0, 4, "d");

  // Topic detail: offsets of every partition.
  await page.goto(`${BASE}/#/topics/${encodeURIComponent(TOPIC)}`);
  const want = { 0: "14", 1: "7", 2: "5" };
  for (const [p, hw] of Object.entries(want)) {
    await eventually(`high watermark ${hw} of partition ${p}`, async () =>
      (await cellText(page, `tr[data-partition="${p}"] td[data-field="high_watermark"]`)) === hw);
    const start = await cellText(page, `tr[data-partition="${p}"] td[data-field="log_start_offset"]`);
    if (start !== "0") throw new Error(`log start of partition ${p} is ${start}`);
    // No transactions: the last stable offset is the high watermark.
    const lso = await cellText(page, `tr[data-partition="${p}"] td[data-field="last_stable_offset"]`);
    if (lso !== hw) throw new Error(`last stable offset of partition ${p} is ${lso}, want ${hw}`);
  }
  step("topic offsets shown");
  const policy = await cellText(page, '[data-testid="cleanup-policy"]');
  if (policy !== "delete") throw new Error(`cleanup policy shown as ${policy}`);
  await shot(page, "topic.png");

  // A compacted topic made with the CLI: its page shows the policy and the dirty ratio of
  // each partition (replicated on every node, so node 2 has it locally).
  const compacted = `${TOPIC}-compacted`;
  rill(["topics", "create", compacted, "-p", "1", "-r", process.env.BROKERS || "1", "-c", "cleanup.policy=compact"]);
  rill(["produce", compacted, "-K", ":"], "k:v1\nk:v2\n");
  await page.goto(`${BASE}/#/topics/${encodeURIComponent(compacted)}`);
  await eventually("the compacted topic's dirty ratio", async () =>
    /^\d+(\.\d)?%$/.test(await cellText(page, 'tr[data-partition="0"] td[data-field="dirty_ratio"]')));
  const shownPolicy = await cellText(page, '[data-testid="cleanup-policy"]');
  if (shownPolicy !== "compact") throw new Error(`compacted topic's policy shown as ${shownPolicy}`);
  step("compacted topic: policy and dirty ratio shown");

  // Message browser: partition 1 from the beginning, as JSON, with the header.
  await page.goto(`${BASE}/#/messages?topic=${encodeURIComponent(TOPIC)}&partition=1`);
  await page.selectOption('#browse-form select[name="from"]', "earliest");
  await page.selectOption('#browse-form select[name="format"]', "json");
  await page.click("#browse");
  await eventually("7 messages of partition 1", async () =>
    (await page.locator('[data-testid="messages"] tbody tr').count()) === 7);
  const firstRow = await page.locator('[data-testid="messages"] tbody tr').first().innerText();
  if (!firstRow.includes("b0") || !firstRow.includes('"p": 1') || !firstRow.includes("console-test")) {
    throw new Error(`first message row is not what was produced: ${firstRow}`);
  }
  await shot(page, "messages.png");

  // Consumer groups: the group's lag is 4, all on partition 0.
  await page.goto(`${BASE}/#/groups`);
  await eventually(`group ${GROUP} with total lag 4`, async () =>
    (await cellText(page, `tr[data-group="${GROUP}"] td[data-field="total_lag"]`)) === "4");
  await page.click(`tr[data-group="${GROUP}"] a`);
  await eventually("group detail", async () => (await cellText(page, '[data-testid="total-lag"]')) === "4");
  const lag0 = await cellText(page, `tr[data-partition="${TOPIC}-0"] td[data-field="lag"]`);
  const lag1 = await cellText(page, `tr[data-partition="${TOPIC}-1"] td[data-field="lag"]`);
  const committed0 = await cellText(page, `tr[data-partition="${TOPIC}-0"] td[data-field="committed_offset"]`);
  if (lag0 !== "4" || lag1 !== "0" || committed0 !== "10") {
    throw new Error(`group lag rows: p0 lag ${lag0} committed ${committed0}, p1 lag ${lag1}`);
  }
  if ((await page.locator('[data-testid="lag-chart"] rect').count()) !== 3) throw new Error("lag chart has no 3 bars");
  step("group lag shown");
  await shot(page, "group.png");

  // A live member: a `rill consume` in its group shows up with its assignment.
  const liveGroup = `${GROUP}-live`;
  live = spawn(RILL, ["consume", TOPIC, "-g", liveGroup, "-b", BOOTSTRAP], { stdio: "ignore" });
  await page.goto(`${BASE}/#/groups/${encodeURIComponent(liveGroup)}`);
  await eventually("a stable group with one member owning partitions 0, 1, 2", async () => {
    const state = await cellText(page, '[data-testid="group-state"]');
    const members = await page.locator('[data-testid="members"] tbody tr').count();
    const assignment = members ? await cellText(page, '[data-testid="members"] tbody tr td:nth-child(4)') : "";
    return state === "Stable" && members === 1 && assignment === `${TOPIC}: 0, 1, 2` ? true : [state, members, assignment];
  }, 30000);
  step("live member and its assignment shown");
  await shot(page, "group-live.png");
  live.kill("SIGINT");

  // Delete a second topic through the UI.
  const doomed = `${TOPIC}-doomed`;
  const made = await fetch(`${BASE}/api/v1/topics`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: doomed, partitions: 1 }),
  });
  if (made.status !== 201) throw new Error(`creating ${doomed}: ${made.status} ${await made.text()}`);
  await page.goto(`${BASE}/#/topics`);
  await page.locator(`tr[data-topic="${doomed}"]`).waitFor({ timeout: 15000 });
  await page.click(`button[data-delete="${doomed}"]`);
  await page.locator(`tr[data-topic="${doomed}"]`).waitFor({ state: "detached", timeout: 15000 });
  await eventually("the CLI no longer lists the deleted topic", async () =>
    !rill(["topics", "list"]).split("\n").some((l) => l.trim().startsWith(doomed)));
  step("topic deleted in the UI");

  // Transactions: the open transaction the Python side started shows as Ongoing with its
  // partition.
  const TXN = env("TXN");
  const TXN_TOPIC = env("TXN_TOPIC");
  await page.goto(`${BASE}/#/transactions`);
  await eventually("the open transaction is listed as Ongoing", async () => {
    const row = page.locator(`tr[data-txn="${TXN}"]`);
    if ((await row.count()) === 0) return false;
    const state = (await row.locator('[data-field="state"]').innerText()).trim();
    const parts = (await row.locator('[data-field="partitions"]').innerText()).trim();
    return state === "Ongoing" && parts.includes(`${TXN_TOPIC}-0`);
  });
  await shot(page, "transactions.png");

  // Overview again: the throughput chart has samples of the traffic above.
  await page.goto(`${BASE}/#/overview`);
  await eventually("throughput chart lines", async () =>
    (await page.locator('[data-testid="throughput-chart"] svg path').count()) >= 2, 20000);
  await shot(page, "overview.png");

  if (consoleErrors.length) throw new Error(`errors in the page: ${consoleErrors.join(" | ")}`);
  step("console test passed");
} catch (e) {
  failed = true;
  console.error(`console test FAILED: ${e.stack || e}`);
  try { await shot(page, "failure.png"); } catch (_) { /* the page may be gone */ }
} finally {
  if (live && live.exitCode === null) live.kill("SIGKILL");
  await browser.close();
}
process.exit(failed ? 1 : 0);
