// Browser test of the console on a secured node: HTTPS with the test CA's certificate (the
// browser context ignores certificate errors, as it does not know the CA), a login, the
// ACL, user and quota views, and what a user without ACLs sees. Started by compat/test_console.py,
// which passes in the environment:
//   CONSOLE_URL  https://127.0.0.1:PORT of the node's admin listener
//   CHROMIUM     the chromium executable
//   ARTIFACTS    directory for the screenshots
//   ADMIN_PASSWORD  the password of the super user `admin`
//   TOPIC        a topic that exists (made by the test as a super user)
//   USER         a fresh user name to create in the UI
//   TOKEN        a bearer token (OAUTHBEARER JWT) for User:alice
// Exits non-zero on the first failure.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("CONSOLE_URL");
const ARTIFACTS = env("ARTIFACTS");
const TOPIC = env("TOPIC");
const USER = env("USER");
mkdirSync(ARTIFACTS, { recursive: true });

const started = Date.now();
const step = (what) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
  step(`screenshot ${name}`);
}

async function login(page, fields) {
  await page.locator('[data-testid="login"]').waitFor({ timeout: 15000 });
  for (const [name, value] of Object.entries(fields)) {
    await page.fill(`#login-form [name="${name}"]`, value);
  }
  await page.click("#login");
}

async function principal(page) {
  const p = page.locator('[data-testid="principal"]');
  await p.waitFor({ timeout: 15000 });
  return (await p.innerText()).trim();
}

async function logout(page) {
  await page.click("#logout");
  await page.locator('[data-testid="login"]').waitFor({ timeout: 15000 });
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = false;
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 900 } });
const page = await context.newPage();
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("response", (r) => {
  if (r.status() >= 400 && !new URL(r.url()).pathname.startsWith("/api/v1/")) {
    pageErrors.push(`${r.status()} for ${r.url()}`);
  }
});
page.on("dialog", (d) => d.accept());
try {
  // The API answers 401: the console asks for credentials (and no browser dialog: a
  // dialog would hang the page here).
  await page.goto(`${BASE}/#/topics`);
  await page.locator('[data-testid="login"]').waitFor({ timeout: 15000 });
  await shot(page, "login.png");
  await login(page, { username: "admin", password: "wrong" });
  await page.locator('[data-testid="login-error"]').waitFor({ timeout: 15000 });
  step("a wrong password is refused with a message");

  await login(page, { username: "admin", password: env("ADMIN_PASSWORD") });
  if ((await principal(page)) !== "User:admin") throw new Error("principal is not User:admin");
  await page.locator(`tr[data-topic="${TOPIC}"]`).waitFor({ timeout: 15000 });
  await page.locator("#node-badge.ready").waitFor({ timeout: 15000 });
  step("logged in as the super user; the topic is listed");

  // Users: create one in the UI.
  await page.goto(`${BASE}/#/users`);
  await page.fill('#user-form input[name="name"]', USER);
  await page.fill('#user-form input[name="password"]', `${USER}-secret`);
  await page.click("#create-user");
  const row = page.locator(`tr[data-user="${USER}"]`);
  await row.waitFor({ timeout: 15000 });
  const creds = (await row.locator('[data-field="credentials"]').innerText()).trim();
  if (!creds.includes("SCRAM-SHA-512") || !creds.includes("4096")) throw new Error(`credentials shown: ${creds}`);
  await shot(page, "users.png");
  step("user created in the UI");

  // ACLs: READ on the topic for the new user.
  await page.goto(`${BASE}/#/acls`);
  await page.fill('#acl-form input[name="principal"]', `User:${USER}`);
  await page.selectOption('#acl-form select[name="operation"]', "READ");
  await page.fill('#acl-form input[name="resource_name"]', TOPIC);
  await page.click("#create-acl");
  const acl = page.locator(`tr[data-acl="User:${USER}|TOPIC|${TOPIC}|READ|ALLOW"]`);
  await acl.waitFor({ timeout: 15000 });
  await shot(page, "acls.png");
  step("ACL created in the UI");

  // Quotas: a producer byte rate for the new user, set in the UI.
  await page.goto(`${BASE}/#/quotas`);
  await page.fill('#quota-form input[name="user"]', USER);
  await page.selectOption('#quota-form select[name="key"]', "producer_byte_rate");
  await page.fill('#quota-form input[name="value"]', "1048576");
  await page.click("#set-quota");
  const quota = page.locator(`tr[data-quota="user=${USER}|producer_byte_rate"]`);
  await quota.waitFor({ timeout: 15000 });
  const shown = (await quota.locator('[data-field="value"]').innerText()).trim();
  if (!shown.startsWith("1.0 MiB") && !shown.startsWith("1 MiB")) throw new Error(`quota shown: ${shown}`);
  await shot(page, "quotas.png");
  step("quota set in the UI");

  // The new user: sees the topic (READ implies DESCRIBE), may not create topics or read ACLs.
  await logout(page);
  await login(page, { username: USER, password: `${USER}-secret` });
  if ((await principal(page)) !== `User:${USER}`) throw new Error("principal is not the new user");
  await page.goto(`${BASE}/#/topics`);
  await page.locator(`tr[data-topic="${TOPIC}"]`).waitFor({ timeout: 15000 });
  await page.fill('#create-topic-form input[name="name"]', `${TOPIC}-not-allowed`);
  await page.click("#create-topic");
  await page.locator("#toast .msg.error", { hasText: "TOPIC_AUTHORIZATION_FAILED" }).waitFor({ timeout: 15000 });
  await page.goto(`${BASE}/#/acls`);
  await page.locator('#acl-list [data-testid="error"]', { hasText: "CLUSTER_AUTHORIZATION_FAILED" }).waitFor({ timeout: 15000 });
  await shot(page, "acls-refused.png");
  await page.goto(`${BASE}/#/quotas`);
  await page.locator('#quota-list [data-testid="error"]', { hasText: "CLUSTER_AUTHORIZATION_FAILED" }).waitFor({ timeout: 15000 });
  step("a user without ACLs is refused what it may not do");

  // A bearer token instead of a password.
  await logout(page);
  await login(page, { token: env("TOKEN") });
  if ((await principal(page)) !== "User:alice") throw new Error("the token's principal is not User:alice");
  step("logged in with a bearer token");

  // Clean up as the super user: delete the ACL and the user in the UI.
  await logout(page);
  await login(page, { username: "admin", password: env("ADMIN_PASSWORD") });
  await principal(page);
  await page.goto(`${BASE}/#/acls`);
  await acl.waitFor({ timeout: 15000 });
  await acl.locator("button[data-delete-acl]").click();
  await acl.waitFor({ state: "detached", timeout: 15000 });
  await page.goto(`${BASE}/#/users`);
  await row.waitFor({ timeout: 15000 });
  await page.click(`button[data-delete-user="${USER}"]`);
  await row.waitFor({ state: "detached", timeout: 15000 });
  await page.goto(`${BASE}/#/quotas`);
  await quota.waitFor({ timeout: 15000 });
  await quota.locator("button[data-remove-quota]").click();
  await quota.waitFor({ state: "detached", timeout: 15000 });
  step("ACL, user and quota deleted in the UI");

  if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join(" | ")}`);
  step("secured console test passed");
} catch (e) {
  failed = true;
  console.error(`secured console test FAILED: ${e.stack || e}`);
  try { await shot(page, "login-failure.png"); } catch (_) { /* the page may be gone */ }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
