// A read user: logs in, sees today's items grouped by station, filters them
// by search, station, modality, status and dates (the filters survive the
// auto refresh), finds no edit controls; an expired token brings back the
// login form, after which the same page shows; logging out ends the session.
import { URL, check, expiredToken, login, scenario, shot, tomorrow } from "./lib.mjs";

const rowNames = (page) => page.$$eval("table.items tbody tr td:nth-child(2)", (cells) => cells.map((c) => c.textContent));
const rowsAre = (page, names) => page.waitForFunction(
  (wanted) => JSON.stringify([...document.querySelectorAll("table.items tbody tr td:nth-child(2)")].map((c) => c.textContent)) === wanted,
  JSON.stringify(names));

scenario(async (page) => {
  await page.goto(`${URL()}/`);
  await login(page, "reader", "reader-password");
  await page.waitForSelector("section.station");
  const stations = await page.$$eval("section.station h2", (hs) => hs.map((h) => h.firstChild.textContent));
  check(JSON.stringify(stations) === '["CT_SCANNER","MR_SCANNER"]', `stations: ${stations}`);
  const names = await rowNames(page);
  check(JSON.stringify(names) === '["Doe^Jane","Müller^Jürgen","Roe^Richard"]', `today's items: ${names}`);
  check((await page.textContent(".pager .count")) === "Items 1–3 of 3", "the count");
  await page.waitForSelector(".banner.bad");
  check((await page.textContent(".banner.bad")).includes("broken"), "the worklist names the failing source");
  await shot(page, "worklist");

  await page.fill("input[name=search]", "roe");
  await page.waitForFunction(() => document.querySelectorAll("table.items tbody tr").length === 1);
  check(JSON.stringify(await rowNames(page)) === '["Roe^Richard"]', "search by name");
  await page.fill("input[name=search]", "acc002");
  await page.waitForFunction(() => document.querySelector("table.items tbody tr td:nth-child(2)")?.textContent === "Doe^Jane");
  await page.fill("input[name=search]", "");
  await page.selectOption("select[name=station]", "MR_SCANNER");
  await page.waitForFunction(() => document.querySelectorAll("table.items tbody tr").length === 2);
  check(page.url().includes("station=MR_SCANNER"), `the filters are in the address: ${page.url()}`);
  const loaded = await page.textContent(".updated");
  await page.waitForFunction((before) => document.querySelector(".updated").textContent !== before, loaded);
  check(JSON.stringify(await rowNames(page)) === '["Müller^Jürgen","Roe^Richard"]', "the filter holds after a refresh");
  check((await page.inputValue("select[name=station]")) === "MR_SCANNER", "the station stays chosen");
  await page.check("input[name=status][value=COMPLETED]");
  await page.waitForSelector("text=No items");
  await page.uncheck("input[name=status][value=COMPLETED]");
  await page.check("input[name=status][value=SCHEDULED]");
  await rowsAre(page, ["Müller^Jürgen", "Roe^Richard"]);
  await page.uncheck("input[name=status][value=SCHEDULED]");
  await page.fill("input[name=to]", tomorrow());
  await page.dispatchEvent("input[name=to]", "change");
  await rowsAre(page, ["Müller^Jürgen", "Roe^Richard", "Later^Lara"]);
  await page.selectOption("select[name=station]", "");
  await page.selectOption("select[name=modality]", "CT");
  await rowsAre(page, ["Doe^Jane"]);
  await page.selectOption("select[name=modality]", "");
  await page.waitForSelector("text=Roe^Richard");

  check((await page.$("a[href='#/new']")) === null, "no Add item for a read user");
  await page.click("text=Roe^Richard");
  await page.waitForSelector("dl.fields");
  check((await page.$("text=Edit")) === null && (await page.$("text=Cancel item")) === null, "no edit controls for a read user");
  const itemUrl = page.url();
  await page.goto(`${URL()}/#/sources`);
  await page.waitForSelector("article.source");
  check((await page.$("button.sync")) === null, "no Sync now for a read user");
  await page.goto(itemUrl);
  await page.waitForSelector("dl.fields");

  await page.evaluate((token) => { sessionStorage.setItem("pylantir.console.token", token); }, expiredToken("reader"));
  await page.reload();
  await page.waitForSelector("#login:not([hidden])");
  check((await page.textContent("#login-message")).includes("log in again"), "the login says why");
  await shot(page, "expired-session");
  await login(page, "reader", "reader-password");
  await page.waitForSelector("dl.fields");
  check(page.url() === itemUrl, `back on the same page: ${page.url()}`);
  check((await page.textContent("h1")).includes("Roe^Richard"), "the same item");

  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  check((await page.textContent("#login-message")).includes("logged out"), "the login says so");
  await page.reload();
  await page.waitForSelector("#login:not([hidden])");
  check(await page.isHidden("#bar"), "no session survives the logout");
});
