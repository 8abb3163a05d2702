// A workspace's outgoing webhooks: endpoints (the signing secret shown once), their delivery log with redelivery,
// and the secret that signs deliveries to a job's own webhook_url.

import { api } from "../lib/api.js";
import { focusableScrollers } from "./scrollable.js";
import { h, field, form, section, heading, table, when, button, busy, notify, confirmDialog, badge, copyButton, link, describe } from "../lib/dom.js";

// The events an endpoint can subscribe to (notify.endpoints.EVENT_TYPES; the API refuses others, naming these).
const EVENTS = [
  ["job.succeeded", "A job finished"],
  ["job.failed", "A job failed"],
  ["job.canceled", "A job was canceled"],
  ["file.ready", "An upload was checked and is ready"],
  ["file.rejected", "An upload was refused"],
  ["billing.usage_alert", "An allowance or the credit balance is running low"],
  ["podcast.succeeded", "A podcast episode is ready"],
  ["podcast.failed", "A podcast episode failed"],
];

function secretBox(title, secret) {
  return h("div", { class: "secret" }, h("strong", {}, title), h("code", { class: "webhook-secret" }, secret), copyButton(secret, "Copy secret"));
}

function eventChoices(prefix, chosen) {
  return h(
    "fieldset",
    { class: "field webhook-events" },
    h("legend", {}, "Events"),
    EVENTS.map(([name, text]) => {
      const box = h("input", { type: "checkbox", id: `${prefix}-${name}`, name: `event:${name}` });
      box.defaultChecked = chosen.includes(name); // what the form's reset goes back to
      return h("div", { class: "field check" }, box, h("label", { for: `${prefix}-${name}` }, h("code", {}, name), " ", h("span", { class: "muted" }, text)));
    }),
  );
}

function chosenEvents(values) {
  const events = EVENTS.map(([name]) => name).filter((name) => values[`event:${name}`]);
  if (!events.length) throw new Error("Choose at least one event.");
  return events;
}

function state(endpoint) {
  if (!endpoint.enabled) return badge("disabled");
  if (endpoint.failing_since) return badge("failing", "canceled");
  return badge("active");
}

function stateNote(endpoint) {
  if (!endpoint.enabled && endpoint.disabled_reason) return h("small", { class: "hint" }, endpoint.disabled_reason);
  if (endpoint.failing_since) return h("small", { class: "hint" }, "Failing since ", when(endpoint.failing_since));
  return null;
}

async function setEnabled(ws, endpoint, enabled) {
  const changed = await api.patch(`/workspaces/${ws.id}/webhooks/${endpoint.id}`, { enabled });
  notify(enabled ? `Events go to ${changed.url} again.` : `No more events go to ${changed.url} until it is enabled.`, "success");
  return changed;
}

async function remove(ws, endpoint) {
  const sure = await confirmDialog(`Delete the endpoint ${endpoint.url}? It gets no more events, and its delivery log goes with it.`, { confirm: "Delete", danger: true });
  if (!sure) return false;
  await api.del(`/workspaces/${ws.id}/webhooks/${endpoint.id}`);
  notify(`The endpoint ${endpoint.url} is deleted.`, "success");
  return true;
}

function jobSecretCard(ws) {
  const holder = h("div", { role: "status" });
  const show = button(
    "Show the job webhook secret",
    async () => {
      const { secret } = await api.get(`/workspaces/${ws.id}/webhooks/job-secret`);
      holder.replaceChildren(secretBox("This workspace's job webhook secret:", secret));
      show.hidden = true;
    },
    { class: "secondary" },
  );
  return section(
    "Job webhook secret",
    h("p", { class: "muted" }, "A job started with its own ", h("code", {}, "webhook_url"), " gets its final event there, signed with this workspace secret (it is the same for every job)."),
    show,
    holder,
  );
}

export async function webhooks(view, ctx) {
  const ws = ctx.ws;
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const created = h("div", { role: "status" });

  async function load() {
    const page = await api.get(`/workspaces/${ws.id}/webhooks`);
    list.replaceChildren(
      table(
        [
          ["Endpoint", (endpoint) => h("div", {}, link(`/w/${ws.id}/webhooks/${endpoint.id}`, endpoint.url, { class: "webhook-url" }), endpoint.description ? h("small", { class: "hint" }, endpoint.description) : null)],
          ["Events", (endpoint) => h("ul", { class: "webhook-event-list" }, endpoint.events.map((name) => h("li", {}, h("code", {}, name))))],
          ["State", (endpoint) => h("div", {}, state(endpoint), stateNote(endpoint))],
          ["Added", (endpoint) => when(endpoint.created_at)],
          [
            "",
            (endpoint) =>
              h(
                "div",
                { class: "actions" },
                button(
                  endpoint.enabled ? "Disable" : "Enable",
                  async () => {
                    await setEnabled(ws, endpoint, !endpoint.enabled);
                    await load();
                  },
                  { class: "secondary small", "aria-label": `${endpoint.enabled ? "Disable" : "Enable"} ${endpoint.url}` },
                ),
                button(
                  "Delete",
                  async () => {
                    if (await remove(ws, endpoint)) await load();
                  },
                  { class: "danger small", "aria-label": `Delete ${endpoint.url}` },
                ),
              ),
          ],
        ],
        page.items,
        { empty: "No endpoints yet: add one above to get events as they happen.", caption: "Where this workspace's events go" },
      ),
    );
  }

  const addForm = form(
    {},
    [
      field("URL", { name: "url", type: "url", required: true, placeholder: "https://example.com/voxhub-events", maxlength: 2000 }, { hint: "voxhub POSTs each event here as JSON." }),
      field("Description (optional)", { name: "description", maxlength: 500 }),
      eventChoices("new", ["job.succeeded", "job.failed"]),
      h("button", { type: "submit" }, "Add endpoint"),
    ],
    async (values, element) => {
      const endpoint = await api.post(`/workspaces/${ws.id}/webhooks`, { url: values.url.trim(), description: values.description, events: chosenEvents(values) });
      element.reset();
      created.replaceChildren(
        secretBox(`Signing secret for ${endpoint.url}. Copy it now: it is shown only once.`, endpoint.secret),
        h("p", { class: "muted" }, "Check each delivery's ", h("code", {}, "webhook-signature"), " header with it (Standard Webhooks). ", link(`/w/${ws.id}/webhooks/${endpoint.id}`, "Open the endpoint")),
      );
      await load();
    },
  );

  view.append(
    heading("Webhooks"),
    h("p", { class: "muted" }, "voxhub sends events to your endpoints as they happen, signed with each endpoint's secret, and retries a failed delivery."),
    section("Add an endpoint", addForm, created),
    section("Endpoints", list),
    jobSecretCard(ws),
  );
  const stopMarking = focusableScrollers(view);
  await load();
  return stopMarking;
}

// ---- one endpoint ----

function attemptsTable(delivery) {
  return table(
    [
      ["#", (attempt) => String(attempt.number)],
      ["At", (attempt) => when(attempt.attempted_at)],
      ["Response", (attempt) => (attempt.status_code ? String(attempt.status_code) : attempt.error || "—")],
      ["Took", (attempt) => (attempt.response_ms === null ? "—" : `${attempt.response_ms} ms`)],
      ["Body", (attempt) => (attempt.response_body ? h("code", { class: "webhook-body" }, attempt.response_body) : "—")],
    ],
    delivery.attempt_log,
    { empty: "Not attempted yet.", caption: "Attempts, in order" },
  );
}

export async function webhook(view, ctx) {
  const ws = ctx.ws;
  let endpoint = await api.get(`/workspaces/${ws.id}/webhooks/${ctx.params.webhook}`);
  const facts = h("div");
  const secretHolder = h("div", { role: "status" });
  const deliveries = h("div");

  function drawFacts() {
    facts.replaceChildren(
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "URL"),
        h("dd", {}, h("code", {}, endpoint.url)),
        h("dt", {}, "State"),
        h("dd", {}, state(endpoint), " ", stateNote(endpoint)),
        h("dt", {}, "Events"),
        h("dd", {}, endpoint.events.map((name, index) => [index ? ", " : "", h("code", {}, name)])),
        endpoint.description ? [h("dt", {}, "Description"), h("dd", {}, endpoint.description)] : null,
        h("dt", {}, "Added"),
        h("dd", {}, when(endpoint.created_at)),
      ),
      h(
        "div",
        { class: "actions webhook-actions" },
        button(endpoint.enabled ? "Disable" : "Enable", async () => {
          endpoint = await setEnabled(ws, endpoint, !endpoint.enabled);
          drawFacts();
        }, { class: "secondary" }),
        button(
          "Rotate secret",
          async () => {
            const sure = await confirmDialog("Make a new signing secret? Deliveries are signed with it from now on: your receiver must check with the new one.", { confirm: "Rotate" });
            if (!sure) return;
            const { secret } = await api.post(`/workspaces/${ws.id}/webhooks/${endpoint.id}/rotate-secret`);
            secretHolder.replaceChildren(secretBox("The new signing secret. Copy it now: it is shown only once.", secret));
          },
          { class: "secondary" },
        ),
        button(
          "Delete",
          async () => {
            if (await remove(ws, endpoint)) ctx.navigate(`/w/${ws.id}/webhooks`);
          },
          { class: "danger" },
        ),
      ),
    );
  }

  const editForm = form(
    { class: "webhook-edit" },
    [
      field("URL", { name: "url", type: "url", required: true, value: endpoint.url, maxlength: 2000 }),
      field("Description", { name: "description", value: endpoint.description, maxlength: 500 }),
      eventChoices("edit", endpoint.events),
      h("button", { type: "submit" }, "Save changes"),
    ],
    async (values) => {
      endpoint = await api.patch(`/workspaces/${ws.id}/webhooks/${endpoint.id}`, { url: values.url.trim(), description: values.description, events: chosenEvents(values) });
      notify("The endpoint is saved.", "success");
      drawFacts();
    },
  );

  // The delivery log: a row per delivery, and under it (on demand) a full-width row with its payload and attempts.
  const COLUMNS = ["Event", "Status", "Attempts", "Response", "Sent", "Actions"];
  function deliveryRows(delivery) {
    const detailId = `delivery-${delivery.id}`;
    const detail = h(
      "tr",
      { class: "delivery-detail", id: detailId, hidden: true },
      h("td", { colspan: COLUMNS.length }, h("div", { class: "delivery-detail-body" }, h("h3", {}, "Payload"), h("pre", { "data-label": `Payload of the ${delivery.event_type} event` }, JSON.stringify(delivery.payload, null, 2)), h("h3", {}, "Attempts"), attemptsTable(delivery))),
    );
    const sent = new Date(delivery.created_at).toLocaleString();
    const toggle = h("button", { type: "button", class: "secondary small", "aria-expanded": "false", "aria-controls": detailId, "aria-label": `Details of the ${delivery.event_type} event sent ${sent}` }, "Details");
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      detail.hidden = !open;
    });
    const redeliver = button(
      "Redeliver",
      async () => {
        await api.post(`/workspaces/${ws.id}/webhooks/${endpoint.id}/deliveries/${delivery.id}/redeliver`);
        notify(`The ${delivery.event_type} event is queued to be sent again.`, "success");
        await loadDeliveries();
      },
      { class: "secondary small", "aria-label": `Redeliver the ${delivery.event_type} event sent ${sent}` },
    );
    const row = h(
      "tr",
      {},
      h("td", {}, h("code", {}, delivery.event_type)),
      h("td", {}, badge(delivery.status)),
      h("td", {}, String(delivery.attempts), delivery.next_attempt_at ? h("small", { class: "hint" }, "next ", when(delivery.next_attempt_at)) : null),
      h("td", {}, delivery.last_status_code ? String(delivery.last_status_code) : "—"),
      h("td", {}, when(delivery.created_at)),
      h("td", {}, h("div", { class: "actions" }, toggle, redeliver)),
    );
    return [row, detail];
  }

  async function loadDeliveries() {
    const body = h("tbody");
    const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
    let cursor = null;
    async function next() {
      const page = await api.get(`/workspaces/${ws.id}/webhooks/${endpoint.id}/deliveries`, { cursor, limit: 25 });
      page.items.forEach((delivery) => body.append(...deliveryRows(delivery)));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      return page.items.length;
    }
    more.addEventListener("click", () => busy(more, next));
    try {
      if (!(await next())) {
        deliveries.replaceChildren(h("p", { class: "empty" }, "Nothing has been sent to this endpoint yet."));
        return;
      }
    } catch (error) {
      deliveries.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error)));
      return;
    }
    deliveries.replaceChildren(
      h(
        "div",
        { class: "table-wrap" },
        h("table", { class: "deliveries" }, h("caption", {}, "Deliveries, newest first"), h("thead", {}, h("tr", {}, COLUMNS.map((name) => h("th", { scope: "col" }, name)))), body),
      ),
      more,
    );
  }

  drawFacts();
  view.append(
    heading("Webhook", link(`/w/${ws.id}/webhooks`, "All webhooks", { class: "button secondary" })),
    h("p", { class: "webhook-head-url" }, h("code", {}, endpoint.url)),
    section("Endpoint", facts, secretHolder),
    section("Deliveries", h("div", { class: "actions webhook-refresh" }, button("Refresh", () => loadDeliveries(), { class: "secondary small" })), deliveries),
    section("Change the endpoint", editForm),
  );
  const stopMarking = focusableScrollers(view);
  await loadDeliveries();
  return stopMarking;
}
