// An item turns IN PROGRESS on the open worklist after our SCU's N-CREATE,
// and its page shows the MPPS history.
import { spawnSync } from "node:child_process";
import { URL, check, env, login, scenario, shot } from "./lib.mjs";

const badge = (page) => page.textContent("tr:has-text('Müller^Jürgen') .status");

scenario(async (page) => {
  await page.goto(`${URL()}/#/worklist`);
  await login(page, "reader", "reader-password");
  await page.waitForSelector("table.items");
  check((await badge(page)) === "SCHEDULED", "scheduled before the MPPS");
  const sent = spawnSync(env("PYLANTIR_BIN"), [
    "test-mpps", "--port", env("DICOM_PORT"), "--callingAEtitle", "MR_SCANNER",
    "--study_uid", env("MPPS_STUDY_UID"), "--patient-id", "P001",
  ], { encoding: "utf8", timeout: 30000 });
  check(sent.status === 0, `test-mpps failed: ${sent.stdout}${sent.stderr}`);
  await page.waitForFunction(
    () => document.querySelector("tr:has(a[href]) .status") && [...document.querySelectorAll("table.items tr")]
      .some((tr) => tr.textContent.includes("Müller^Jürgen") && tr.querySelector(".s-in_progress")),
    null, { timeout: 8000 });
  await shot(page, "worklist-in-progress");
  await page.click("text=Müller^Jürgen");
  await page.waitForSelector("table.history");
  const history = await page.textContent("table.history");
  check(history.includes("IN PROGRESS") && history.includes("MR_SCANNER"), `the MPPS history: ${history}`);
  await page.click("form.explain button[type=submit]");
  await page.waitForSelector(".explain-result .message");
  await shot(page, "item");
});
