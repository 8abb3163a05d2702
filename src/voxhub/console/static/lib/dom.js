// Building the page. Text always goes in as text (never as HTML), so nothing a user typed can become markup.

import { ApiError } from "./api.js";

// h("button", {class: "primary", onclick: fn, type: "button"}, "Save") → an element. Props starting with "on" are
// listeners; `class`, `text` and `dataset` are shortcuts; false, null and undefined props are left out; children
// are nodes, strings (as text) or arrays of them.
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "value" || key === "checked" || key === "selected") element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

let uniqueId = 0;
export function uid(prefix = "f") {
  uniqueId += 1;
  return `${prefix}-${uniqueId}`;
}

// A labelled form field: field("Email", {name: "email", type: "email", required: true}). `hint` adds a described-by
// note; `control` passes a ready element (a select, a textarea) instead of an input.
export function field(label, props = {}, { hint, control } = {}) {
  const id = props.id || uid();
  const input = control || h("input", { ...props, id });
  input.id = id;
  const parts = [h("label", { for: id }, label), input];
  if (hint) {
    const hintId = id + "-hint";
    input.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, parts);
}

export function select(props, options, selected) {
  return h(
    "select",
    props,
    options.map(([value, label]) => h("option", { value, selected: String(value) === String(selected) }, label)),
  );
}

// The values of a form's named fields; checkboxes as booleans, number inputs as numbers (empty ones left out).
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name || element.disabled) continue;
    if (element.type === "checkbox") values[element.name] = element.checked;
    else if (element.type === "number") {
      if (element.value !== "") values[element.name] = Number(element.value);
    } else values[element.name] = element.value;
  }
  return values;
}

// A form whose submit runs `action(values, form)`, with its button busy meanwhile and any error shown in the form.
export function form(props, children, action) {
  const errorBox = h("p", { class: "form-error", role: "alert", hidden: true });
  const element = h("form", { ...props, novalidate: false }, errorBox, children);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const button = element.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    element.setAttribute("aria-busy", "true");
    try {
      await action(formValues(element), element);
    } catch (error) {
      errorBox.textContent = describe(error);
      errorBox.hidden = false;
    } finally {
      if (button) button.disabled = false;
      element.removeAttribute("aria-busy");
    }
  });
  return element;
}

export function describe(error) {
  if (error instanceof ApiError) return error.describe();
  return (error && error.message) || String(error);
}

// A message in the page's live region, read out by screen readers; errors stay until dismissed.
export function notify(message, kind = "info") {
  const region = document.getElementById("notices");
  if (!region) return;
  const item = h(
    "div",
    { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, message),
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"),
  );
  region.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
}

// Runs `action` from a button: disabled meanwhile, errors as notices. Returns the action's result.
export async function busy(button, action) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } catch (error) {
    notify(describe(error), "error");
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export function button(label, onclick, props = {}) {
  const element = h("button", { type: "button", ...props }, label);
  element.addEventListener("click", () => busy(element, () => onclick(element)));
  return element;
}

// A table: columns are [heading, row => cell content]; `empty` is shown when there are no rows.
export function table(columns, rows, { empty = "Nothing here yet.", caption } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
      h(
        "tbody",
        {},
        rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row))))),
      ),
    ),
  );
}

// A list that loads page after page of `{items, next_cursor}` with a "Load more" button.
export function pagedTable(columns, fetchPage, options = {}) {
  const holder = h("div", { class: "paged" });
  let rows = [];
  let cursor = null;
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  async function load() {
    const page = await fetchPage(cursor);
    rows = rows.concat(page.items);
    cursor = page.next_cursor;
    holder.replaceChildren(table(columns, rows, options), more);
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => busy(more, load));
  holder.ready = load().catch((error) => holder.replaceChildren(h("p", { class: "form-error" }, describe(error))));
  return holder;
}

// A modal confirmation with the native <dialog> (focus kept inside, Escape cancels). Resolves true or false.
export function confirmDialog(message, { confirm = "Confirm", danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "confirm-text" },
      h("p", { id: "confirm-text" }, message),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close("cancel") }, "Cancel"),
        h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => dialog.close("ok") }, confirm),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function copyButton(text, label = "Copy") {
  const element = h("button", { type: "button", class: "secondary" }, label);
  element.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      element.textContent = "Copied";
    } catch {
      element.textContent = "Select and copy it";
    }
    setTimeout(() => (element.textContent = label), 2000);
  });
  return element;
}

export function heading(text, ...actions) {
  return h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, text), actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind || text}` }, text);
}

// ---- formatting ----

export function bytes(count) {
  if (count === null || count === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const whole = Math.round(seconds);
  const h_ = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  const mmss = `${String(m).padStart(h_ ? 2 : 1, "0")}:${String(s).padStart(2, "0")}`;
  return h_ ? `${h_}:${mmss}` : mmss;
}

export function clock(seconds) {
  const whole = Math.floor(seconds);
  const ms = Math.floor((seconds - whole) * 1000);
  return `${duration(whole)}.${String(ms).padStart(3, "0")}`;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toISOString() }, date.toLocaleString());
}

export function credits(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString();
}

export function link(href, text, props = {}) {
  return h("a", { href, ...props }, text);
}
