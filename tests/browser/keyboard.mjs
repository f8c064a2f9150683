// Only the keyboard (Tab, Shift+Tab, Enter, Escape): log in, reach the
// filters and the search, open an item from the list, go back, reach
// Sources. Every element the keyboard focuses shows a focus outline, and
// what looks clickable is a real link or button.
import { URL, check, scenario, shot } from "./lib.mjs";

// What has the focus: "tag[name]" / "tag#id" / "tag.class" and its text.
const focused = (page) => page.evaluate(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return { what: "body", text: "" };
  const name = e.getAttribute("name") ? `[name=${e.getAttribute("name")}]` : e.id ? `#${e.id}` : "";
  const style = getComputedStyle(e);
  return {
    what: `${e.tagName.toLowerCase()}${name}`,
    text: (e.textContent || "").trim(),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    style: `${style.outlineStyle} ${style.outlineWidth} ${e.matches(":focus")} ${e.matches(":focus-visible")}`,
  };
});

// Everything that looks clickable (a pointer cursor) on the page is a real
// link, button or form control, which the keyboard reaches.
async function onlyRealControls(page, what) {
  const fake = await page.evaluate(() => [...document.querySelectorAll("body *")]
    .filter((e) => getComputedStyle(e).cursor === "pointer")
    .filter((e) => !e.closest("a[href], button, input, select, label, summary"))
    .map((e) => e.outerHTML.slice(0, 80)));
  check(fake.length === 0, `${what} has clickable elements that are not links or buttons: ${fake.join(", ")}`);
}

// Presses `key` until the focus is on `wanted` (a focused() .what or a
// function of it), at most 40 times; checks each stop shows its focus.
async function tabTo(page, wanted, key = "Tab") {
  const matches = typeof wanted === "function" ? wanted : (f) => f.what === wanted;
  const path = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press(key);
    const now = await focused(page);
    path.push(now.what);
    check(now.what === "body" || now.outline, `${now.what} "${now.text}" has the focus but shows no focus outline (${now.style}): ${path.join(" → ")}`);
    if (matches(now)) return path;
  }
  throw new Error(`${key} never reached ${wanted}: ${path.join(" → ")}`);
}

scenario(async (page) => {
  await page.goto(`${URL()}/`);
  await page.waitForSelector("#login:not([hidden])");
  check((await focused(page)).what === "input[name=username]", "the user name has the focus on the login page");
  await page.keyboard.type("reader");
  await tabTo(page, "input[name=password]");
  await page.keyboard.type("reader-password");
  await page.keyboard.press("Enter");
  await page.waitForSelector("table.items");

  const path = await tabTo(page, "input[name=search]");
  for (const filter of ["input[name=from]", "input[name=to]", "select[name=modality]", "select[name=station]"]) {
    check(path.includes(filter), `Tab passes the filter ${filter} on the way to the search: ${path.join(" → ")}`);
  }
  await page.keyboard.type("roe");
  await page.waitForFunction(() => document.querySelectorAll("table.items tbody tr").length === 1);
  await tabTo(page, "select[name=station]", "Shift+Tab");
  await tabTo(page, "input[name=search]");
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.querySelectorAll("table.items tbody tr").length === 3);
  await shot(page, "worklist-focus");
  await onlyRealControls(page, "the worklist");

  await tabTo(page, (f) => f.what === "a" && f.text === "Roe^Richard");
  await shot(page, "item-link-focus");
  await page.keyboard.press("Enter");
  await page.waitForSelector("dl.fields");
  check((await page.textContent("h1")).includes("Roe^Richard"), "Enter opens the item");
  await onlyRealControls(page, "an item's page");

  await tabTo(page, (f) => f.what === "a" && f.text === "← Worklist");
  await page.keyboard.press("Enter");
  await page.waitForSelector("table.items");
  check(page.url().includes("#/worklist"), `back on the worklist: ${page.url()}`);

  await tabTo(page, (f) => f.what === "a" && f.text === "Sources", "Shift+Tab");
  await page.keyboard.press("Enter");
  await page.waitForSelector("article.source");
  await onlyRealControls(page, "the sources page");
  await shot(page, "sources");
});
