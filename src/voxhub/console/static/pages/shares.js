// A workspace's share links: read-only links to a finished transcript, podcast episode or dub, for anyone holding
// them (the public page is /s/{token}, drawn by the server). Make one (with an expiry and a password if wanted),
// copy its link, see its views, revoke it. The item pages link here with ?target_type=…&target_id=… filled in.

import { api } from "../lib/api.js";
import { focusableScrollers } from "./scrollable.js";
import { h, field, form, section, heading, table, when, button, notify, confirmDialog, badge, copyButton, select } from "../lib/dom.js";

const KINDS = [
  ["transcript", "Transcript"],
  ["podcast", "Podcast episode"],
  ["dub", "Dub"],
];
const KIND_NAME = Object.fromEntries(KINDS);

// The finished items of one kind the workspace holds (the first page of each list), as [id, title].
async function finishedItems(ws, kind) {
  if (kind === "podcast") {
    const page = await api.get(`/workspaces/${ws.id}/podcasts`, { limit: 100 });
    return page.items.filter((item) => item.status === "succeeded").map((item) => [item.id, item.title]);
  }
  if (kind === "dub") {
    const page = await api.get(`/workspaces/${ws.id}/dubs`, { limit: 100 });
    return page.items.filter((item) => item.status === "succeeded").map((item) => [item.id, item.title]);
  }
  const [jobs, files] = await Promise.all([
    api.get(`/workspaces/${ws.id}/jobs`, { type: "transcribe", status: "succeeded", limit: 100 }),
    api.get(`/workspaces/${ws.id}/files`, { limit: 200 }),
  ]);
  const names = new Map(files.items.map((file) => [file.id, file.filename]));
  return jobs.items.map((job) => [job.id, names.get(job.input?.file_id) || `Transcription ${job.id.slice(0, 8)}`]);
}

function stateBadge(share) {
  if (share.status === "revoked") return badge("revoked", "canceled");
  if (share.status === "expired") return badge("expired", "canceled");
  return badge("active", "succeeded");
}

export async function shares(view, ctx) {
  const ws = ctx.ws;
  const wanted = { type: ctx.query.get("target_type") || "transcript", id: ctx.query.get("target_id") || "" };
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const made = h("div", { role: "status" });

  async function load() {
    const page = await api.get(`/workspaces/${ws.id}/shares`, { limit: 100 });
    list.replaceChildren(
      table(
        [
          ["Item", (share) => h("div", {}, h("strong", {}, share.title || "(gone)"), h("small", { class: "hint" }, KIND_NAME[share.target_type]))],
          ["State", (share) => h("div", {}, stateBadge(share), share.password_protected ? h("small", { class: "hint" }, "Password") : null)],
          ["Views", (share) => String(share.view_count)],
          ["Expires", (share) => (share.expires_at ? when(share.expires_at) : "Never")],
          ["Made", (share) => when(share.created_at)],
          [
            "",
            (share) =>
              share.status === "active"
                ? h(
                    "div",
                    { class: "actions" },
                    copyButton(share.url, "Copy link"),
                    h("a", { href: share.url, target: "_blank", rel: "noopener", class: "button secondary small" }, "Open"),
                    button(
                      "Revoke",
                      async () => {
                        const sure = await confirmDialog(`Revoke the link to ${share.title}? Whoever holds it sees nothing more.`, { confirm: "Revoke", danger: true });
                        if (!sure) return;
                        await api.post(`/workspaces/${ws.id}/shares/${share.id}/revoke`);
                        notify(`The link to ${share.title} no longer works.`, "success");
                        await load();
                      },
                      { class: "danger small", "aria-label": `Revoke the link to ${share.title}` },
                    ),
                  )
                : null,
          ],
        ],
        page.items,
        { empty: "No share links yet: share a finished transcript, episode or dub above.", caption: "This workspace's share links" },
      ),
    );
  }

  const kindSelect = select({ name: "target_type" }, KINDS, wanted.type);
  const itemSelect = h("select", { name: "target_id", required: true });
  async function fillItems() {
    itemSelect.replaceChildren(h("option", { value: "" }, "Loading…"));
    try {
      const items = await finishedItems(ws, kindSelect.value);
      if (wanted.id && kindSelect.value === wanted.type && !items.some(([id]) => id === wanted.id)) items.unshift([wanted.id, wanted.id]);
      itemSelect.replaceChildren(
        ...(items.length ? items.map(([id, title]) => h("option", { value: id, selected: id === wanted.id }, title)) : [h("option", { value: "" }, `No finished ${KIND_NAME[kindSelect.value].toLowerCase()} yet`)]),
      );
    } catch (error) {
      itemSelect.replaceChildren(h("option", { value: "" }, "Could not load the items"));
    }
  }
  kindSelect.addEventListener("change", fillItems);

  const makeForm = form(
    { class: "share-form" },
    [
      field("What", {}, { control: kindSelect }),
      field("Item", {}, { control: itemSelect }),
      field("Expires (optional)", { name: "expires", type: "datetime-local" }, { hint: "Your local time. Empty: the link works until it is revoked." }),
      field("Password (optional)", { name: "password", type: "password", autocomplete: "new-password", minlength: 4, maxlength: 200 }, { hint: "Asked of whoever opens the link." }),
      h("button", { type: "submit" }, "Make a share link"),
    ],
    async (values, element) => {
      const body = { target_type: values.target_type, target_id: values.target_id };
      if (values.expires) body.expires_at = new Date(values.expires).toISOString();
      if (values.password) body.password = values.password;
      const share = await api.post(`/workspaces/${ws.id}/shares`, body);
      element.querySelector("[name=password]").value = "";
      element.querySelector("[name=expires]").value = "";
      made.replaceChildren(
        h("div", { class: "secret" }, h("strong", {}, `Link to ${share.title}:`), h("code", { class: "share-link" }, share.url), copyButton(share.url, "Copy link")),
      );
      notify(`Anyone with the link can now see ${share.title}.`, "success");
      await load();
    },
  );

  view.append(
    heading("Shares"),
    h("p", { class: "muted" }, "A share link shows one finished item read-only to anyone who holds it, with no way into the workspace. Each opening counts a view."),
    section("Share an item", makeForm, made),
    section("Share links", list),
  );
  const stopMarking = focusableScrollers(view);
  await Promise.all([fillItems(), load()]);
  return stopMarking;
}
