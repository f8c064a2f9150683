// Bench, not a test (run by `cargo bench -p pylantir-tests --bench console_10k`):
// how soon the worklist is usable with ITEMS items in the selected range
// (today). Logs in as CONSOLE_USER, then RUNS times reloads the worklist and
// measures, with the page's own clock (performance.now(), from the start of
// the navigation):
//   rendered   the first page of rows is shown with the total count;
//   filtered   a search typed right then has narrowed the list to one row
//              (includes the console's 150 ms typing debounce);
//   longest    the longest main-thread task during the load and the search
//              (Long Tasks API: only tasks over 50 ms count; 0 means none).
// Prints one line per run and the median and worst of each.
import { URL, check, env, scenario } from "./lib.mjs";

const items = Number(env("ITEMS"));
const runs = Number(process.env.RUNS || "5");
const pageRows = Math.min(items, 100);

// Rows rendered and the count says `of ITEMS`: the time since navigation start.
const rendered = (page) => page.waitForFunction(
  ({ rows, total }) => {
    const count = document.querySelector(".pager .count");
    return document.querySelectorAll("table.items tbody tr").length === rows
      && count && count.textContent.endsWith(`of ${total}`)
      && performance.now();
  },
  { rows: pageRows, total: items }, { polling: "raf", timeout: 30000 });

const oneRow = (page) => page.waitForFunction(
  () => document.querySelectorAll("table.items tbody tr").length === 1 && performance.now(),
  null, { polling: "raf", timeout: 30000 });

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ms = (value) => `${value.toFixed(0).padStart(5)} ms`;

scenario(async (page) => {
  await page.addInitScript(() => {
    window.longestTask = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.longestTask = Math.max(window.longestTask, entry.duration);
    }).observe({ type: "longtask", buffered: true });
  });
  await page.goto(`${URL()}/`);
  await page.fill("#login-form [name=username]", env("CONSOLE_USER"));
  await page.fill("#login-form [name=password]", env("CONSOLE_PASSWORD"));
  const submitted = await page.evaluate(() => performance.now());
  await page.press("#login-form [name=password]", "Enter");
  const afterLogin = (await (await rendered(page)).jsonValue()) - submitted;
  console.log(`login (bcrypt) to the first ${pageRows} of ${items} rows: ${ms(afterLogin)}`);

  const results = [];
  for (let run = 1; run <= runs; run++) {
    await page.evaluate(() => history.replaceState(null, "", "#/worklist"));
    await page.reload();
    const shown = await (await rendered(page)).jsonValue();
    const typed = await page.evaluate(() => performance.now());
    await page.fill("input[name=search]", "Patient4242");
    const narrowed = await (await oneRow(page)).jsonValue();
    const name = await page.textContent("table.items tbody tr td:nth-child(2)");
    check(name === "Bench^Patient4242", `the search found ${name}`);
    const longest = await page.evaluate(() => window.longestTask);
    const result = { rendered: shown, filter: narrowed - typed, filtered: narrowed, longest };
    results.push(result);
    console.log(`run ${run}: rendered ${ms(shown)}  filter answered ${ms(result.filter)} later, at ${ms(narrowed)}  longest task ${ms(longest)}`);
  }
  const summary = (key) => `${ms(median(results.map((r) => r[key])))} median, ${ms(Math.max(...results.map((r) => r[key])))} worst`;
  console.log(`${items} items in range, ${runs} reloads:`);
  console.log(`  navigation to the first ${pageRows} rows rendered:      ${summary("rendered")}`);
  console.log(`  search typed to one row shown (150 ms debounce): ${summary("filter")}`);
  console.log(`  navigation to the search answered:               ${summary("filtered")}`);
  console.log(`  longest main-thread task over 50 ms (0: none):   ${summary("longest")}`);
});
