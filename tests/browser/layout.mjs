// The console on one screen size, LAYOUT (set by the Rust test):
// `desktop` 1366x768 with a mouse, `tablet` 820x1180 and `tablet-landscape`
// 1180x820 with touch. The worklist, an item's page and the sources page
// never scroll sideways; the filters, the search, the station groups and
// "Sync now" are on the screen, and work by click (desktop) or tap (tablet).
import { URL, check, env, login, scenario, shot } from "./lib.mjs";

const LAYOUTS = {
  desktop: { viewport: { width: 1366, height: 768 }, hasTouch: false },
  tablet: { viewport: { width: 820, height: 1180 }, hasTouch: true },
  "tablet-landscape": { viewport: { width: 1180, height: 820 }, hasTouch: true },
};
const name = env("LAYOUT");
const layout = LAYOUTS[name];
if (!layout) throw new Error(`LAYOUT is ${name}, not one of ${Object.keys(LAYOUTS).join(", ")}`);

async function noSidewaysScroll(page, what) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  check(scroll <= client, `${what} scrolls sideways on ${name}: ${scroll} px wide in a ${client} px window`);
}

// `selector` is shown whole within the window's width, not covered by
// anything else once scrolled to, and at least `minHeight` px high (24 for
// a control: a finger's target on a tablet).
async function onScreen(page, selector, minHeight = 24) {
  const problem = await page.$eval(selector, (e, minHeight) => {
    e.scrollIntoView({ block: "center" });
    const box = e.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) return "not shown";
    if (box.left < 0 || box.right > document.documentElement.clientWidth) return `cut off (${box.left}–${box.right} px)`;
    if (box.height < minHeight) return `too small to tap (${box.height} px high)`;
    const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (!top || !(e === top || e.contains(top) || top.contains(e) || top.closest("label")?.contains(e))) {
      return `covered by ${top ? top.outerHTML.slice(0, 80) : "nothing"}`;
    }
    return null;
  }, minHeight);
  check(problem === null, `${selector} on ${name}: ${problem}`);
}

// Clicks, or taps on a touch screen.
const press = (page, selector) => (layout.hasTouch ? page.tap(selector) : page.click(selector));

scenario(async (page) => {
  await page.goto(`${URL()}/`);
  await login(page, "writer", "writer-password");
  await page.waitForSelector("section.station");
  await noSidewaysScroll(page, "the worklist");
  for (const control of [
    "input[name=from]", "input[name=to]", "select[name=modality]", "select[name=station]",
    "input[name=search]", "label:has(> input[name=status][value=SCHEDULED])",
    "#bar a[data-page=sources]", "a[href='#/new']",
  ]) {
    await onScreen(page, control);
  }
  await onScreen(page, "section.station:last-of-type h2", 0);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, `${name}-worklist`);

  await press(page, "label:has(> input[name=status][value=COMPLETED])");
  await page.waitForSelector("text=No items");
  await press(page, "label:has(> input[name=status][value=COMPLETED])");
  await page.waitForSelector("text=Roe^Richard");
  await page.fill("input[name=search]", "roe");
  await page.waitForFunction(() => document.querySelectorAll("table.items tbody tr").length === 1);
  await press(page, "text=Roe^Richard");
  await page.waitForSelector("dl.fields");
  await noSidewaysScroll(page, "an item's page");
  await onScreen(page, "form.explain button[type=submit]");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, `${name}-item`);

  await press(page, "#bar a[data-page=sources]");
  await page.waitForSelector("article[data-source=broken] .error-box");
  await noSidewaysScroll(page, "the sources page");
  await onScreen(page, "article[data-source=visits] button.sync");
  await press(page, "article[data-source=visits] button.sync");
  await page.waitForSelector("article[data-source=visits] .message");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, `${name}-sources`);
}, layout);
