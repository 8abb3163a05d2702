// Email: the signed-in person's mail preferences, the one-click unsubscribe page a mail's link opens (no sign-in),
// a workspace's email log (admins) and every mail voxhub sent (superusers).

import { api } from "../lib/api.js";
import { h, field, form, section, heading, pagedTable, when, badge, describe, link, notify, select } from "../lib/dom.js";

// The optional categories, as a person reads them. Security and account mail always goes out.
const OPTIONAL = [
  ["billing", "Billing", "Usage alerts and failed payments of workspaces you own."],
  ["jobs", "Finished jobs", "A transcription, dub or episode you started is ready after a wait."],
  ["product_news", "Product news", "What is new in voxhub, now and then."],
];
const CATEGORY_NAMES = Object.fromEntries(OPTIONAL.map(([key, label]) => [key, label.toLowerCase()]));
const STATUSES = ["queued", "sent", "delivered", "bounced", "complained", "failed"];
const PAGE = 50;

function checkbox(name, checked, label, hint) {
  const id = `pref-${name}`;
  return h(
    "div",
    { class: "field check" },
    h("input", { type: "checkbox", id, name, checked: checked ? true : undefined }),
    h("label", { for: id }, h("strong", {}, label), h("span", { class: "muted" }, ` — ${hint}`)),
  );
}

export async function preferences(view) {
  const current = await api.get(`/me/email-preferences`);
  view.append(
    heading("Email"),
    h("p", { class: "muted" }, "Security and account mail (sign-in alerts, password resets, verification, invitations) always reaches you. Choose the rest."),
  );
  const settings = form(
    { "aria-label": "Email preferences" },
    [
      h("fieldset", {}, h("legend", {}, "Mail I want"), OPTIONAL.map(([key, label, hint]) => checkbox(key, current[key], label, hint))),
      h("button", { type: "submit" }, "Save email preferences"),
    ],
    async (_values, element) => {
      const body = Object.fromEntries(OPTIONAL.map(([key]) => [key, element.querySelector(`[name="${key}"]`).checked]));
      await api.patch(`/me/email-preferences`, body);
      notify("Email preferences saved.", "success");
    },
  );
  view.append(section("Preferences", settings));
}

export async function unsubscribe(view, ctx) {
  const token = ctx.query.get("token");
  const status = h("p", { role: "status" }, "One click stops this kind of mail. Security and account mail still reaches you.");
  const card = h("div", { class: "card" }, h("h1", { tabindex: "-1" }, "Unsubscribe"), status);
  view.append(card);
  if (!token) {
    status.replaceWith(h("p", { class: "form-error", role: "alert" }, "This link has no token. Open the link from the mail again."));
    return;
  }
  const confirm = h("button", { type: "button", class: "primary" }, "Unsubscribe");
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      const done = await api.post(`/email/unsubscribe`, undefined, { anonymous: true, params: { token } });
      confirm.remove();
      status.replaceWith(
        h(
          "div",
          { class: "success-box", role: "status" },
          h("p", {}, `You will get no more ${CATEGORY_NAMES[done.category] || done.category} mail from voxhub.`),
          h("p", {}, "Changed your mind? ", ctx.me ? link("/email", "Choose again") : link("/login?next=/email", "Sign in to choose again"), "."),
        ),
      );
    } catch (error) {
      confirm.disabled = false;
      status.replaceWith(h("p", { class: "form-error", role: "alert" }, describe(error)));
    }
  });
  card.append(h("div", { class: "actions" }, confirm));
}

function statusBadge(mail) {
  const kind = { delivered: "active", sent: "active", bounced: "failed", complained: "failed", failed: "failed" }[mail.status] || "";
  return badge(mail.status, kind);
}

// One log, filtered in the address: a workspace's (`path` under the workspace) or every mail (superusers).
function emailLog(view, ctx, { title, intro, fetchPage, base }) {
  const query = ctx.query;
  view.append(heading(title), h("p", { class: "muted" }, intro));
  const filters = h(
    "form",
    { class: "audit-filters", "aria-label": "Filter the email log" },
    h(
      "div",
      { class: "row" },
      field("Status", {}, { control: select({ name: "status" }, [["", "Any"], ...STATUSES.map((s) => [s, s])], query.get("status") || "") }),
      field("Template", { name: "template", value: query.get("template") || "", placeholder: "e.g. invitation", maxlength: 64 }),
      field("To", { name: "to", type: "email", value: query.get("to") || "", maxlength: 320 }),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply filters"), h("a", { href: base, class: "button secondary" }, "Clear")),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = new URLSearchParams();
    for (const [name, item] of new FormData(filters)) if (item) wanted.set(name, String(item).trim());
    const search = wanted.toString();
    ctx.navigate(`${base}${search ? `?${search}` : ""}`);
  });
  const params = { limit: PAGE, status: query.get("status") || undefined, template: query.get("template") || undefined, to: query.get("to") || undefined };
  const filtered = ["status", "template", "to"].some((name) => query.get(name));
  const log = pagedTable(
    [
      ["When", (mail) => when(mail.created_at)],
      ["To", (mail) => mail.to],
      ["Mail", (mail) => h("span", {}, mail.subject, " ", h("code", { class: "muted" }, mail.template))],
      ["Status", statusBadge],
      ["Provider", (mail) => h("span", { title: mail.provider_message_id || "" }, mail.provider)],
      ["Error", (mail) => mail.error || "—"],
    ],
    (cursor) => fetchPage({ ...params, cursor }),
    { empty: filtered ? "No mail matches these filters." : "No mail has been sent yet." },
  );
  view.append(section("Filters", filters), section(filtered ? "Matching mail" : "Mail", log));
  return log.ready;
}

export async function workspaceEmailLog(view, ctx) {
  const ws = ctx.ws;
  await emailLog(view, ctx, {
    title: "Email log",
    intro: "Mail voxhub sent about this workspace (invitations, billing, finished jobs), newest first, and what became of it.",
    fetchPage: (params) => api.get(`/workspaces/${ws.id}/email-log`, params),
    base: `/w/${ws.id}/email-log`,
  });
  if (ctx.me && ctx.me.is_superuser) view.append(h("p", {}, link("/admin/email", "Every mail voxhub sent (operators)")));
}

export async function allEmail(view, ctx) {
  await emailLog(view, ctx, {
    title: "All mail",
    intro: "Every mail voxhub sent, of every workspace and of none (sign-in and account mail), newest first.",
    fetchPage: (params) => api.get(`/admin/email-log`, params),
    base: `/admin/email`,
  });
}
