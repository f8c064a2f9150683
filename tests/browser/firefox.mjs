// Debian's Firefox ESR (/usr/bin/firefox-esr) headless, driven over
// WebDriver BiDi by puppeteer-core (Playwright can only drive its own patched
// Firefox). `FirefoxPage` gives the scenarios the few Playwright `Page`
// methods they use, so one scenario script runs in both browsers. Selectors
// are CSS, or Playwright's `text=...`, which becomes puppeteer's
// `::-p-text(...)` (elements containing that text).
import puppeteer from "puppeteer-core";

// Firefox has no internet here: nothing in the background may reach for it
// (puppeteer's defaults already turn off safe browsing, updates of Firefox
// and its search engines, and the data reporting). Remote Settings
// (firefox.settings.services.mozilla.com) ignores a changed server on a
// release build unless MOZ_DISABLE_NONLOCAL_CONNECTIONS is set, which also
// keeps Firefox off every address but loopback, as Mozilla's own test
// harness does; its dummy server then makes it skip its fetches.
const OFFLINE_PREFS = {
  "app.update.enabled": false,
  "app.update.auto": false,
  "browser.shell.checkDefaultBrowser": false,
  "browser.safebrowsing.provider.google4.updateURL": "",
  "browser.safebrowsing.provider.mozilla.updateURL": "",
  "browser.region.network.url": "",
  "browser.region.update.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "network.dns.disablePrefetch": true,
  "network.prefetch-next": false,
  "network.predictor.enabled": false,
  "datareporting.healthreport.uploadEnabled": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.enabled": false,
  "toolkit.telemetry.unified": false,
  "toolkit.telemetry.server": "",
  "toolkit.telemetry.archive.enabled": false,
  "services.settings.server": "data:,#remote-settings-dummy/v1",
  "messaging-system.rsexperimentloader.enabled": false,
  "app.shield.optoutstudies.enabled": false,
  "extensions.update.enabled": false,
  "extensions.getAddons.cache.enabled": false,
  "extensions.blocklist.enabled": false,
  "geo.provider.network.url": "",
};

// Launches Firefox with the fresh profile `profile` and a `width`x`height`
// page; returns { page, close }.
export async function launchFirefox(profile, { width, height }) {
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: process.env.FIREFOX || "/usr/bin/firefox-esr",
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: OFFLINE_PREFS,
    defaultViewport: { width, height },
    env: { ...process.env, MOZ_DISABLE_NONLOCAL_CONNECTIONS: "1" },
  });
  const page = await browser.newPage();
  return { page: new FirefoxPage(page), close: () => browser.close() };
}

// Playwright's `text=...` as puppeteer's text selector; CSS unchanged.
function selector(s) {
  return s.startsWith("text=") ? `::-p-text(${JSON.stringify(s.slice(5))})` : s;
}

// The Playwright `Page` methods the scenarios use, over a puppeteer page.
// Like Playwright's, the actions wait for their element.
class FirefoxPage {
  constructor(page) {
    this.page = page;
  }

  setDefaultTimeout(ms) {
    this.page.setDefaultTimeout(ms);
  }

  on(event, handler) {
    this.page.on(event, handler);
  }

  goto(url) {
    return this.page.goto(url);
  }

  reload() {
    return this.page.reload();
  }

  url() {
    return this.page.url();
  }

  evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  screenshot(options) {
    return this.page.screenshot(options);
  }

  waitForSelector(s, options) {
    return this.page.waitForSelector(selector(s), { visible: true, ...options });
  }

  waitForFunction(fn, arg, options) {
    return this.page.waitForFunction(fn, { polling: 100, ...options }, arg);
  }

  $(s) {
    return this.page.$(selector(s));
  }

  $$eval(s, fn, arg) {
    return this.page.$$eval(selector(s), fn, arg);
  }

  async textContent(s) {
    const element = await this.page.waitForSelector(selector(s));
    return element.evaluate((e) => e.textContent);
  }

  async inputValue(s) {
    const element = await this.page.waitForSelector(selector(s));
    return element.evaluate((e) => e.value);
  }

  async isHidden(s) {
    const element = await this.page.$(selector(s));
    return !element || !(await element.isVisible());
  }

  click(s) {
    return this.page.locator(selector(s)).click();
  }

  fill(s, value) {
    return this.page.locator(selector(s)).fill(value);
  }

  async press(s, key) {
    const element = await this.page.waitForSelector(selector(s));
    await element.press(key);
  }

  async selectOption(s, value) {
    await this.page.waitForSelector(selector(s));
    await this.page.select(selector(s), value);
  }

  check(s) {
    return this.setChecked(s, true);
  }

  uncheck(s) {
    return this.setChecked(s, false);
  }

  async setChecked(s, wanted) {
    const element = await this.page.waitForSelector(selector(s), { visible: true });
    if ((await element.evaluate((e) => e.checked)) !== wanted) await element.click();
  }

  async dispatchEvent(s, type) {
    const element = await this.page.waitForSelector(selector(s));
    await element.evaluate((e, t) => e.dispatchEvent(new Event(t, { bubbles: true, cancelable: true })), type);
  }
}
