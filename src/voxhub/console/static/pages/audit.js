// A workspace's audit log (admins): every change made in it, filtered as the API allows, each entry's details on
// demand. The filters live in the address, so a filtered view can be shared and the back button undoes a filter.

import { api, all } from "../lib/api.js";
import { focusableScrollers } from "./scrollable.js";
import { h, field, section, heading, pagedTable, when, select } from "../lib/dom.js";

// Families of actions, offered as prefixes (the API takes an exact action or a prefix ending in ".").
const FAMILIES = ["workspace.", "job.", "file.", "upload.", "transcript.", "billing.", "webhook.", "api_key.", "provider_key.", "user.", "openai."];
const PAGE = 50;

function shortId(id) {
  return id && id.length > 12 ? `…${id.slice(-8)}` : id || "";
}

// A datetime-local value (the reader's own time zone) as an instant the API understands.
function instant(local) {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function value(item) {
  if (item === null || item === undefined) return "—";
  if (typeof item === "object") return JSON.stringify(item);
  return String(item);
}

function oneLine(summary) {
  const parts = Object.entries(summary || {}).map(([key, item]) => `${key}: ${value(item)}`);
  const text = parts.join(" · ");
  return text.length > 80 ? `${text.slice(0, 79)}…` : text || "Details";
}

export async function audit(view, ctx) {
  const ws = ctx.ws;
  const query = ctx.query;
  view.append(heading("Audit log"), h("p", { class: "muted" }, "Every change made in this workspace, newest first: who did it, from where, and what changed."));

  // Who is who: members by user id, API keys by id. Either list may be out of reach; ids are shown then.
  const [members, keys] = await Promise.all([
    all(`/workspaces/${ws.id}/members`).catch(() => []),
    all(`/workspaces/${ws.id}/api-keys`).catch(() => []),
  ]);
  const people = new Map(members.map((member) => [member.user_id, member.name ? `${member.name} (${member.email})` : member.email]));
  const shortNames = new Map(members.map((member) => [member.user_id, member.name || member.email]));
  const keyNames = new Map(keys.map((key) => [key.id, key.name]));

  const actions = h("datalist", { id: "audit-actions" }, FAMILIES.map((family) => h("option", { value: family })));
  const actorSelect = select(
    { name: "actor_user_id" },
    [["", "Anyone"], ...members.map((member) => [member.user_id, people.get(member.user_id)])],
    query.get("actor_user_id") || "",
  );
  const keySelect = select({ name: "actor_api_key_id" }, [["", "Any or none"], ...keys.map((key) => [key.id, `${key.name} (${key.prefix}…)`])], query.get("actor_api_key_id") || "");
  const filters = h(
    "form",
    { class: "audit-filters", "aria-label": "Filter the audit log" },
    h(
      "div",
      { class: "row" },
      field("Action", { name: "action", value: query.get("action") || "", list: "audit-actions", placeholder: "e.g. job. or webhook.created", maxlength: 100 }, { hint: "An exact action, or a family ending in a dot." }),
      field("Done by", {}, { control: actorSelect }),
      field("With the API key", {}, { control: keySelect }),
      field("From", { name: "since", type: "datetime-local", value: query.get("since") || "" }),
      field("Until", { name: "until", type: "datetime-local", value: query.get("until") || "" }),
    ),
    actions,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply filters"), h("a", { href: `/w/${ws.id}/audit`, class: "button secondary" }, "Clear")),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = new URLSearchParams();
    for (const [name, item] of new FormData(filters)) if (item) wanted.set(name, String(item).trim());
    const search = wanted.toString();
    ctx.navigate(`/w/${ws.id}/audit${search ? `?${search}` : ""}`);
  });

  const params = {
    limit: PAGE,
    action: query.get("action") || undefined,
    actor_user_id: query.get("actor_user_id") || undefined,
    actor_api_key_id: query.get("actor_api_key_id") || undefined,
    since: instant(query.get("since")),
    until: instant(query.get("until")),
  };
  const filtered = ["action", "actor_user_id", "actor_api_key_id", "since", "until"].some((name) => query.get(name));

  function actor(event) {
    if (event.actor_api_key_id) return h("span", {}, "API key ", h("strong", {}, keyNames.get(event.actor_api_key_id) || shortId(event.actor_api_key_id)));
    if (event.actor_user_id && people.has(event.actor_user_id)) return h("span", { title: people.get(event.actor_user_id) }, shortNames.get(event.actor_user_id));
    if (event.actor_user_id) return h("span", { class: "mono", title: event.actor_user_id }, `user ${shortId(event.actor_user_id)}`);
    return h("span", { class: "muted" }, "voxhub");
  }

  function details(event) {
    const facts = [
      ["Target", event.target_type ? `${event.target_type} ${event.target_id || ""}` : "—"],
      ["IP address", event.ip || "—"],
      ["Client", event.user_agent || "—"],
      ["Entry", event.id],
      ...Object.entries(event.summary || {}).map(([key, item]) => [key, value(item)]),
    ];
    return h(
      "details",
      { class: "audit-details" },
      h("summary", {}, oneLine(event.summary)),
      h("dl", { class: "facts" }, facts.map(([term, text]) => [h("dt", {}, term), h("dd", {}, text)])),
    );
  }

  const log = pagedTable(
    [
      ["When", (event) => when(event.created_at)],
      ["Action", (event) => h("code", {}, event.action)],
      ["By", actor],
      ["Target", (event) => (event.target_type ? h("span", { class: "audit-target" }, event.target_type, " ", h("span", { class: "mono muted", title: event.target_id || "" }, shortId(event.target_id))) : "—")],
      ["Details", details],
    ],
    (cursor) => api.get(`/workspaces/${ws.id}/audit-log`, { ...params, cursor }),
    { empty: filtered ? "No entries match these filters." : "Nothing has been recorded yet." },
  );
  view.append(section("Filters", filters), section(filtered ? "Matching entries" : "Entries", log));
  const stopMarking = focusableScrollers(view);
  await log.ready;
  return stopMarking;
}
