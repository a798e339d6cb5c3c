// Shared pieces of the browser tests: the browser, a local webhook receiver, signature
// checks and screenshots. Everything runs against 127.0.0.1.
import { createHmac } from "node:crypto";
import http from "node:http";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

export const HERALD_URL = required("HERALD_URL");
export const EMAIL = required("HERALD_EMAIL");
export const PASSWORD = required("HERALD_PASSWORD");
export const TOKEN = required("HERALD_TOKEN");

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through web/run.sh`);
  return value;
}

/** Debian's Chromium, headless; never a downloaded browser. */
export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-background-networking"],
  });
}

/** A desktop-sized viewport; PHONE is for the one small-screen screenshot. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/**
 * A fresh context (its own cookies) and a page in it. Waits give up after 10 s instead of
 * Playwright's 30 s: every page here is local, so a longer wait only delays the report of
 * a missing element.
 */
export async function openPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, ...options });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  watchPolicy(page);
  return { context, page };
}

/**
 * What the pages' Content-Security-Policy blocked so far (Chromium reports each refusal
 * on the console). Herald's pages have no inline script or style, so this stays empty;
 * every journey step fails if it does not.
 */
const violations = [];

function watchPolicy(page) {
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(`${page.url()}: ${message.text()}`);
  });
}

const ARTIFACTS = new URL("../artifacts/", import.meta.url);
mkdirSync(ARTIFACTS, { recursive: true });

/** A full-page screenshot in web/artifacts/NAME.png. */
export async function screenshot(page, name) {
  await page.screenshot({ path: new URL(`${name}.png`, ARTIFACTS).pathname, fullPage: true });
}

/**
 * The steps of one journey, run in order as subtests of `t`: `step(name, body)`.
 *
 * A step that fails saves every open page of `browser` to web/artifacts/failed-STEP-N.png
 * and adds their addresses to its error, so a failure in CI says where the browser stood.
 * The steps after it are skipped: they build on what it should have done, and their own
 * failures would only bury the first one.
 */
export function journey(t, browser) {
  let failed = null;
  return (name, body) => {
    const options = failed ? { skip: `an earlier step failed: ${failed}` } : {};
    return t.test(name, options, async () => {
      try {
        await body();
        if (violations.length) {
          throw new Error(`the Content-Security-Policy blocked something:\n${violations.splice(0).join("\n")}`);
        }
      } catch (error) {
        failed = name;
        const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
        const pages = browser.contexts().flatMap((context) => context.pages());
        const where = [];
        for (const [i, page] of pages.entries()) {
          const file = `failed-${slug}-${i + 1}`;
          await screenshot(page, file).catch(() => {});
          where.push(`${page.url()} (web/artifacts/${file}.png)`);
        }
        error.message += `\n    open pages: ${where.join(", ") || "none"}`;
        throw error;
      }
    });
  };
}

/** Fills in and sends the sign-in form; the caller checks where it lands. */
export async function signIn(page, email = EMAIL, password = PASSWORD) {
  const response = await page.goto(`${HERALD_URL}/ui/login`);
  // Said plainly, rather than as a wait for a missing "Email" field.
  if (!response.ok()) throw new Error(`GET /ui/login answered ${response.status()}, not the sign-in page`);
  // The journeys prove the pages work under the policy: it must be there.
  const policy = response.headers()["content-security-policy"] ?? "";
  if (!policy.includes("default-src 'self'")) throw new Error(`the sign-in page has no Content-Security-Policy (${policy})`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** A webhook receiver: records each request, answers 200. */
export async function startReceiver() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "content-type": "text/plain" }).end("received");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Whether a request carries a Standard Webhooks signature made with `secret` (whsec_…). */
export function signedWith(request, secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const id = request.headers["webhook-id"];
  const timestamp = request.headers["webhook-timestamp"];
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${request.body}`).digest("base64");
  return (request.headers["webhook-signature"] ?? "").split(" ").includes(`v1,${expected}`);
}

/** Polls `check` until it returns something truthy (and returns that), for at most `ms`. */
export async function eventually(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The REST API with the first-run token. */
export async function api(method, path, body) {
  const res = await fetch(`${HERALD_URL}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}
