// Tags and custom fields: the workspace's tag vocabulary and field definitions (the Labels page), and the pieces the
// files and jobs pages use to show tags, set them and filter by them.

import { api } from "../lib/api.js";
import { h, field, form, section, heading, table, button, notify, confirmDialog, select, uid, describe } from "../lib/dom.js";

const ADMIN_ROLES = new Set(["admin", "owner"]);
const FIELD_TYPES = [
  ["text", "Text"],
  ["number", "Number"],
  ["date", "Date"],
  ["select", "Choice from a list"],
];

// ---- for the pages that list labelled items ----

// The workspace's tags (one page holds them all: a workspace has at most 500).
export async function workspaceTags(wsId) {
  const page = await api.get(`/workspaces/${wsId}/tags`);
  return page.items;
}

function chip(name, color) {
  const element = h("span", { class: "tag-chip" }, name);
  if (color) element.style.setProperty("--tag-color", color); // through the CSSOM: the CSP refuses style attributes
  return element;
}

// An item's tags as chips, coloured as the workspace's tags are.
export function tagChips(names, allTags = []) {
  if (!names || !names.length) return null;
  const colors = new Map(allTags.map((tag) => [tag.name, tag.color]));
  return h("span", { class: "tag-chips", "aria-label": `Tags: ${names.join(", ")}` }, names.map((name) => chip(name, colors.get(name))));
}

// "Any tag" and each of the workspace's tags, for a list's filter.
export function tagFilter(allTags, selected) {
  return select({ id: uid(), name: "tag", class: "tag-filter" }, [["", "Any tag"], ...allTags.map((tag) => [tag.name, tag.name])], selected || "");
}

// A modal dialog of `body` with Cancel and a save button; `save()` does the work and the dialog closes when it is done,
// or shows what went wrong and stays open.
function openDialog(title, body, saveText, save) {
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const titleId = uid("dialog-title");
  const dialog = h("dialog", { class: "tag-dialog", "aria-labelledby": titleId }, h("h2", { id: titleId }, title), body, problem);
  const saveButton = h("button", { type: "button", class: "primary" }, saveText);
  const cancel = h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, "Cancel");
  dialog.append(h("div", { class: "actions" }, cancel, saveButton));
  saveButton.addEventListener("click", async () => {
    saveButton.disabled = true;
    try {
      await save();
      dialog.close();
    } catch (error) {
      problem.textContent = describe(error);
      problem.hidden = false;
      saveButton.disabled = false;
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// A button that opens a dialog of the workspace's tags, ticked as `item` (or what `item()` gives) carries them; saving
// sets the item's tags (PUT …/files|jobs/{id}/tags) and hands them to `onSaved`.
export function tagButton(ws, kind, item, allTags, onSaved, { describedBy, label } = {}) {
  return button(
    "Tags",
    async () => {
      const current = typeof item === "function" ? item() : item;
      if (!allTags.length) {
        notify("This workspace has no tags yet: add some under Tags and fields.", "info");
        return;
      }
      const chosen = new Set(current.tags || []);
      const boxes = allTags.map((tag) => {
        const id = uid("tag");
        const box = h("input", { type: "checkbox", id, value: tag.name, checked: chosen.has(tag.name) });
        return h("div", { class: "field check" }, box, h("label", { for: id }, chip(tag.name, tag.color)));
      });
      const choices = h("fieldset", { class: "tag-choices" }, h("legend", { class: "visually-hidden" }, "Tags"), boxes);
      openDialog(`Tags of ${label || "this item"}`, choices, "Save tags", async () => {
        const tags = boxes.map((box) => box.querySelector("input")).filter((input) => input.checked).map((input) => input.value);
        // one literal path per kind, so every call the console makes names an operation of the API
        const answer =
          kind === "jobs"
            ? await api.put(`/workspaces/${ws.id}/jobs/${current.id}/tags`, { tags })
            : await api.put(`/workspaces/${ws.id}/files/${current.id}/tags`, { tags });
        onSaved(answer.tags);
        notify(answer.tags.length ? `Tagged ${answer.tags.join(", ")}.` : "Tags removed.", "success");
      });
    },
    { class: "secondary small tag-button", "aria-describedby": describedBy || false },
  );
}

const INPUT_TYPES = { text: "text", number: "number", date: "date" };

// A button that opens a form of the workspace's custom fields, filled with the item's values; saving sends only what
// changed (an emptied field is removed) with PATCH …/files|jobs/{id}/custom-fields and hands the values to `onSaved`.
// The server checks each value against its field; what does not fit comes back named, and the dialog stays open.
export function fieldsButton(ws, kind, item, allFields, onSaved, { describedBy, label } = {}) {
  return button(
    "Fields",
    async () => {
      const current = typeof item === "function" ? item() : item;
      if (!allFields.length) {
        notify("This workspace has no custom fields yet: an admin adds them under Tags and fields.", "info");
        return;
      }
      const values = current.custom_fields || {};
      const inputs = allFields.map((definition) => {
        const id = uid("value");
        const had = values[definition.key] === undefined || values[definition.key] === null ? "" : String(values[definition.key]);
        const props = { id, name: definition.key, "aria-required": definition.required ? "true" : false };
        const control =
          definition.type === "select"
            ? select(props, [["", "—"], ...definition.options.map((option) => [option, option])], had)
            : h("input", { ...props, type: INPUT_TYPES[definition.type] || "text", step: definition.type === "number" ? "any" : false, maxlength: definition.type === "text" ? 500 : false, value: had });
        const name = definition.required ? `${definition.name} (required)` : definition.name;
        return { definition, control, had, box: h("div", { class: "field" }, h("label", { for: id }, name), control) };
      });
      openDialog(`Fields of ${label || "this item"}`, h("div", { class: "field-inputs" }, inputs.map((input) => input.box)), "Save fields", async () => {
        const changed = {};
        for (const { definition, control, had } of inputs) {
          const now = control.value.trim();
          if (now === had) continue;
          changed[definition.key] = now === "" ? null : definition.type === "number" ? Number(now) : now;
        }
        if (!Object.keys(changed).length) return;
        const body = { values: changed };
        const answer =
          kind === "jobs"
            ? await api.patch(`/workspaces/${ws.id}/jobs/${current.id}/custom-fields`, body)
            : await api.patch(`/workspaces/${ws.id}/files/${current.id}/custom-fields`, body);
        onSaved(answer.custom_fields);
        notify("Fields saved.", "success");
      });
    },
    { class: "secondary small fields-button", "aria-describedby": describedBy || false },
  );
}

// An item's custom field values, "Key: value" each.
export function fieldValues(values, fields = []) {
  const entries = Object.entries(values || {});
  if (!entries.length) return null;
  const names = new Map(fields.map((item) => [item.key, item.name]));
  return h(
    "dl",
    { class: "field-values" },
    entries.map(([key, value]) => [h("dt", {}, names.get(key) || key), h("dd", {}, String(value))]),
  );
}

// ---- the Labels page ----

function tagsSection(ws, canManage) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));

  async function load() {
    const tags = await workspaceTags(ws.id);
    list.replaceChildren(
      table(
        [
          ["Tag", (tag) => chip(tag.name, tag.color)],
          ["Used on", (tag) => (tag.items === 1 ? "1 item" : `${tag.items} items`)],
          [
            "",
            (tag) =>
              canManage
                ? h(
                    "div",
                    { class: "actions" },
                    button(
                      "Rename",
                      async () => {
                        const name = window.prompt(`New name for the tag ${tag.name}`, tag.name);
                        if (!name || name.trim() === tag.name) return;
                        try {
                          await api.patch(`/workspaces/${ws.id}/tags/${tag.id}`, { name: name.trim() });
                        } catch (error) {
                          notify(describe(error), "error");
                          return;
                        }
                        notify(`Renamed to ${name.trim()} on every item.`, "success");
                        await load();
                      },
                      { class: "secondary small", "aria-label": `Rename the tag ${tag.name}` },
                    ),
                    button(
                      "Delete",
                      async () => {
                        const sure = await confirmDialog(`Delete the tag ${tag.name}? It comes off every item that carries it.`, { confirm: "Delete", danger: true });
                        if (!sure) return;
                        await api.del(`/workspaces/${ws.id}/tags/${tag.id}`);
                        notify(`The tag ${tag.name} is deleted.`, "success");
                        await load();
                      },
                      { class: "danger small", "aria-label": `Delete the tag ${tag.name}` },
                    ),
                  )
                : null,
          ],
        ],
        tags,
        { empty: "No tags yet.", caption: "Tags" },
      ),
    );
  }

  const create = form(
    { class: "row tag-form" },
    [
      field("Name", { name: "name", required: true, maxlength: 40, autocomplete: "off" }),
      field("Colour", { name: "color", type: "color", value: "#3340c4" }),
      h("div", { class: "field" }, h("button", { type: "submit" }, "Add tag")),
    ],
    async (values, element) => {
      const tag = await api.post(`/workspaces/${ws.id}/tags`, { name: values.name, color: values.color });
      element.reset();
      notify(`The tag ${tag.name} is added.`, "success");
      await load();
    },
  );

  create.querySelector("input[type=color]").defaultValue = "#3340c4"; // what the form's reset goes back to
  return {
    element: section(
      "Tags",
      h("p", { class: "muted" }, "Tags mark files, jobs, podcast episodes and dubs; every list filters by them. Names are unique whatever their case. Members add tags; admins rename and delete them."),
      create,
      list,
    ),
    load,
  };
}

function fieldsSection(ws, canManage) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));

  async function load() {
    const page = await api.get(`/workspaces/${ws.id}/custom-fields`);
    list.replaceChildren(
      table(
        [
          ["Field", (item) => h("div", {}, h("strong", {}, item.name), h("div", { class: "mono muted small" }, item.key))],
          ["Type", (item) => (item.type === "select" ? `Choice: ${item.options.join(", ")}` : item.type)],
          ["Required", (item) => (item.required ? "Yes" : "No")],
          [
            "",
            (item) =>
              canManage
                ? button(
                    "Delete",
                    async () => {
                      const sure = await confirmDialog(`Delete the field ${item.name}? Every file's and job's value of it goes too.`, { confirm: "Delete", danger: true });
                      if (!sure) return;
                      await api.del(`/workspaces/${ws.id}/custom-fields/${item.id}`);
                      notify(`The field ${item.name} is deleted.`, "success");
                      await load();
                    },
                    { class: "danger small", "aria-label": `Delete the field ${item.name}` },
                  )
                : null,
          ],
        ],
        page.items,
        { empty: "No custom fields yet.", caption: "Custom fields" },
      ),
    );
  }

  const typeSelect = select({ name: "type" }, FIELD_TYPES, "text");
  const options = field("Choices", { name: "options", maxlength: 2000, placeholder: "draft, review, final" }, { hint: "For a choice field: separated by commas." });
  options.hidden = true;
  typeSelect.addEventListener("change", () => (options.hidden = typeSelect.value !== "select"));
  const create = form(
    { class: "field-form" },
    [
      h(
        "div",
        { class: "row" },
        field("Name", { name: "name", required: true, maxlength: 80 }),
        field("Key", { name: "key", required: true, maxlength: 40, pattern: "[a-z][a-z0-9_]*" }, { hint: "Lowercase letters, digits and _; used in the API and in filters (field.<key>=…)." }),
        field("Type", {}, { control: typeSelect }),
      ),
      options,
      h("div", { class: "field check" }, h("input", { type: "checkbox", name: "required", id: "field-required" }), h("label", { for: "field-required" }, "Required: once set, a value can change but not be removed")),
      h("button", { type: "submit" }, "Add field"),
    ],
    async (values, element) => {
      const body = { key: values.key, name: values.name, type: values.type, required: values.required };
      if (values.type === "select") body.options = values.options.split(",").map((option) => option.trim()).filter(Boolean);
      const created = await api.post(`/workspaces/${ws.id}/custom-fields`, body);
      element.reset();
      options.hidden = true;
      notify(`The field ${created.name} is added.`, "success");
      await load();
    },
  );

  return {
    element: section(
      "Custom fields",
      h("p", { class: "muted" }, "Fields every file and job can carry a value of: text, a number, a date or a choice from a list. Admins define them."),
      canManage ? create : null,
      list,
    ),
    load,
  };
}

export async function labels(view, ctx) {
  const ws = ctx.ws;
  const canManage = ADMIN_ROLES.has(ws.role);
  const tags = tagsSection(ws, canManage);
  const fields = fieldsSection(ws, canManage);
  view.append(heading("Tags and fields"), tags.element, fields.element);
  await Promise.all([tags.load(), fields.load()]);
}
