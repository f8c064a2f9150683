// Shared by the console's browser scenarios: launch Debian's Chromium
// headless through playwright-core (or Debian's Firefox ESR through
// puppeteer-core, firefox.mjs), log in, save screenshots, and check.
// The Rust test (tests/tests/console*.rs) starts `pylantir start` and passes
// where it is through the environment:
//   CONSOLE_URL      the API's base URL (the console is at /)
//   CONSOLE_BROWSER  `chromium` (when unset) or `firefox`
//   SCREENSHOT_DIR   where screenshots go (under target/)
//   PYLANTIR_BIN     the pylantir binary (for test-mpps)
//   DICOM_PORT       the DICOM port of the server
//   SECRET_FILE      the token secret (to make an expired token)
import { chromium } from "playwright-core";
import { launchFirefox } from "./firefox.mjs";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the Rust test sets it)`);
  return value;
};

export const URL = () => env("CONSOLE_URL");

// One browser with a fresh profile; `run(page)` gets a page of `viewport`
// (1366x768 unless given; `hasTouch` for a tablet, Chromium only).
export async function withBrowser(run, { viewport = { width: 1366, height: 768 }, hasTouch = false } = {}) {
  const browser = process.env.CONSOLE_BROWSER || "chromium";
  const profile = mkdtempSync(join(tmpdir(), `pylantir-${browser}-`));
  const { page, close } = browser === "firefox"
    ? await launchFirefox(profile, viewport)
    : await launchChromium(profile, viewport, hasTouch);
  try {
    page.setDefaultTimeout(10000);
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await run(page);
    if (errors.length) throw new Error(`errors in the page: ${errors.join("\n")}`);
  } finally {
    await close();
    rmSync(profile, { recursive: true, force: true });
  }
}

async function launchChromium(profile, viewport, hasTouch) {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport,
    hasTouch,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  return { page, close: () => context.close() };
}

export async function login(page, username, password) {
  await page.fill("#login-form [name=username]", username);
  await page.fill("#login-form [name=password]", password);
  await page.press("#login-form [name=password]", "Enter");
  await page.waitForSelector("#bar:not([hidden])");
}

export async function shot(page, name) {
  const dir = env("SCREENSHOT_DIR");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// An HS256 token for `sub` that expired a minute ago, signed with the server's secret.
export function expiredToken(sub) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, exp: Math.floor(Date.now() / 1000) - 60 })}`;
  const signature = createHmac("sha256", readFileSync(env("SECRET_FILE"))).update(body).digest("base64url");
  return `${body}.${signature}`;
}

function isoDate(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function tomorrow() {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  return isoDate(d);
}

// Runs a scenario (`options` as withBrowser's): exit code 0 when it passes,
// 1 with the error otherwise.
export function scenario(run, options) {
  withBrowser(run, options).then(
    () => process.exit(0),
    (error) => {
      console.error(error && error.stack ? error.stack : error);
      process.exit(1);
    },
  );
}
