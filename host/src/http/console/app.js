// pylantir web console: one page over the HTTP API. The route lives in
// location.hash (#/worklist?..., #/item/ID, #/item/ID/edit, #/new,
// #/sources, #/plugins), so a reload or a new login returns to the same page.
// The token lives in sessionStorage; any 401 shows the login form over the
// current route.
"use strict";

const TOKEN_KEY = "pylantir.console.token";
const REFRESH_MS = 4000;
const PAGE_SIZE = 100;
const TOKEN_MINUTES = 480;
const STATUSES = ["SCHEDULED", "IN_PROGRESS", "COMPLETED", "DISCONTINUED", "RETRACTED"];
const ITEM_STATUSES = STATUSES.slice(0, 4);
// The item fields in the API's order (GET /worklist), with labels.
const FIELDS = [
  ["patient_name", "Patient name"],
  ["patient_id", "Patient ID"],
  ["patient_birth_date", "Birth date"],
  ["patient_sex", "Sex"],
  ["patient_weight_lb", "Weight (lb)"],
  ["accession_number", "Accession number"],
  ["referring_physician_name", "Referring physician"],
  ["modality", "Modality"],
  ["study_description", "Study description"],
  ["scheduled_station_aetitle", "Station AE title"],
  ["scheduled_start_date", "Scheduled date"],
  ["scheduled_start_time", "Scheduled time"],
  ["performing_physician", "Performing physician"],
  ["procedure_description", "Procedure"],
  ["protocol_name", "Protocol"],
  ["station_name", "Station name"],
  ["performed_procedure_step_status", "Status"],
  ["study_instance_uid", "Study Instance UID"],
  ["data_source", "Source"],
  ["source_record_id", "Source record id"],
];
// Fields PUT ignores (shown read-only when editing).
const FIXED_ON_EDIT = ["study_instance_uid", "accession_number"];

const session = { token: sessionStorage.getItem(TOKEN_KEY), user: null };
let current = null; // the shown view: { refresh?: async () => void }
let timer = null;

// ---------- small helpers ----------

function $(selector, root) {
  return (root || document).querySelector(selector);
}

// Builds an element: el("a", {href: "#"}, "text", child, ...).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function isoDate(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function today() {
  return isoDate(new Date());
}

// "20261125" or "2026-11-25" -> "2026-11-25".
function showDate(value) {
  if (!value) return "";
  const digits = value.replace(/[^0-9]/g, "");
  return digits.length === 8 ? `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6)}` : value;
}

// "0930", "093000" or "09:30" -> "09:30".
function showTime(value) {
  if (!value) return "";
  const digits = value.replace(/[^0-9]/g, "");
  return digits.length >= 4 ? `${digits.slice(0, 2)}:${digits.slice(2, 4)}` : value;
}

function showInstant(value) {
  if (!value) return "—";
  const date = new Date(value);
  return isNaN(date) ? value : date.toLocaleString();
}

function canWrite() {
  return session.user && (session.user.role === "write" || session.user.role === "admin");
}

function shownStatus(item) {
  return item.retracted_at ? "RETRACTED" : item.performed_procedure_step_status || "SCHEDULED";
}

function statusBadge(status, title) {
  return el("span", { class: `status s-${status.toLowerCase()}`, title }, status.replace("_", " "));
}

// A 422 list or a text detail, as one line.
function detailText(body, status) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return detail || `HTTP ${status}`;
}

// ---------- the API ----------

class SessionExpired extends Error {}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (response.status === 401 && path !== "/auth/login") {
    showLogin("Your session has ended; please log in again.");
    throw new SessionExpired();
  }
  return { status: response.status, body: data };
}

// ---------- login ----------

function showLogin(message) {
  session.token = null;
  session.user = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopRefresh();
  current = null;
  $("#bar").hidden = true;
  $("#view").hidden = true;
  $("#view").replaceChildren();
  $("#login").hidden = false;
  $("#login-message").textContent = message || "";
  const name = $("#login-form [name=username]");
  name.focus();
}

async function loadUser() {
  const answer = await api("GET", "/console/api/me");
  if (answer.status !== 200) throw new Error(detailText(answer.body, answer.status));
  session.user = answer.body;
  $("#who").textContent = `${session.user.username} (${session.user.role})`;
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.target;
  const button = $("button", form);
  button.disabled = true;
  try {
    const answer = await api("POST", "/auth/login", {
      username: form.username.value,
      password: form.password.value,
      access_token_expire_minutes: TOKEN_MINUTES,
    });
    if (answer.status !== 200) {
      $("#login-message").textContent =
        answer.status === 401 ? "Invalid user name or password." : detailText(answer.body, answer.status);
      return;
    }
    session.token = answer.body.access_token;
    sessionStorage.setItem(TOKEN_KEY, session.token);
    form.password.value = "";
    await enter();
  } catch (error) {
    if (!(error instanceof SessionExpired)) $("#login-message").textContent = String(error.message || error);
  } finally {
    button.disabled = false;
  }
}

async function enter() {
  await loadUser();
  $("#login").hidden = true;
  $("#bar").hidden = false;
  $("#view").hidden = false;
  await route();
}

// ---------- routing and refresh ----------

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query || "") };
}

function stopRefresh() {
  if (timer) clearInterval(timer);
  timer = null;
}

function startRefresh() {
  stopRefresh();
  timer = setInterval(async () => {
    if (!current || !current.refresh || document.hidden) return;
    try {
      await current.refresh();
    } catch (error) {
      if (!(error instanceof SessionExpired)) console.warn("refresh failed", error);
    }
  }, REFRESH_MS);
}

async function route() {
  if (!session.user) return;
  stopRefresh();
  const { parts, params } = parseHash();
  const page = parts[0] || "worklist";
  for (const link of document.querySelectorAll("#bar nav a")) {
    link.toggleAttribute("aria-current", link.dataset.page === page || (page === "item" && link.dataset.page === "worklist"));
  }
  const view = $("#view");
  view.replaceChildren();
  try {
    if (page === "sources") current = await sourcesView(view);
    else if (page === "plugins") current = await pluginsView(view);
    else if (page === "new") current = await editView(view, null);
    else if (page === "item" && parts[2] === "edit") current = await editView(view, parts[1]);
    else if (page === "item") current = await itemView(view, parts[1]);
    else current = await worklistView(view, params);
    startRefresh();
  } catch (error) {
    if (!(error instanceof SessionExpired)) {
      view.replaceChildren(el("p", { class: "message error", role: "alert" }, String(error.message || error)));
    }
  }
}

// Replaces `container`'s children with `nodes`, keeping the window's
// scroll position and the focus (by data-key).
function replaceKeeping(container, nodes) {
  const x = window.scrollX;
  const y = window.scrollY;
  const focused = document.activeElement && container.contains(document.activeElement)
    ? document.activeElement.dataset.key
    : null;
  container.replaceChildren(...nodes);
  if (focused) {
    const again = container.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  window.scrollTo(x, y);
}

// ---------- sources health (shown on the worklist) ----------

function sourceHealthy(source) {
  return source.state === "idle" || source.state === "syncing" || source.state === "disabled";
}

async function sourcesBanner() {
  const answer = await api("GET", "/sources");
  if (answer.status !== 200 || !Array.isArray(answer.body)) return null;
  const sources = answer.body;
  const bad = sources.filter((s) => !sourceHealthy(s));
  if (bad.length === 0) {
    return el("p", { class: "banner ok" }, `Sources: all ${sources.length} healthy. `, el("a", { href: "#/sources" }, "Details"));
  }
  return el(
    "p",
    { class: "banner bad", role: "status" },
    `Sources: ${bad.length} of ${sources.length} not healthy (${bad.map((s) => `${s.name}: ${s.state.replaceAll("_", " ")}`).join(", ")}). `,
    el("a", { href: "#/sources" }, "See the sources"),
  );
}

// ---------- worklist ----------

function worklistQuery(params) {
  const query = new URLSearchParams();
  query.set("from", params.get("from") || today());
  query.set("to", params.get("to") || params.get("from") || today());
  for (const name of ["modality", "station", "search"]) {
    if (params.get(name)) query.set(name, params.get(name));
  }
  for (const status of (params.get("status") || "").split(",").filter(Boolean)) query.append("status", status);
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  query.set("limit", String(PAGE_SIZE));
  query.set("offset", String((page - 1) * PAGE_SIZE));
  return query;
}

async function worklistView(view, params) {
  const form = el("form", { class: "filters", role: "search", "aria-label": "Worklist filters" });
  const from = el("input", { type: "date", name: "from", value: params.get("from") || today() });
  const to = el("input", { type: "date", name: "to", value: params.get("to") || params.get("from") || today() });
  const modality = el("select", { name: "modality" }, el("option", { value: "" }, "All"));
  const station = el("select", { name: "station" }, el("option", { value: "" }, "All"));
  const search = el("input", {
    type: "search",
    name: "search",
    placeholder: "Name, patient ID or accession",
    value: params.get("search") || "",
  });
  const chosen = (params.get("status") || "").split(",").filter(Boolean);
  const statusBoxes = STATUSES.map((status) =>
    el("label", { class: "check" },
      el("input", { type: "checkbox", name: "status", value: status, checked: chosen.includes(status) }),
      statusBadge(status)),
  );
  form.append(
    el("label", {}, "From ", from),
    el("label", {}, "To ", to),
    el("button", { type: "button", onclick: () => { from.value = today(); to.value = today(); apply(true); } }, "Today"),
    el("label", {}, "Modality ", modality),
    el("label", {}, "Station ", station),
    el("label", { class: "grow" }, "Search ", search),
    el("fieldset", { class: "statuses" }, el("legend", {}, "Status (none: all)"), statusBoxes),
  );
  const banner = el("div", { class: "banner-slot" });
  const updated = el("span", { class: "muted updated", "aria-live": "off" });
  const head = el("div", { class: "head" }, el("h1", {}, "Worklist"), updated,
    canWrite() ? el("a", { class: "button", href: "#/new" }, "Add item") : null);
  const results = el("div", { class: "results", "aria-live": "polite" });
  view.append(head, banner, form, results);

  let page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  let last = null;

  function state() {
    const next = new URLSearchParams();
    next.set("from", from.value || today());
    next.set("to", to.value || from.value || today());
    if (modality.value) next.set("modality", modality.value);
    if (station.value) next.set("station", station.value);
    if (search.value.trim()) next.set("search", search.value.trim());
    const statuses = statusBoxes.map((l) => $("input", l)).filter((b) => b.checked).map((b) => b.value);
    if (statuses.length) next.set("status", statuses.join(","));
    if (page > 1) next.set("page", String(page));
    return next;
  }

  function fillSelect(select, values, chosenValue) {
    const wanted = ["", ...values];
    const have = [...select.options].map((o) => o.value);
    if (chosenValue && !wanted.includes(chosenValue)) wanted.push(chosenValue);
    if (have.join("\n") === wanted.join("\n")) return;
    select.replaceChildren(...wanted.map((v) => el("option", { value: v, selected: v === chosenValue }, v || "All")));
  }

  async function load() {
    const params = state();
    const answer = await api("GET", `/console/api/worklist?${worklistQuery(params)}`);
    if (answer.status !== 200) {
      replaceKeeping(results, [el("p", { class: "message error", role: "alert" }, detailText(answer.body, answer.status))]);
      return;
    }
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    fillSelect(modality, answer.body.modalities, modality.value || params.get("modality") || "");
    fillSelect(station, answer.body.stations, station.value || params.get("station") || "");
    const text = JSON.stringify(answer.body);
    if (text === last) return;
    last = text;
    replaceKeeping(results, worklistResults(answer.body, page, from.value !== to.value, (p) => { page = p; apply(false); }));
  }

  async function loadBanner() {
    const node = await sourcesBanner();
    replaceKeeping(banner, node ? [node] : []);
  }

  let debounce = null;
  function apply(resetPage) {
    if (resetPage) page = 1;
    history.replaceState(null, "", `#/worklist?${state()}`);
    clearTimeout(debounce);
    debounce = setTimeout(() => load().catch(ignoreExpired), 150);
  }
  modality.value = params.get("modality") || "";
  station.value = params.get("station") || "";
  form.addEventListener("change", () => apply(true));
  search.addEventListener("input", () => apply(true));
  search.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && search.value) {
      search.value = "";
      apply(true);
    }
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(true); });
  fillSelect(modality, [], params.get("modality") || "");
  fillSelect(station, [], params.get("station") || "");

  await Promise.all([load(), loadBanner()]);
  return { refresh: () => Promise.all([load(), loadBanner()]) };
}

function ignoreExpired(error) {
  if (!(error instanceof SessionExpired)) console.warn(error);
}

function worklistResults(data, page, showDates, goTo) {
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  const first = data.total === 0 ? 0 : (page - 1) * PAGE_SIZE + 1;
  const lastShown = Math.min(data.total, page * PAGE_SIZE);
  const pager = el("nav", { class: "pager", "aria-label": "Pages" },
    el("span", { class: "count" }, data.total === 0 ? "No items" : `Items ${first}–${lastShown} of ${data.total}`),
    el("button", { type: "button", disabled: page <= 1, onclick: () => goTo(page - 1), dataset: { key: "prev" } }, "Previous"),
    el("span", {}, `Page ${page} of ${pages}`),
    el("button", { type: "button", disabled: page >= pages, onclick: () => goTo(page + 1), dataset: { key: "next" } }, "Next"),
  );
  const groups = new Map();
  for (const item of data.items) {
    const key = item.scheduled_station_aetitle || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(item);
  }
  const sections = [...groups].map(([station, items]) =>
    el("section", { class: "station", "aria-label": `Station ${station || "none"}` },
      el("h2", {}, station || "(no station)", el("span", { class: "count" }, ` ${items.length}`)),
      el("div", { class: "scroll" },
        el("table", { class: "items" },
          el("thead", {}, el("tr", {},
            ["Time", "Patient", "Patient ID", "Accession", "Modality", "Procedure", "Status", "Source"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, items.map((item) => itemRow(item, showDates)))))));
  return [pager, ...sections];
}

function itemRow(item, showDates) {
  const status = shownStatus(item);
  return el("tr", { class: `row-${status.toLowerCase()}`, dataset: { id: item.id } },
    el("td", { class: "time" }, showDates ? `${showDate(item.scheduled_start_date)} ` : "", showTime(item.scheduled_start_time)),
    el("td", {}, el("a", { href: `#/item/${item.id}`, dataset: { key: `item-${item.id}` } }, item.patient_name || "(no name)")),
    el("td", {}, item.patient_id || ""),
    el("td", {}, item.accession_number || ""),
    el("td", {}, item.modality || ""),
    el("td", {}, item.procedure_description || item.study_description || ""),
    el("td", {}, statusBadge(status, item.retracted_reason)),
    el("td", {}, item.data_source || "manual"),
  );
}

// ---------- one item ----------

async function fetchItem(id) {
  const answer = await api("GET", `/console/api/worklist/${encodeURIComponent(id)}`);
  if (answer.status !== 200) throw new Error(detailText(answer.body, answer.status));
  return answer.body;
}

// Every status item `id` had, oldest first: [{at, from_status, to_status, by, detail}].
async function fetchHistory(id) {
  const answer = await api("GET", `/worklist/${encodeURIComponent(id)}/history`);
  if (answer.status !== 200) throw new Error(detailText(answer.body, answer.status));
  return answer.body;
}

// Who gives a status: an MPPS message, a source's sync or an API user.
const CHANGED_BY = { mpps: "MPPS", source: "Source", api: "User" };

function fieldList(item) {
  const rows = FIELDS.map(([name, label]) => {
    let value = item[name];
    if (name === "performed_procedure_step_status") value = statusBadge(shownStatus(item), item.retracted_reason);
    else if (name === "scheduled_start_date") value = showDate(value);
    return [el("dt", {}, label), el("dd", { dataset: { field: name } }, value === null || value === undefined || value === "" ? "—" : value)];
  });
  rows.push([el("dt", {}, "Status set by"), el("dd", {}, item.status_set_by || "—")]);
  if (item.retracted_at) {
    rows.push([el("dt", {}, "Retracted"), el("dd", {}, `${showInstant(item.retracted_at)}: ${item.retracted_reason || ""}`)]);
  }
  return el("dl", { class: "fields" }, rows.flat());
}

function historyTable(changes) {
  if (changes.length === 0) return el("p", { class: "muted" }, "No status change is recorded for this item.");
  return el("table", { class: "history" },
    el("thead", {}, el("tr", {}, ["When", "From", "To", "By", "Detail"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, changes.map((change) =>
      el("tr", { class: `by-${change.by}` },
        el("td", { class: "time" }, showInstant(change.at)),
        el("td", {}, change.from_status ? statusBadge(change.from_status) : "—"),
        el("td", {}, statusBadge(change.to_status)),
        el("td", {}, CHANGED_BY[change.by] || change.by),
        el("td", { class: "uid" }, change.detail)))));
}

// An MPPS instance sets this item's status: the API refuses other changes.
function statusSetByMpps(item) {
  return item.status_set_by === "mpps";
}

// The write role's controls: Edit, and Cancel unless MPPS sets the status.
function itemActions(item, message) {
  if (!canWrite()) return [];
  const edit = el("a", { class: "button", href: `#/item/${item.id}/edit`, dataset: { key: "edit" } }, "Edit");
  if (statusSetByMpps(item)) {
    return [edit, el("span", { class: "muted mpps-note" }, "The status is set by MPPS; it cannot be cancelled here.")];
  }
  const confirm = el("button", { type: "button", class: "danger", hidden: true, onclick: () => cancelItem(item.id, message) },
    "Yes, cancel it (DISCONTINUED)");
  return [
    edit,
    el("button", { type: "button", dataset: { key: "cancel" }, onclick: () => { confirm.hidden = false; confirm.focus(); } }, "Cancel item…"),
    confirm,
  ];
}

async function itemView(view, id) {
  const item = await fetchItem(id);
  const details = el("div", {});
  const history = el("div", {});
  const message = el("p", { class: "message", role: "status" });
  const actions = el("div", { class: "actions" });
  let actionsFor = null;
  view.append(
    el("p", {}, el("a", { href: "#/worklist" }, "← Worklist")),
    el("div", { class: "head" }, el("h1", {}, item.patient_name || "(no name)", " ", el("span", { class: "muted" }, `item ${item.id}`)), actions),
    message,
    details,
    el("h2", {}, "Status history"),
    history,
    explainForm(item),
  );
  async function refresh() {
    const [fresh, changes] = await Promise.all([fetchItem(id), fetchHistory(id)]);
    replaceKeeping(details, [fieldList(fresh)]);
    replaceKeeping(history, [historyTable(changes)]);
    const shownFor = `${fresh.status_set_by}`;
    if (shownFor !== actionsFor) {
      actionsFor = shownFor;
      replaceKeeping(actions, itemActions(fresh, message));
    }
  }
  await refresh();
  return { refresh };
}

async function cancelItem(id, message) {
  const answer = await api("PUT", `/worklist/${encodeURIComponent(id)}`, { performed_procedure_step_status: "DISCONTINUED" });
  message.className = answer.status === 200 ? "message ok" : "message error";
  message.textContent = answer.status === 200 ? "The item is cancelled (DISCONTINUED)." : detailText(answer.body, answer.status);
  if (current && current.refresh) await current.refresh();
}

function explainForm(item) {
  const aet = el("input", { name: "calling_ae_title", value: item.scheduled_station_aetitle || "", placeholder: "e.g. MR_SCANNER", required: true });
  const date = el("input", { type: "date", name: "date", value: showDate(item.scheduled_start_date) });
  const modality = el("input", { name: "modality", value: item.modality || "", size: 6 });
  const out = el("div", { class: "explain-result", "aria-live": "polite" });
  const form = el("form", { class: "explain" },
    el("h2", {}, "What would a scanner see?"),
    el("p", { class: "muted" }, "Asks the server which items a C-FIND from this AE title, for this date and modality, returns, and why this item is or is not among them."),
    el("div", { class: "row" },
      el("label", {}, "Calling AE title ", aet),
      el("label", {}, "Date ", date),
      el("label", {}, "Modality ", modality),
      el("button", { type: "submit" }, "Explain")),
    out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const step = {};
    if (date.value) step.ScheduledProcedureStepStartDate = date.value.replaceAll("-", "");
    if (modality.value.trim()) step.Modality = modality.value.trim();
    const answer = await api("POST", "/explain", {
      identifier: { PatientName: "*", ScheduledProcedureStepSequence: [step] },
      calling_ae_title: aet.value.trim(),
      item_ids: [item.id],
    });
    if (answer.status !== 200) {
      out.replaceChildren(el("p", { class: "message error" }, detailText(answer.body, answer.status)));
      return;
    }
    out.replaceChildren(explainResult(answer.body, item.id));
  });
  return form;
}

function explainResult(body, id) {
  if (body.association_refused) {
    return el("p", { class: "message error" }, `The association is refused: ${body.association_refused}`);
  }
  const mine = (body.items || []).find((i) => i.id === id) || { returned: false, failed: [] };
  const lines = [
    el("p", { class: mine.returned ? "message ok" : "message error" },
      mine.returned ? `${body.calling_ae_title} sees this item.` : `${body.calling_ae_title} does not see this item.`,
      ` The query returns ${(body.matches || []).length} item(s).`),
  ];
  if (!mine.returned && mine.failed.length) {
    lines.push(el("ul", {}, mine.failed.map((f) => el("li", {}, el("strong", {}, f.check), f.wants ? `: ${f.wants}` : "", f.reason ? `: ${f.reason}` : ""))));
  }
  return el("div", {}, lines);
}

// ---------- add and edit ----------

async function editView(view, id) {
  if (!canWrite()) {
    view.append(el("p", { class: "message error", role: "alert" }, "Your role may not change the worklist."));
    return {};
  }
  const item = id ? await fetchItem(id) : {
    scheduled_start_date: today(),
    scheduled_start_time: `${pad(new Date().getHours())}:00`,
    performed_procedure_step_status: "SCHEDULED",
  };
  const message = el("p", { class: "message", role: "alert" });
  const inputs = {};
  const rows = FIELDS.filter(([name]) => !["data_source", "source_record_id"].includes(name) || !id).map(([name, label]) => {
    let input;
    const fixed = id && FIXED_ON_EDIT.includes(name);
    const value = item[name] || "";
    if (name === "performed_procedure_step_status") {
      input = el("select", { name, disabled: id && statusSetByMpps(item), title: id && statusSetByMpps(item) ? "Set by MPPS" : null },
        ITEM_STATUSES.map((s) => el("option", { value: s, selected: s === value }, s.replace("_", " "))));
    } else if (name === "scheduled_start_date") {
      input = el("input", { type: "date", name, value: showDate(value) });
    } else if (name === "scheduled_start_time") {
      input = el("input", { type: "time", name, value: showTime(value) });
    } else {
      input = el("input", { name, value, readonly: fixed, required: name === "patient_name" || name === "patient_id" });
    }
    inputs[name] = input;
    return el("label", {}, label, input);
  });
  const form = el("form", { class: "edit card" },
    el("h1", {}, id ? `Edit item ${id}` : "Add a worklist item"),
    message,
    el("div", { class: "grid" }, rows),
    el("div", { class: "actions" },
      el("button", { type: "submit" }, id ? "Save" : "Add"),
      el("a", { class: "button secondary", href: id ? `#/item/${id}` : "#/worklist" }, "Back")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, input] of Object.entries(inputs)) {
      if ((id && FIXED_ON_EDIT.includes(name)) || input.disabled) continue;
      const value = input.value.trim();
      const before = id ? (name === "scheduled_start_date" ? showDate(item[name]) : name === "scheduled_start_time" ? showTime(item[name]) : item[name] || "") : "";
      if (id && value === before) continue;
      if (value !== "") body[name] = value;
      else if (id) body[name] = null;
    }
    const answer = id ? await api("PUT", `/worklist/${encodeURIComponent(id)}`, body) : await api("POST", "/worklist", body);
    if (answer.status !== 200) {
      message.className = "message error";
      message.textContent = detailText(answer.body, answer.status);
      return;
    }
    location.hash = `#/item/${answer.body.id}`;
  });
  view.append(form);
  inputs.patient_name.focus();
  return {};
}

// ---------- sources ----------

function runSummary(run) {
  if (!run) return "never run";
  const took = run.duration_seconds === null || run.duration_seconds === undefined ? "running" : `${run.duration_seconds.toFixed(1)} s`;
  return `${showInstant(run.started_at)} (${took}): fetched ${run.fetched}, new ${run.new}, updated ${run.updated}, unchanged ${run.unchanged}, conflicts ${run.conflicts}, rejected ${run.rejected}`;
}

function sourceCard(source, notes) {
  const healthy = sourceHealthy(source);
  const card = el("article", { class: `card source ${healthy ? "" : "unhealthy"}`, "aria-label": `Source ${source.name}`, dataset: { source: source.name } },
    el("div", { class: "head" },
      el("h2", {}, source.name),
      el("span", { class: `state st-${source.state}` }, source.state.replaceAll("_", " ")),
      canWrite() && source.enabled
        ? el("button", { type: "button", class: "sync", dataset: { key: `sync-${source.name}` }, onclick: () => syncNow(source.name, notes) }, "Sync now")
        : null),
    el("dl", { class: "fields" },
      el("dt", {}, "Type"), el("dd", {}, `${source.type}${source.plugin ? ` (${source.plugin})` : ""}, ${source.isolation.replace("_", " ")}`),
      el("dt", {}, "Interval"), el("dd", {}, `${source.sync_interval_seconds} s${source.operation_interval ? `, ${source.operation_interval}` : ""}`),
      el("dt", {}, "Last run"), el("dd", {}, runSummary(source.last_run)),
      el("dt", {}, "Next run"), el("dd", {}, source.next_run ? showInstant(source.next_run) : "—")),
    source.last_error
      ? el("div", { class: "error-box" }, el("h3", {}, `Last error, ${showInstant(source.last_error.at)}`), el("pre", {}, source.last_error.error))
      : null,
    notes.get(source.name) ? el("p", { class: "message", role: "status" }, notes.get(source.name)) : null);
  return card;
}

async function syncNow(name, notes) {
  const answer = await api("POST", `/sources/${encodeURIComponent(name)}/sync`);
  if (answer.status === 202 || answer.status === 200) notes.set(name, "Sync requested; the state updates here.");
  else if (answer.status === 404 || answer.status === 405) notes.set(name, "This server cannot start a sync from the console (no POST /sources/{name}/sync).");
  else notes.set(name, detailText(answer.body, answer.status));
  if (current && current.refresh) await current.refresh();
}

async function sourcesView(view) {
  const summary = el("p", { class: "banner", role: "status" });
  const list = el("div", { class: "sources" });
  view.append(el("div", { class: "head" }, el("h1", {}, "Sources")), summary, list);
  const notes = new Map();
  async function refresh() {
    const answer = await api("GET", "/sources");
    if (answer.status !== 200) {
      replaceKeeping(list, [el("p", { class: "message error", role: "alert" }, detailText(answer.body, answer.status))]);
      return;
    }
    const bad = answer.body.filter((s) => !sourceHealthy(s));
    summary.className = `banner ${bad.length ? "bad" : "ok"}`;
    summary.textContent = bad.length
      ? `${bad.length} of ${answer.body.length} sources not healthy.`
      : `All ${answer.body.length} sources healthy.`;
    replaceKeeping(list, answer.body.map((s) => sourceCard(s, notes)));
  }
  await refresh();
  return { refresh };
}

// ---------- plugins ----------

async function pluginsView(view) {
  const answer = await api("GET", "/plugins");
  view.append(el("div", { class: "head" }, el("h1", {}, "Plugins")));
  if (answer.status !== 200) {
    view.append(el("p", { class: "message error", role: "alert" }, detailText(answer.body, answer.status)));
    return {};
  }
  const doc = answer.body;
  view.append(
    el("p", { class: "muted" }, `Host plugin API ${doc.host_api_version}; searched: ${(doc.plugin_dirs || []).join(", ") || "—"}`),
    el("div", { class: "scroll" },
      el("table", { class: "items plugins" },
        el("thead", {}, el("tr", {}, ["File", "Status", "Plugin", "API", "Source types", "Reason"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, (doc.plugins || []).map((p) =>
          el("tr", { class: `plugin-${p.status}` },
            el("td", { class: "uid" }, p.file),
            el("td", {}, el("span", { class: `state st-${p.status === "loaded" ? "idle" : "failing"}` }, p.status)),
            el("td", {}, p.plugin_name ? `${p.plugin_name} ${p.plugin_version || ""}` : "—"),
            el("td", {}, p.api_version || "—"),
            el("td", {}, (p.source_types || []).map((t) => t.name).join(", ") || "—"),
            el("td", {}, p.reason || "")))))));
  return {};
}

// ---------- start ----------

document.addEventListener("DOMContentLoaded", async () => {
  $("#login-form").addEventListener("submit", onLogin);
  $("#logout").addEventListener("click", () => showLogin("You are logged out."));
  window.addEventListener("hashchange", async () => {
    await route();
    // A keyboard user goes on from the new page's content, not the top.
    const view = $("#view");
    if (!view.contains(document.activeElement)) view.focus({ preventScroll: true });
  });
  if (!session.token) {
    showLogin("");
    return;
  }
  try {
    await enter();
  } catch (error) {
    if (!(error instanceof SessionExpired)) showLogin(String(error.message || error));
  }
});
