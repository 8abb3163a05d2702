// A workspace's API keys (the secret shown once, with a copy button) and its stored keys for hosted providers.

import { api } from "../lib/api.js";
import { h, field, form, section, heading, table, when, button, notify, confirmDialog, badge, copyButton } from "../lib/dom.js";

const SCOPES = [
  ["read", "read — look at files, jobs and transcripts"],
  ["write", "write — upload and start jobs"],
  ["admin", "admin — manage keys, members and webhooks"],
];

function keyState(key) {
  if (key.revoked_at) return badge("revoked");
  if (key.expires_at && new Date(key.expires_at) < new Date()) return badge("expired");
  return badge("active");
}

export async function apiKeys(view, ctx) {
  const ws = ctx.ws;
  const list = h("div");
  const created = h("div", { role: "status" });

  async function load() {
    const page = await api.get(`/workspaces/${ws.id}/api-keys`);
    list.replaceChildren(
      table(
        [
          ["Name", (key) => key.name],
          ["Key", (key) => h("code", {}, `${key.prefix}…`)],
          ["Scopes", (key) => key.scopes.join(", ")],
          ["State", keyState],
          ["Created", (key) => when(key.created_at)],
          ["Last used", (key) => (key.last_used_at ? h("span", {}, when(key.last_used_at), key.last_used_ip ? ` from ${key.last_used_ip}` : "") : "never")],
          ["Expires", (key) => (key.expires_at ? when(key.expires_at) : "never")],
          [
            "",
            (key) =>
              key.revoked_at
                ? ""
                : button(
                    "Revoke",
                    async () => {
                      if (!(await confirmDialog(`Revoke the key “${key.name}”? Programs using it stop working at once.`, { confirm: "Revoke", danger: true }))) return;
                      await api.del(`/workspaces/${ws.id}/api-keys/${key.id}`);
                      notify(`The key “${key.name}” is revoked.`, "success");
                      await load();
                    },
                    { class: "danger small", "aria-label": `Revoke ${key.name}` },
                  ),
          ],
        ],
        page.items,
        { empty: "No API keys yet." },
      ),
    );
  }

  const createForm = form(
    {},
    [
      field("Name", { name: "name", required: true, maxlength: 200, placeholder: "e.g. production server" }),
      h(
        "fieldset",
        { class: "field" },
        h("legend", {}, "Scopes"),
        SCOPES.map(([value, label]) =>
          h("div", { class: "field check" }, h("input", { type: "checkbox", id: `scope-${value}`, name: `scope-${value}`, checked: value !== "admin" }), h("label", { for: `scope-${value}` }, label)),
        ),
      ),
      field("Expires on (optional)", { name: "expires", type: "date" }),
      h("button", { type: "submit" }, "Create key"),
    ],
    async (values, element) => {
      const scopes = SCOPES.map(([value]) => value).filter((value) => values[`scope-${value}`]);
      const body = { name: values.name, scopes };
      if (values.expires) body.expires_at = new Date(values.expires + "T23:59:59").toISOString();
      const key = await api.post(`/workspaces/${ws.id}/api-keys`, body);
      element.reset();
      created.replaceChildren(
        h(
          "div",
          { class: "secret" },
          h("strong", {}, `Your new key “${key.name}”. Copy it now: it is shown only once.`),
          h("code", { id: "new-key-secret" }, key.secret),
          copyButton(key.secret, "Copy key"),
        ),
      );
      await load();
    },
  );

  view.append(
    heading("API keys", h("a", { href: "/docs", class: "button secondary" }, "API docs")),
    h("p", { class: "muted" }, "Programs use a key as ", h("code", {}, "Authorization: Bearer vx_…"), ". voxhub keeps only a hash of it."),
    section("Create a key", createForm, created),
    section("Keys", list),
  );
  await load();
}

export async function providerKeys(view, ctx) {
  const ws = ctx.ws;
  const list = h("div");

  async function load() {
    const page = await api.get(`/workspaces/${ws.id}/provider-keys`);
    list.replaceChildren(
      table(
        [
          ["Provider", (row) => row.provider],
          ["Key", (row) => h("code", {}, `…${row.last4}`)],
          ["Base URL", (row) => row.base_url || "—"],
          ["Updated", (row) => when(row.updated_at)],
          [
            "",
            (row) =>
              button(
                "Delete",
                async () => {
                  if (!(await confirmDialog(`Forget the ${row.provider} key?`, { confirm: "Delete", danger: true }))) return;
                  await api.del(`/workspaces/${ws.id}/provider-keys/${row.provider}`);
                  notify(`The ${row.provider} key is deleted.`, "success");
                  await load();
                },
                { class: "danger small", "aria-label": `Delete the ${row.provider} key` },
              ),
          ],
        ],
        page.items,
        { empty: "No provider keys stored. voxhub's own offline engines need none." },
      ),
    );
  }

  const storeForm = form(
    {},
    [
      field("Provider", { name: "provider", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,39}", placeholder: "openai" }, { hint: "Lower-case name, e.g. openai, groq; elevenlabs or unrealspeech for their voices." }),
      field("API key", { name: "api_key", type: "password", required: true, minlength: 8, autocomplete: "off" }),
      field("Base URL (optional)", { name: "base_url", type: "url", placeholder: "https://api.example.com/v1" }, { hint: "For OpenAI-compatible providers other than OpenAI." }),
      h("button", { type: "submit" }, "Store key"),
    ],
    async (values, element) => {
      const provider = values.provider.trim();
      await api.put(`/workspaces/${ws.id}/provider-keys/${provider}`, { api_key: values.api_key, base_url: values.base_url || null });
      element.reset();
      notify(`The ${provider} key is stored, encrypted.`, "success");
      await load();
    },
  );

  view.append(
    heading("Provider keys"),
    h("p", { class: "muted" }, "This workspace's own keys for hosted engines, encrypted at rest; only their last four characters are ever shown."),
    section("Store a key", storeForm),
    section("Stored keys", list),
  );
  await load();
}
