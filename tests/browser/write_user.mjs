// A write user adds an item, edits it and cancels it (DISCONTINUED).
import { URL, check, login, scenario, shot } from "./lib.mjs";

scenario(async (page) => {
  await page.goto(`${URL()}/#/worklist`);
  await login(page, "writer", "writer-password");
  await page.click("a[href='#/new']");
  await page.fill("form.edit [name=patient_name]", "New^Nora");
  await page.fill("form.edit [name=patient_id]", "P900");
  await page.fill("form.edit [name=accession_number]", "ACC900");
  await page.fill("form.edit [name=modality]", "MR");
  await page.fill("form.edit [name=scheduled_station_aetitle]", "MR_SCANNER");
  await page.fill("form.edit [name=scheduled_start_time]", "15:30");
  await shot(page, "add-item");
  await page.click("form.edit button[type=submit]");
  await page.waitForSelector("dl.fields");
  check((await page.textContent("[data-field=patient_id]")) === "P900", "the new item's page");
  check((await page.textContent("[data-field=data_source]")) === "—", "a manual item has no source");

  await page.click("text=Edit");
  await page.fill("form.edit [name=procedure_description]", "Brain MRI");
  await page.click("form.edit button[type=submit]");
  await page.waitForSelector("dl.fields");
  check((await page.textContent("[data-field=procedure_description]")) === "Brain MRI", "the edit is saved");

  await page.click("text=Cancel item…");
  await page.click("text=Yes, cancel it (DISCONTINUED)");
  await page.waitForSelector("[data-field=performed_procedure_step_status] .s-discontinued");
  await shot(page, "cancelled-item");

  await page.click("#bar a[data-page=worklist]");
  await page.waitForSelector("table.items");
  const status = await page.$$eval("table.items tbody tr", (rows) =>
    rows.find((row) => row.textContent.includes("New^Nora"))?.querySelector(".status").textContent);
  check(status === "DISCONTINUED", `the worklist shows it cancelled: ${status}`);
});
