// The two pictures of docs/operations.md, as a write user on a 1366x768
// screen: the worklist (today's items by station, a source failing in the
// banner) as console-worklist.png, and the sources page (a healthy source,
// the failing one with its error) as console-sources.png. The Rust test
// saves them under target/, or into docs/ when asked to regenerate them.
import { URL, check, login, scenario, shot } from "./lib.mjs";

scenario(async (page) => {
  await page.goto(`${URL()}/`);
  await login(page, "writer", "writer-password");
  await page.waitForSelector("section.station");
  await page.waitForSelector(".banner.bad");
  check((await page.textContent(".pager .count")) === "Items 1–3 of 3", "today's three items");
  await shot(page, "console-worklist");

  await page.click("#bar a[data-page=sources]");
  await page.waitForSelector("article[data-source=broken] .error-box");
  await page.waitForSelector("article[data-source=visits] .st-idle");
  await shot(page, "console-sources");
});
