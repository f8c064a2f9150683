// An item retracted by its source (Roe^Richard, gone from the CSV file)
// shows on the worklist as RETRACTED, its row grey and struck through, with the
// reason as the badge's tooltip; the other items do not.
import { URL, check, login, scenario, shot } from "./lib.mjs";

scenario(async (page) => {
  await page.goto(`${URL()}/`);
  await login(page, "reader", "reader-password");
  await page.waitForSelector("section.station");
  const row = "table.items tbody tr.row-retracted";
  await page.waitForSelector(row);
  const badge = `${row} .status`;
  check((await page.textContent(badge)) === "RETRACTED", "the status says RETRACTED");
  check(((await page.getAttribute(badge, "title")) || "").length > 0, "the badge gives the reason");
  const look = await page.$eval(`${row} td.time`, (cell) => {
    const style = getComputedStyle(cell);
    return { color: style.color, line: style.textDecorationLine };
  });
  check(look.line === "line-through", `the retracted row is struck through: ${look.line}`);
  check(look.color === "rgb(107, 114, 128)", `the retracted row is grey: ${look.color}`);
  const retracted = await page.$$eval("tr.row-retracted td:nth-child(2)", (cells) => cells.map((c) => c.textContent));
  check(JSON.stringify(retracted) === '["Roe^Richard"]', `only Roe^Richard is retracted: ${retracted}`);
  await shot(page, "worklist-retracted");
});
