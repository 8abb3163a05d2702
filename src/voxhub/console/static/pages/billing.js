// A workspace's billing: plan and allowances, credits, the ledger, usage by day, checkouts, payments and receipts;
// and the page a payment provider sends the customer back to.

import { api, currentToken } from "../lib/api.js";
import { focusableScrollers } from "./scrollable.js";
import { h, section, heading, table, pagedTable, when, button, notify, confirmDialog, badge, credits, bytes, describe, link, select } from "../lib/dom.js";

// Each meter's name and unit, as the API speaks of them (audio in minutes).
const METERS = {
  audio_minutes: { name: "Audio", unit: "minutes" },
  tts_characters: { name: "Speech synthesis", unit: "characters" },
  podcasts: { name: "Podcasts", unit: "podcasts" },
  translations: { name: "Translations", unit: "translations" },
  storage_bytes: { name: "Storage written", unit: "bytes" },
  api_requests: { name: "API requests", unit: "requests" },
};

// The payment providers voxhub knows (CheckoutIn.provider), in the order offered.
const PROVIDERS = [
  ["stripe", "Card (Stripe)"],
  ["polar", "Polar"],
  ["eway", "Card (eWAY)"],
  ["dodo", "Dodo Payments"],
  ["manual", "Invoice or bank transfer"],
];

const ADMIN_ROLES = new Set(["admin", "owner"]);
const LEDGER_PAGE = 25;
const SVG_NS = "http://www.w3.org/2000/svg";

function meterName(meter) {
  return (METERS[meter] || { name: meter.replace(/_/g, " ") }).name;
}

function amountOf(meter, quantity) {
  if (quantity === null || quantity === undefined) return "—";
  if (meter === "storage_bytes") return bytes(quantity);
  const unit = (METERS[meter] || { unit: "" }).unit;
  const number = Number(quantity).toLocaleString(undefined, { maximumFractionDigits: 2 });
  return unit ? `${number} ${unit}` : number;
}

// A short figure for an axis: the unit is said once, in the chart's caption.
function compact(meter, quantity) {
  if (meter === "storage_bytes") return bytes(quantity);
  // Two significant digits below 1, so a small peak's midpoint (0.05) is not shown as 0.
  const digits = quantity > 0 && quantity < 1 ? { maximumSignificantDigits: 2 } : { maximumFractionDigits: 1 };
  return new Intl.NumberFormat(undefined, { notation: "compact", ...digits }).format(quantity);
}

function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

function day(iso) {
  return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function signed(amount) {
  // A typographic minus reads better than a hyphen next to a number.
  return amount < 0 ? `\u2212${credits(-amount)}` : `+${credits(amount)}`;
}

// A file from the API fetched with the Authorization header, then saved as `filename` (a plain link cannot carry
// the header, and the access token never goes into a URL).
async function download(url, filename) {
  const token = await currentToken();
  const response = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, credentials: "same-origin" });
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try {
      message = (await response.json()).error.message || message;
    } catch {
      /* not JSON: keep the status */
    }
    throw new Error(message);
  }
  const disposition = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const anchor = h("a", { href, download: disposition ? disposition[1] : filename, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

function receiptButtons(label, urlOf, number) {
  return h(
    "div",
    { class: "actions" },
    button("PDF", () => download(urlOf("pdf"), `receipt-${number}.pdf`), { class: "secondary small", "aria-label": `Download ${label} as PDF` }),
    button("HTML", () => download(urlOf("html"), `receipt-${number}.html`), { class: "secondary small", "aria-label": `Download ${label} as HTML` }),
  );
}

// ---- plan and allowances ----

function allowanceRow(meter, allowance, resetsAt) {
  const id = `allowance-${meter}`;
  const name = meterName(meter);
  const parts = [];
  if (allowance.included === null) {
    parts.push(h("p", { class: "allowance-text" }, `Unlimited · ${amountOf(meter, allowance.used)} used`));
  } else if (allowance.included === 0) {
    parts.push(h("p", { class: "allowance-text" }, "Not included in the plan: each use is paid in credits."));
  } else {
    const used = allowance.used + allowance.held;
    parts.push(
      h("meter", {
        id,
        min: 0,
        max: allowance.included,
        value: Math.min(used, allowance.included),
        low: allowance.included * 0.8,
        high: allowance.included * 0.95,
        optimum: 0,
        "aria-describedby": `${id}-text`,
      }),
      h(
        "p",
        { class: "allowance-text", id: `${id}-text` },
        `${amountOf(meter, allowance.used)} used of ${amountOf(meter, allowance.included)}`,
        allowance.held ? ` · ${amountOf(meter, allowance.held)} held by running jobs` : "",
        ` · ${amountOf(meter, allowance.left)} left until ${day(resetsAt)}`,
      ),
    );
  }
  const title = allowance.included ? h("label", { for: id, class: "allowance-name" }, name) : h("span", { class: "allowance-name" }, name);
  return h("div", { class: "allowance" }, title, parts);
}

function planCard(summary, catalog, ws, onChange) {
  const current = catalog.items.find((plan) => plan.id === summary.plan);
  const paid = Boolean(current && (current.monthly_price_cents || current.yearly_price_cents));
  const renews = summary.cancel_at_period_end ? "Ends on" : "Renews on";
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Plan"),
    h("dd", {}, h("strong", {}, summary.plan_name), ` (${summary.interval === "year" ? "yearly" : "monthly"}) `, badge(summary.status)),
    h("dt", {}, "Period"),
    h("dd", {}, `${day(summary.period_start)} – ${day(summary.period_end)}`),
    paid ? [h("dt", {}, renews), h("dd", {}, day(summary.period_end))] : null,
    h("dt", {}, "Allowances reset"),
    h("dd", {}, day(summary.allowance_period_end)),
  );
  const notes = [];
  if (!summary.billing_enabled) notes.push(h("p", { class: "muted" }, "Billing is turned off on this server: jobs run without being metered or charged."));
  if (summary.cancel_at_period_end) notes.push(h("p", { class: "muted" }, `The plan is canceled: the workspace moves to the free plan on ${day(summary.period_end)}.`));
  const canCancel = ADMIN_ROLES.has(ws.role) && paid && !summary.cancel_at_period_end && summary.status === "active";
  const cancel = canCancel
    ? button(
        "Cancel plan",
        async () => {
          const sure = await confirmDialog(`Cancel the ${summary.plan_name} plan? It stays until ${day(summary.period_end)}, then the workspace moves to the free plan.`, {
            confirm: "Cancel plan",
            danger: true,
          });
          if (!sure) return;
          const changed = await api.post(`/workspaces/${ws.id}/billing/subscription/cancel`);
          notify(`The plan ends on ${day(changed.period_end)}.`, "success");
          onChange();
        },
        { class: "danger small" },
      )
    : null;
  return section(
    "Plan and allowances",
    facts,
    notes,
    h(
      "div",
      { class: "allowances" },
      Object.entries(summary.allowances).map(([meter, allowance]) => allowanceRow(meter, allowance, summary.allowance_period_end)),
    ),
    cancel ? h("div", { class: "actions" }, cancel) : null,
  );
}

function creditsCard(summary) {
  return section(
    "Credits",
    h(
      "div",
      { class: "credit-figures" },
      h("div", { class: "credit-figure" }, h("span", { class: "credit-label" }, "Available"), h("strong", { class: "credit-value", id: "credits-available" }, credits(summary.available))),
      h("div", { class: "credit-figure" }, h("span", { class: "credit-label" }, "Balance"), h("span", { class: "credit-value" }, credits(summary.balance))),
      h("div", { class: "credit-figure" }, h("span", { class: "credit-label" }, "Held by running jobs"), h("span", { class: "credit-value" }, credits(summary.held))),
    ),
    h("p", { class: "muted" }, "Credits pay for what a plan's allowances do not cover. A job holds its estimated cost while it runs and is charged what it used."),
  );
}

// ---- usage chart ----

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  for (const child of children) if (child) element.append(child);
  return element;
}

function utcDays(start, end) {
  const days = [];
  const cursor = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  while (cursor <= end) {
    days.push(cursor.toISOString().slice(0, 10));
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return days;
}

function shortDay(isoDay) {
  return new Date(isoDay + "T00:00:00Z").toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

// One meter's use per day as bars. The bars stretch with the card's width; the labels are HTML beside the drawing,
// so they stay readable at phone width.
function meterChart(meter, days, values) {
  const width = 600;
  const height = 140;
  const peak = Math.max(...values);
  const total = values.reduce((sum, value) => sum + value, 0);
  const busiest = days[values.indexOf(peak)];
  const slot = width / days.length;
  const summary =
    `${meterName(meter)} per day, ${shortDay(days[0])} to ${shortDay(days[days.length - 1])}: ` +
    `${amountOf(meter, total)} in all, the most on ${shortDay(busiest)} (${amountOf(meter, peak)}).`;
  const drawing = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": summary, class: "usage-svg" },
    svg("line", { x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, class: "usage-axis", "vector-effect": "non-scaling-stroke" }),
    svg("line", { x1: 0, x2: width, y1: 0.5, y2: 0.5, class: "usage-grid", "vector-effect": "non-scaling-stroke" }),
    svg("line", { x1: 0, x2: width, y1: height / 2, y2: height / 2, class: "usage-grid", "vector-effect": "non-scaling-stroke" }),
  );
  values.forEach((value, index) => {
    if (!value) return;
    const barHeight = Math.max(2, (value / peak) * (height - 2));
    drawing.append(
      svg(
        "rect",
        { x: index * slot + slot * 0.15, y: height - barHeight, width: slot * 0.7, height: barHeight, class: "usage-bar" },
        svg("title", {}, document.createTextNode(`${shortDay(days[index])}: ${amountOf(meter, value)}`)),
      ),
    );
  });
  const middle = days[Math.floor(days.length / 2)];
  return h(
    "figure",
    { class: "usage-chart" },
    h("figcaption", {}, h("strong", {}, meterName(meter)), ` per day${meter === "storage_bytes" ? "" : `, in ${(METERS[meter] || { unit: "units" }).unit}`} · ${amountOf(meter, total)} in this period`),
    h(
      "div",
      { class: "usage-plot" },
      h("div", { class: "usage-y", "aria-hidden": "true" }, h("span", {}, compact(meter, peak)), h("span", {}, compact(meter, peak / 2)), h("span", {}, "0")),
      h(
        "div",
        { class: "usage-area" },
        drawing,
        h("div", { class: "usage-x", "aria-hidden": "true" }, h("span", {}, shortDay(days[0])), h("span", {}, shortDay(middle)), h("span", {}, shortDay(days[days.length - 1]))),
      ),
    ),
  );
}

function usageView(usage) {
  const days = utcDays(new Date(usage.start), new Date(usage.end));
  const byMeter = new Map();
  for (const point of usage.items) {
    if (!byMeter.has(point.meter)) byMeter.set(point.meter, new Map());
    byMeter.get(point.meter).set(point.period, point.quantity);
  }
  const meters = [...byMeter.keys()].sort((a, b) => Object.keys(METERS).indexOf(a) - Object.keys(METERS).indexOf(b));
  if (!meters.length) return h("p", { class: "empty" }, "Nothing was used in this period.");
  const charts = meters.map((meter) => meterChart(meter, days, days.map((d) => byMeter.get(meter).get(d) || 0)));
  const usedDays = days.filter((d) => meters.some((meter) => byMeter.get(meter).get(d)));
  const figures = table(
    [["Day", (d) => h("time", { datetime: d }, shortDay(d))], ...meters.map((meter) => [meterName(meter), (d) => amountOf(meter, byMeter.get(meter).get(d) || 0)])],
    usedDays,
    { caption: "Use per day (days with no use are left out)" },
  );
  return h("div", { class: "stack" }, h("div", { class: "usage-charts" }, charts), h("details", { class: "usage-figures" }, h("summary", {}, "The same figures as a table"), figures));
}

function usageCard(ws) {
  const holder = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading usage…"));
  const range = select({ id: "usage-range" }, [["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]], "30");
  async function load() {
    const end = new Date();
    const start = new Date(end.getTime() - Number(range.value) * 86_400_000);
    try {
      const usage = await api.get(`/workspaces/${ws.id}/billing/usage`, { from: start.toISOString(), to: end.toISOString(), granularity: "day" });
      holder.replaceChildren(usageView(usage));
    } catch (error) {
      holder.replaceChildren(h("p", { class: "form-error" }, describe(error)));
    }
  }
  range.addEventListener("change", load);
  load();
  return section("Usage by day", h("div", { class: "field usage-range" }, h("label", { for: "usage-range" }, "Period"), range), holder);
}

// ---- ledger ----

const KIND_TEXT = {
  hold: "Held for",
  capture: "Charged for",
  release: "Released, unused by",
  purchase: "Bought credits",
  grant: "Granted by an administrator",
  refund: "Refunded",
  adjustment: "Adjusted by an administrator",
  expiry: "Credits expired",
};

const HELD_KINDS = new Set(["hold", "release"]);

// Holds and releases move the held credits, not the balance: their amount says so.
function entryAmount(entry) {
  if (entry.kind === "hold") return `${credits(entry.amount)} held`;
  if (entry.kind === "release") return `${credits(-entry.amount)} released`;
  return signed(entry.amount);
}

function ledgerCard(ws) {
  // Ledger entries name their job by id; the job's type says what the credits paid for. A charge of a synchronous
  // API call (the OpenAI-compatible routes) has no job to read.
  const jobs = new Map();
  function jobOf(jobId) {
    if (!jobs.has(jobId)) jobs.set(jobId, api.get(`/workspaces/${ws.id}/jobs/${jobId}`).catch(() => null));
    return jobs.get(jobId);
  }
  const types = new Map();
  async function fetchPage(cursor) {
    const page = await api.get(`/workspaces/${ws.id}/billing/ledger`, { cursor, limit: LEDGER_PAGE });
    const ids = [...new Set(page.items.map((entry) => entry.job_id).filter(Boolean))];
    const found = await Promise.all(ids.map(jobOf));
    ids.forEach((id, index) => types.set(id, found[index]));
    return page;
  }
  function what(entry) {
    const text = KIND_TEXT[entry.kind] || entry.kind;
    if (entry.job_id) {
      const job = types.get(entry.job_id);
      const subject = job ? link(`/w/${ws.id}/jobs/${job.id}`, `a ${job.type} job`) : "an API call";
      return h("span", { class: "ledger-what" }, h("span", { class: `ledger-kind ${entry.kind}` }, text), " ", subject);
    }
    const parts = [h("span", { class: `ledger-kind ${entry.kind}` }, text)];
    if (entry.reason) parts.push(h("span", { class: "muted" }, ` — ${entry.reason}`));
    if (entry.kind === "purchase") {
      parts.push(receiptButtons("the receipt", (format) => `/api/v1/workspaces/${ws.id}/billing/ledger/${entry.id}/receipt?format=${format}`, entry.id.slice(-8)));
    }
    return h("span", { class: "ledger-what" }, parts);
  }
  const ledger = pagedTable(
    [
      ["When", (entry) => when(entry.created_at)],
      ["What", what],
      ["Credits", (entry) => h("span", { class: `ledger-amount ${HELD_KINDS.has(entry.kind) ? "held" : entry.amount < 0 ? "out" : "in"}` }, entryAmount(entry))],
      ["Balance after", (entry) => h("span", {}, credits(entry.balance_after), entry.held_after ? h("span", { class: "muted" }, ` (${credits(entry.held_after)} held)`) : "")],
    ],
    fetchPage,
    { empty: "No credits have moved yet.", caption: "Every change to the workspace's credits, newest first" },
  );
  ledger.id = "ledger";
  return section("Ledger", ledger);
}

// What recent jobs drew from the allowances and credits: on a plan whose allowance covers a job, the ledger has no
// entry for it, yet the job was charged against the plan.
function jobChargesCard(ws) {
  const holder = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  api
    .get(`/workspaces/${ws.id}/jobs`, { limit: 20 })
    .then((page) => {
      const charged = page.items.filter((job) => job.credits);
      holder.replaceChildren(
        table(
          [
            ["Job", (job) => link(`/w/${ws.id}/jobs/${job.id}`, job.type)],
            ["Status", (job) => badge(job.status)],
            ["From the allowance", (job) => (job.credits.allowance.meter ? amountOf(job.credits.allowance.meter, job.credits.allowance.used ?? job.credits.allowance.held) : "—")],
            ["Credits", (job) => (job.credits.charged === null ? `${credits(job.credits.held)} held` : `${credits(job.credits.charged)} charged`)],
            ["Started", (job) => when(job.timings.created_at)],
          ],
          charged,
          { empty: "No recent job was charged.", caption: "What the last 20 jobs cost" },
        ),
      );
    })
    .catch((error) => holder.replaceChildren(h("p", { class: "form-error" }, describe(error))));
  return section("Charges by job", holder);
}

// ---- payments ----

function paymentsCard(ws) {
  const holder = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  api
    .get(`/workspaces/${ws.id}/billing/payments`)
    .then((page) => {
      holder.replaceChildren(
        table(
          [
            ["Date", (payment) => when(payment.created_at)],
            ["For", (payment) => (payment.kind === "plan" ? `${payment.item} plan` : `${credits(payment.credits)} credits (${payment.item})`)],
            ["Amount", (payment) => h("span", {}, money(payment.amount_cents, payment.currency), payment.refunded_cents ? h("span", { class: "muted" }, ` (${money(payment.refunded_cents, payment.currency)} refunded)`) : "")],
            ["Paid with", (payment) => (PROVIDERS.find(([name]) => name === payment.provider) || [null, payment.provider])[1]],
            ["Status", (payment) => badge(payment.status, payment.status === "paid" ? "ok" : "")],
            [
              "Receipt",
              (payment) =>
                h(
                  "div",
                  { class: "stack receipt" },
                  h("span", { class: "mono" }, payment.receipt_number),
                  receiptButtons(`receipt ${payment.receipt_number}`, (format) => `/api/v1/workspaces/${ws.id}/billing/payments/${payment.id}/receipt?format=${format}`, payment.receipt_number),
                ),
            ],
          ],
          page.items,
          { empty: "No payments yet." },
        ),
      );
    })
    .catch((error) => holder.replaceChildren(h("p", { class: "form-error" }, describe(error))));
  return section("Payments and receipts", holder);
}

// ---- checkout ----

function allowanceSummary(plan) {
  return Object.entries(plan.allowances)
    .map(([meter, amount]) => (amount === null ? `unlimited ${(METERS[meter] || { unit: meter }).unit}` : amountOf(meter, amount)))
    .join(" · ");
}

function buyCard(ws, summary, catalog, packages) {
  if (!summary.billing_enabled) return null;
  if (!ADMIN_ROLES.has(ws.role)) {
    return section("Buy credits or change plan", h("p", { class: "muted" }, "Ask an admin of this workspace to buy credits or change the plan."));
  }
  // The server may say which providers it takes money through; otherwise every provider it knows is offered and
  // one that is not set up answers with its own message.
  const offered = PROVIDERS.filter(([name]) => !Array.isArray(catalog.providers) || catalog.providers.includes(name));
  if (!offered.length) return section("Buy credits or change plan", h("p", { class: "muted" }, "This server takes no payments: an administrator adds credits by hand."));
  const result = h("div", { role: "status", class: "checkout-result" });
  const providerChoice = h(
    "fieldset",
    { class: "choice" },
    h("legend", {}, "Pay with"),
    offered.map(([name, label], index) =>
      h("label", { class: "choice-option" }, h("input", { type: "radio", name: "checkout-provider", value: name, checked: index === 0 }), label),
    ),
  );
  const intervalChoice = h(
    "fieldset",
    { class: "choice" },
    h("legend", {}, "Plans billed"),
    [
      ["month", "Monthly"],
      ["year", "Yearly"],
    ].map(([value, label]) => h("label", { class: "choice-option" }, h("input", { type: "radio", name: "checkout-interval", value, checked: value === "month" }), label)),
  );
  const chosen = (group) => group.querySelector("input:checked").value;

  async function checkout(item) {
    const provider = chosen(providerChoice);
    const body = {
      provider,
      ...item,
      success_url: `${location.origin}/billing/success`,
      cancel_url: `${location.origin}/billing/canceled`,
    };
    if (item.plan) body.interval = chosen(intervalChoice);
    result.replaceChildren();
    let opened;
    try {
      opened = await api.post(`/workspaces/${ws.id}/billing/checkout`, body);
    } catch (error) {
      // A provider this server has no keys for is taken off the choices, so the next click can succeed.
      if (error.code !== "provider_not_configured" || offered.length < 2) throw error;
      const option = providerChoice.querySelector(`input[value="${provider}"]`);
      option.closest("label").remove();
      providerChoice.querySelector("input").checked = true;
      offered.splice(offered.findIndex(([name]) => name === provider), 1);
      throw new Error(`${describe(error)} Choose another way to pay.`);
    }
    if (opened.url) {
      result.replaceChildren(h("p", {}, "Opening the payment page…"));
      location.assign(opened.url);
      return;
    }
    result.replaceChildren(
      h(
        "div",
        { class: "secret" },
        h("strong", {}, `Order ${opened.external_id}: ${money(opened.amount_cents, opened.currency)}`),
        h("p", {}, opened.instructions || "Follow the provider's instructions to pay."),
      ),
    );
  }

  const packageList = packages.length
    ? h(
        "ul",
        { class: "offers" },
        packages.map((pack) =>
          h(
            "li",
            { class: "offer" },
            h("strong", { class: "offer-title" }, `${credits(pack.credits)} credits`),
            h("span", { class: "offer-price" }, money(pack.price_cents, pack.currency)),
            button(`Buy ${credits(pack.credits)} credits`, () => checkout({ package: pack.id }), { class: "primary" }),
          ),
        ),
      )
    : h("p", { class: "empty" }, "No credit packages are for sale.");

  const paid = catalog.items.filter((plan) => plan.monthly_price_cents > 0 || plan.yearly_price_cents > 0);
  const planList = paid.length
    ? h(
        "ul",
        { class: "offers" },
        paid.map((plan) =>
          h(
            "li",
            { class: "offer" },
            h("strong", { class: "offer-title" }, plan.name),
            h("span", { class: "offer-price" }, `${money(plan.monthly_price_cents, plan.currency)} a month or ${money(plan.yearly_price_cents, plan.currency)} a year`),
            h("span", { class: "muted offer-detail" }, allowanceSummary(plan)),
            plan.id === summary.plan
              ? h("span", { class: "badge active" }, "Current plan")
              : button(`Switch to ${plan.name}`, () => checkout({ plan: plan.id }), { class: "secondary" }),
          ),
        ),
      )
    : null;

  return section(
    "Buy credits or change plan",
    providerChoice,
    h("h3", {}, "Credit packages"),
    packageList,
    planList ? [h("h3", {}, "Plans"), intervalChoice, planList] : null,
    result,
  );
}

// ---- pages ----

export async function billing(view, ctx) {
  const ws = ctx.ws;
  const stopMarking = focusableScrollers(view);
  view.append(heading("Billing", h("a", { href: "#ledger", class: "button secondary" }, "Ledger")));
  const body = h("div", { class: "stack billing" });
  view.append(body);
  async function draw() {
    let summary;
    let catalog;
    let packages;
    try {
      [summary, catalog, packages] = await Promise.all([
        api.get(`/workspaces/${ws.id}/billing`),
        api.get(`/billing/plans`),
        api.get(`/billing/packages`),
      ]);
    } catch (error) {
      body.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error)));
      return;
    }
    body.replaceChildren(
      h("div", { class: "grid billing-top" }, planCard(summary, catalog, ws, draw), creditsCard(summary)),
      usageCard(ws),
      ledgerCard(ws),
      jobChargesCard(ws),
      buyCard(ws, summary, catalog, packages.items),
      paymentsCard(ws),
    );
  }
  await draw();
  return stopMarking;
}

export async function checkoutReturn(view, ctx) {
  const paid = location.pathname.endsWith("/success");
  let remembered = null;
  try {
    remembered = localStorage.getItem("voxhub.workspace");
  } catch {
    remembered = null;
  }
  const ws = ctx.workspaces.find((item) => item.id === remembered) || ctx.workspaces.find((item) => item.personal) || ctx.workspaces[0];
  const back = ws ? link(`/w/${ws.id}/billing`, `Back to billing for ${ws.name}`, { class: "button primary" }) : link("/", "Back to voxhub", { class: "button primary" });
  view.append(
    heading(paid ? "Thank you: payment received" : "Checkout canceled"),
    h(
      "section",
      { class: "card checkout-return", role: "status" },
      paid
        ? [
            h("p", {}, "The payment provider has taken your payment."),
            h("p", {}, "Your credits or your new plan arrive as soon as the provider confirms the payment to voxhub, usually within a minute. The billing page shows them, with the receipt, once they have."),
          ]
        : [h("p", {}, "Nothing was charged. You can start a new checkout from the billing page whenever you like.")],
      h("div", { class: "actions" }, back),
    ),
  );
}
