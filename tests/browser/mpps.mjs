// An item turns IN PROGRESS on the open worklist after our SCU's N-CREATE;
// its page shows the change in the status history, and a write user can no
// longer cancel it (MPPS sets its status).
import { spawnSync } from "node:child_process";
import { URL, check, env, login, scenario, shot } from "./lib.mjs";

const badge = (page) => page.textContent("tr:has-text('Müller^Jürgen') .status");

scenario(async (page) => {
  await page.goto(`${URL()}/#/worklist`);
  await login(page, "writer", "writer-password");
  await page.waitForSelector("table.items");
  check((await badge(page)) === "SCHEDULED", "scheduled before the MPPS");
  const sent = spawnSync(env("PYLANTIR_BIN"), [
    "test-mpps", "--port", env("DICOM_PORT"), "--callingAEtitle", "MR_SCANNER",
    "--study_uid", env("MPPS_STUDY_UID"), "--patient-id", "P001",
  ], { encoding: "utf8", timeout: 30000 });
  check(sent.status === 0, `test-mpps failed: ${sent.stdout}${sent.stderr}`);
  await page.waitForSelector("tr:has-text('Müller^Jürgen') .s-in_progress", { timeout: 8000 });
  await shot(page, "worklist-in-progress");

  await page.click("text=Müller^Jürgen");
  await page.waitForSelector("table.history tbody tr:nth-child(2)");
  const steps = await page.$$eval("table.history tbody tr", (rows) =>
    rows.map((row) => [...row.cells].map((cell) => cell.textContent)));
  check(steps.length === 2, `two status changes: ${JSON.stringify(steps)}`);
  const [synced, performed] = steps;
  check(JSON.stringify(synced.slice(1)) === '["—","SCHEDULED","Source","sync of source visits"]', `the sync: ${synced}`);
  check(JSON.stringify(performed.slice(1, 4)) === '["SCHEDULED","IN PROGRESS","MPPS"]' && performed[4].startsWith("N-CREATE "),
    `the N-CREATE: ${performed}`);

  check((await page.$("text=Cancel item…")) === null, "no cancel for an item MPPS performs");
  check((await page.textContent(".mpps-note")).includes("set by MPPS"), "the page says why");
  await page.click("text=Explain");
  await page.waitForSelector(".explain-result .message");
  await shot(page, "item");
  await page.click("text=Edit");
  await page.waitForSelector("form.edit");
  check(await page.isDisabled("form.edit [name=performed_procedure_step_status]"), "the status is not editable");
});
