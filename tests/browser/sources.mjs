// The sources page shows a failing source's error in full; a write user has
// "Sync now"; the plugins page lists the plugins.
import { URL, check, login, scenario, shot } from "./lib.mjs";

scenario(async (page) => {
  await page.goto(`${URL()}/#/sources`);
  await login(page, "writer", "writer-password");
  await page.waitForSelector("article[data-source=broken] .error-box");
  check((await page.textContent("article[data-source=broken] .state")) === "failing", "the broken source is failing");
  const error = await page.textContent("article[data-source=broken] .error-box pre");
  check(error.includes("missing.csv"), `the error in full: ${error}`);
  check((await page.textContent("article[data-source=visits] .state")) === "idle", "the good source is idle");
  check((await page.textContent(".banner")).includes("1 of 2 sources not healthy"), "the summary");
  await page.click("article[data-source=visits] button.sync");
  await page.waitForSelector("article[data-source=visits] .message");
  await shot(page, "sources");

  await page.click("#bar a[data-page=plugins]");
  await page.waitForSelector("table.plugins");
  const plugins = await page.textContent("table.plugins");
  check(plugins.includes("loaded") && plugins.includes("csv"), `the plugins: ${plugins}`);
  await shot(page, "plugins");
});
