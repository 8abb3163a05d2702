// Jobs: the workspace's list with live progress, a form built from each job type's JSON Schemas, and one job's page
// (progress over SSE, attempts, charges, outputs, and the way on to its transcript).

import { api, all } from "../lib/api.js";
import {
  h,
  append,
  field,
  form,
  select,
  section,
  heading,
  button,
  notify,
  confirmDialog,
  badge,
  describe,
  when,
  bytes,
  duration,
  credits,
  link,
  uid,
} from "../lib/dom.js";
import { focusableScrollers } from "./scrollable.js";
import { workspaceTags, tagChips, tagFilter, tagButton, fieldsButton, fieldValues } from "./labels.js";

const FINAL = new Set(["succeeded", "failed", "canceled"]);
const STATUSES = ["queued", "running", "succeeded", "failed", "canceled"];
// Each EventSource holds one of the browser's six HTTP/1.1 connections to voxhub; the rest of a list is polled.
const MAX_STREAMS = 3;
const POLL_MS = 4000;

// ---- shared with the files page ----

// A fresh Idempotency-Key. crypto.randomUUID exists only in secure contexts; a console served over plain HTTP on a
// LAN address still has getRandomValues.
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Queue a job; a double click or a retried request cannot start it twice.
export function startJob(wsId, body) {
  return api.post(`/workspaces/${wsId}/jobs`, body, { headers: { "Idempotency-Key": idempotencyKey() } });
}

// Follows a job's events over SSE. `on(kind, data)` gets "state", "stage", "progress" and "log" events. The stream
// ends by itself after a final state; a stream that drops (a restart, an expired token) is reopened with a fresh
// token unless the job is over. `queuedAt()` gives when the job was last queued, as the page knows it. Returns a
// function that closes it.
export function follow(wsId, jobId, on, queuedAt = () => null) {
  let source = null;
  let closed = false;
  let failures = 0;
  let timer = null;

  async function open() {
    if (closed) return;
    let answer;
    try {
      answer = await api.post(`/workspaces/${wsId}/jobs/${jobId}/events/token`);
    } catch (error) {
      retry();
      return;
    }
    if (closed) return;
    source = new EventSource(answer.url);
    for (const kind of ["state", "stage", "progress", "log"]) {
      source.addEventListener(kind, (event) => {
        failures = 0;
        let data = {};
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        if (kind === "state" && data.final) {
          // A retried job's stream replays the earlier attempt's final event before what followed it, and the
          // server ends the stream there; the EventSource then reconnects with Last-Event-ID by itself and
          // carries on after it. An attempt that finished before the job was last queued is that replay.
          const finished = data.job && data.job.timings && data.job.timings.finished_at;
          const queued = queuedAt();
          if (finished && queued && new Date(finished) < new Date(queued)) return;
          close();
        }
        on(kind, data);
      });
    }
    source.addEventListener("error", () => {
      // CONNECTING: the browser reconnects by itself. CLOSED: it gave up (401 once the token expired, 204 when
      // the job is over and nothing follows).
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        retry();
      }
    });
  }

  function retry() {
    if (closed) return;
    failures += 1;
    const wait = Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
    timer = setTimeout(async () => {
      try {
        const job = await api.get(`/workspaces/${wsId}/jobs/${jobId}`);
        if (FINAL.has(job.status)) {
          close();
          on("state", { status: job.status, final: true, job });
          return;
        }
      } catch {
        /* the server is away: try again later */
      }
      open();
    }, wait);
  }

  function close() {
    closed = true;
    clearTimeout(timer);
    if (source) source.close();
    source = null;
  }

  open();
  return close;
}

// Replaces an element's children; unlike replaceChildren, skips null and flattens arrays as h() does.
function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

export function statusBadge(job) {
  if (job.cancel_requested && !FINAL.has(job.status)) return badge("canceling");
  return badge(job.status);
}

function percent(value) {
  return `${Math.round(value || 0)}%`;
}

// A cache of file names for the input column, so a page of jobs on one file asks once.
const fileNames = new Map();

// One request names the workspace's newest files, instead of one request a row (requests count against the
// workspace's rate limit).
async function primeFileNames(wsId) {
  try {
    const page = await api.get(`/workspaces/${wsId}/files`, { limit: 200 });
    for (const file of page.items) fileNames.set(file.id, Promise.resolve(file.filename));
  } catch {
    /* names are then asked for one by one */
  }
}

function fileName(wsId, fileId) {
  if (!fileNames.has(fileId)) {
    fileNames.set(
      fileId,
      api.get(`/workspaces/${wsId}/files/${fileId}`).then(
        (file) => file.filename,
        () => null,
      ),
    );
  }
  return fileNames.get(fileId);
}

// What a job works on, as a short description (a file's name, a text's start, a job it follows).
function inputSummary(ws, job) {
  const input = job.input || {};
  if (input.file_id) {
    const holder = h("span", { class: "mono" }, input.file_id.slice(0, 8) + "…");
    fileName(ws.id, input.file_id).then((name) => {
      if (name) holder.replaceChildren(h("span", {}, name));
      holder.className = name ? "" : "mono muted";
    });
    return holder;
  }
  if (input.job_id) return link(`/w/${ws.id}/jobs/${input.job_id}`, `Job ${input.job_id.slice(0, 8)}…`);
  if (typeof input.text === "string") {
    const text = input.text.length > 60 ? input.text.slice(0, 60) + "…" : input.text;
    return h("span", { class: "quote" }, `“${text}”`);
  }
  return h("span", { class: "muted" }, "—");
}

function jobActions(ws, job, onChange) {
  const parts = [];
  if (!FINAL.has(job.status) && !job.cancel_requested) {
    parts.push(
      button(
        "Cancel",
        async () => {
          const updated = await api.post(`/workspaces/${ws.id}/jobs/${job.id}/cancel`);
          notify(updated.status === "canceled" ? "The job is canceled." : "The job stops at its next checkpoint.");
          onChange(updated);
        },
        { class: "secondary small", "aria-label": `Cancel ${job.type} job ${job.id.slice(0, 8)}` },
      ),
    );
  }
  if (job.status === "failed" || job.status === "canceled") {
    parts.push(
      button(
        "Retry",
        async () => {
          const updated = await api.post(`/workspaces/${ws.id}/jobs/${job.id}/retry`);
          notify("The job is queued again.");
          onChange(updated);
        },
        { class: "secondary small", "aria-label": `Retry ${job.type} job ${job.id.slice(0, 8)}` },
      ),
    );
  }
  return parts;
}

// ---- /w/:ws/jobs ----

// A job as its event stream tells it carries no labels: the row keeps the ones it has.
function withoutLabels(job) {
  return job && Object.fromEntries(Object.entries(job).filter(([key]) => key !== "tags" && key !== "custom_fields"));
}

export async function jobs(view, ctx) {
  const ws = ctx.ws;
  const rows = new Map(); // job id → {job, tr, update}
  const streams = new Map(); // job id → close()
  let cursor = null;
  let poller = null;
  let left = false;

  const statusFilter = select(
    { id: uid(), name: "status" },
    [["", "Any status"], ...STATUSES.map((s) => [s, s])],
    ctx.query.get("status") || "",
  );
  const typeFilter = select({ id: uid(), name: "type" }, [["", "Any type"]], "");
  const wantedType = ctx.query.get("type") || "";
  const [allTags, allFields] = await Promise.all([
    workspaceTags(ws.id).catch(() => []),
    api.get(`/workspaces/${ws.id}/custom-fields`).then((page) => page.items, () => []),
  ]);
  const tagSelect = tagFilter(allTags, ctx.query.get("tag"));
  if (wantedType) typeFilter.append(h("option", { value: wantedType, selected: true }, wantedType));

  const tbody = h("tbody");
  const tableWrap = h(
    "div",
    { class: "table-wrap jobs-wrap" },
    h(
      "table",
      { class: "jobs-table" },
      h("caption", { class: "visually-hidden" }, "Jobs"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Job", "Status", "Progress", "Stage", "Input", "Created", ""].map((text) =>
            h("th", { scope: "col" }, text || h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
      ),
      tbody,
    ),
  );
  const emptyNote = h("p", { class: "empty", hidden: true }, "No jobs yet. Upload a file and transcribe it, or start a job.");
  const errorBox = h("p", { class: "form-error", role: "alert", hidden: true });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  more.addEventListener("click", () => busy(more, () => load(false)));

  function busy(element, action) {
    element.disabled = true;
    return action().finally(() => (element.disabled = false));
  }

  function makeRow(job) {
    const status = h("td");
    const bar = h("progress", { max: 100, class: "inline" });
    const pct = h("span", { class: "pct" });
    const stage = h("td", { class: "stage" });
    const actions = h("div", { class: "actions" });
    const label = `${job.type} job ${job.id.slice(0, 8)}`;
    const labelsBox = h("div", { class: "job-labels" });
    const showLabels = () => labelsBox.replaceChildren(...[tagChips(entry.job.tags, allTags), fieldValues(entry.job.custom_fields, allFields)].filter(Boolean));
    const tagsButton = tagButton(ws, "jobs", () => entry.job, allTags, (tags) => entry.update({ tags }), { label });
    const valuesButton = allFields.length ? fieldsButton(ws, "jobs", () => entry.job, allFields, (values) => entry.update({ custom_fields: values }), { label }) : null;
    bar.setAttribute("aria-label", `Progress of ${label}`);
    const tr = h(
      "tr",
      { dataset: { job: job.id } },
      h("td", {}, link(`/w/${ws.id}/jobs/${job.id}`, job.type, { "aria-label": `${job.type} job ${job.id.slice(0, 8)}` }), h("div", { class: "mono muted small" }, job.id.slice(0, 8)), labelsBox),
      status,
      h("td", {}, h("div", { class: "progress-cell" }, bar, pct)),
      stage,
      h("td", {}, inputSummary(ws, job)),
      h("td", {}, when(job.timings.created_at)),
      h("td", {}, actions),
    );
    const entry = { job, tr };
    let shownOffer = null;
    entry.update = (changed) => {
      entry.job = { ...entry.job, ...changed };
      const current = entry.job;
      showLabels();
      status.replaceChildren(statusBadge(current));
      bar.value = current.status === "succeeded" ? 100 : current.progress || 0;
      pct.textContent = percent(bar.value);
      fill(
        stage,
        current.stage ? h("span", {}, current.stage) : null,
        current.message ? h("div", { class: "muted small" }, current.message) : null,
        current.status === "failed" && current.error ? h("div", { class: "error-text small" }, current.error.message) : null,
      );
      // Buttons are remade only when what they offer changes: a click must not land on one being replaced.
      const offer = `${current.status}:${current.cancel_requested}`;
      if (offer !== shownOffer) {
        shownOffer = offer;
        actions.replaceChildren(
          ...jobActions(ws, current, (next) => {
            entry.update(next);
            watch();
          }),
          tagsButton,
          ...(valuesButton ? [valuesButton] : []),
        );
      }
    };
    entry.update({});
    return entry;
  }

  // Streams for the first few unfinished rows; a poll for the others and for any whose stream is gone.
  function watch() {
    if (left) return;
    for (const [id, close] of streams) {
      const entry = rows.get(id);
      if (!entry || FINAL.has(entry.job.status)) {
        close();
        streams.delete(id);
      }
    }
    for (const [id, entry] of rows) {
      if (streams.size >= MAX_STREAMS) break;
      if (FINAL.has(entry.job.status) || streams.has(id)) continue;
      streams.set(
        id,
        follow(ws.id, id, (kind, data) => {
          if (kind === "state") {
            entry.update(withoutLabels(data.job) || { status: data.status, ...(data.retry || data.requeued ? { progress: 0, stage: null, message: null } : {}) });
            if (data.final) {
              streams.delete(id);
              watch();
            }
          } else if (kind === "stage" || kind === "progress") {
            entry.update({ progress: data.progress, stage: data.stage, message: data.message });
          }
        }, () => entry.job.timings.queued_at),
      );
    }
    const unwatched = [...rows.values()].some((entry) => !FINAL.has(entry.job.status) && !streams.has(entry.job.id));
    if (unwatched && !poller) poller = setInterval(poll, POLL_MS);
    if (!unwatched && poller) {
      clearInterval(poller);
      poller = null;
    }
  }

  async function poll() {
    const waiting = [...rows.values()].filter((entry) => !FINAL.has(entry.job.status) && !streams.has(entry.job.id));
    await Promise.all(
      waiting.slice(0, 10).map((entry) =>
        api.get(`/workspaces/${ws.id}/jobs/${entry.job.id}`).then(
          (job) => entry.update(job),
          () => null,
        ),
      ),
    );
    watch();
  }

  async function load(fresh) {
    errorBox.hidden = true;
    if (fresh) cursor = null;
    let page;
    try {
      page = await api.get(`/workspaces/${ws.id}/jobs`, {
        limit: 50,
        cursor,
        status: statusFilter.value || undefined,
        type: typeFilter.value || undefined,
        tag: tagSelect.value || undefined,
      });
    } catch (error) {
      errorBox.textContent = describe(error);
      errorBox.hidden = false;
      return;
    }
    if (fresh) {
      for (const close of streams.values()) close();
      streams.clear();
      rows.clear();
      tbody.replaceChildren();
    }
    for (const job of page.items) {
      if (rows.has(job.id)) continue;
      const entry = makeRow(job);
      rows.set(job.id, entry);
      tbody.append(entry.tr);
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    emptyNote.hidden = rows.size > 0;
    emptyNote.textContent =
      statusFilter.value || typeFilter.value || tagSelect.value ? "No jobs match these filters." : "No jobs yet. Upload a file and transcribe it, or start a job.";
    tableWrap.hidden = rows.size === 0;
    watch();
  }

  function filtersChanged() {
    const params = new URLSearchParams();
    if (statusFilter.value) params.set("status", statusFilter.value);
    if (typeFilter.value) params.set("type", typeFilter.value);
    if (tagSelect.value) params.set("tag", tagSelect.value);
    const search = params.toString();
    history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
    load(true);
  }
  statusFilter.addEventListener("change", filtersChanged);
  typeFilter.addEventListener("change", filtersChanged);
  tagSelect.addEventListener("change", filtersChanged);

  const refreshButton = button("Refresh", () => load(true), { class: "secondary" });
  view.append(
    heading("Jobs", h("a", { href: `/w/${ws.id}/jobs/new`, class: "button" }, "Start a job")),
    h(
      "div",
      { class: "row filters", role: "group", "aria-label": "Filters" },
      field("Status", {}, { control: statusFilter }),
      field("Type", {}, { control: typeFilter }),
      field("Tag", {}, { control: tagSelect }),
      h("div", { class: "field" }, refreshButton),
    ),
    errorBox,
    emptyNote,
    tableWrap,
    more,
  );

  api.get(`/job-types`).then(
    (types) => {
      const current = typeFilter.value;
      typeFilter.replaceChildren(
        ...[["", "Any type"], ...types.items.map((type) => [type.name, type.name])].map(([value, label]) =>
          h("option", { value, selected: value === current }, label),
        ),
      );
      if (current && !types.items.some((type) => type.name === current)) typeFilter.append(h("option", { value: current, selected: true }, current));
    },
    () => null,
  );
  await primeFileNames(ws.id);
  await load(true);
  const unmark = focusableScrollers(view);

  return () => {
    unmark();
    left = true;
    for (const close of streams.values()) close();
    streams.clear();
    if (poller) clearInterval(poller);
  };
}

// ---- JSON Schema → form fields ----

// The schema behind a `$ref` ("#/$defs/Name"), or the schema itself.
function resolve(schema, root) {
  let current = schema || {};
  for (let depth = 0; depth < 10; depth++) {
    if (current.$ref && current.$ref.startsWith("#/")) {
      const target = current.$ref
        .slice(2)
        .split("/")
        .reduce((node, key) => (node ? node[key] : undefined), root);
      const { $ref, ...rest } = current;
      current = { ...(target || {}), ...rest };
    } else if (Array.isArray(current.allOf) && current.allOf.length === 1) {
      const { allOf, ...rest } = current;
      current = { ...resolve(allOf[0], root), ...rest };
    } else break;
  }
  return current;
}

// {schema, nullable}: `anyOf: [X, {type: "null"}]` is X that may be left empty.
function unwrap(schema, root) {
  const resolved = resolve(schema, root);
  const options = resolved.anyOf || resolved.oneOf;
  if (Array.isArray(options)) {
    const real = options.map((option) => resolve(option, root)).filter((option) => option.type !== "null");
    const nullable = real.length < options.length;
    if (real.length === 1) {
      const { anyOf, oneOf, ...outer } = resolved;
      return { schema: { ...real[0], ...outer }, nullable };
    }
    return { schema: resolved, nullable, mixed: true };
  }
  if (Array.isArray(resolved.type)) {
    const types = resolved.type.filter((type) => type !== "null");
    return { schema: { ...resolved, type: types.length === 1 ? types[0] : types }, nullable: types.length < resolved.type.length };
  }
  return { schema: resolved, nullable: false };
}

// Units written as a name's suffix (start_s, bitrate_kbps) read better in brackets.
const UNITS = { s: "seconds", ms: "milliseconds", kbps: "kbps", lufs: "LUFS", hz: "Hz", db: "dB" };

const ACRONYMS = new Set(["vad", "url", "id", "asr", "tts", "mt", "srt", "vtt"]);

function humanise(key) {
  const words = key
    .split("_")
    .filter(Boolean)
    .map((word) => (ACRONYMS.has(word.toLowerCase()) ? word.toUpperCase() : word));
  let unit = null;
  if (words.length > 1 && UNITS[words[words.length - 1].toLowerCase()]) unit = UNITS[words.pop().toLowerCase()];
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1) + (unit ? ` (${unit})` : "");
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// One form control for one property, with a `read()` that gives [wanted, value] (wanted false: leave it out and
// let the server use its default).
function schemaField(key, rawSchema, root, required) {
  const { schema, nullable, mixed } = unwrap(rawSchema, root);
  const label = humanise(key);
  const hintParts = [];
  if (schema.description) hintParts.push(schema.description);
  const optional = !required;
  const id = uid("p");
  const fallback = schema.default;

  if (schema.const !== undefined) return { element: null, read: () => [true, schema.const] };

  if (Array.isArray(schema.enum) && !mixed) {
    const options = schema.enum.map((value) => [String(value), String(value)]);
    const blank = optional && (nullable || fallback === undefined);
    if (blank) options.unshift(["", fallback === undefined || fallback === null ? "Default" : `Default (${fallback})`]);
    const control = select({ id, name: key }, options, fallback === undefined || fallback === null ? "" : String(fallback));
    return {
      element: field(label, {}, { control, hint: hintParts.join(" ") || undefined }),
      read: () => {
        if (control.value === "") return [false];
        const original = schema.enum.find((value) => String(value) === control.value);
        return [true, original];
      },
    };
  }

  if (schema.type === "boolean" && !mixed) {
    if (nullable) {
      const control = select({ id, name: key }, [["", "Default"], ["true", "Yes"], ["false", "No"]], fallback === true ? "true" : fallback === false ? "false" : "");
      return {
        element: field(label, {}, { control, hint: hintParts.join(" ") || undefined }),
        read: () => (control.value === "" ? [false] : [true, control.value === "true"]),
      };
    }
    const input = h("input", { type: "checkbox", id, name: key, checked: Boolean(fallback) });
    const parts = [input, h("label", { for: id }, label)];
    if (hintParts.length) {
      input.setAttribute("aria-describedby", id + "-hint");
      parts.push(h("small", { id: id + "-hint", class: "hint check-hint" }, hintParts.join(" ")));
    }
    return { element: h("div", { class: "field check" }, parts), read: () => [true, input.checked] };
  }

  if ((schema.type === "integer" || schema.type === "number") && !mixed) {
    const props = { type: "number", id, name: key, step: schema.type === "integer" ? "1" : "any", inputmode: schema.type === "integer" ? "numeric" : "decimal" };
    const min = schema.minimum ?? schema.exclusiveMinimum;
    const max = schema.maximum ?? schema.exclusiveMaximum;
    if (min !== undefined) props.min = min;
    if (max !== undefined) props.max = max;
    if (fallback !== undefined && fallback !== null) props.value = String(fallback);
    if (required) props.required = true;
    if (min !== undefined && max !== undefined) hintParts.push(`From ${min} to ${max}.`);
    else if (schema.minimum !== undefined) hintParts.push(`At least ${schema.minimum}.`);
    else if (schema.exclusiveMinimum !== undefined) hintParts.push(`More than ${schema.exclusiveMinimum}.`);
    else if (max !== undefined) hintParts.push(`At most ${max}.`);
    if (optional && (fallback === undefined || fallback === null)) hintParts.push("Leave empty for the default.");
    const element = field(label, props, { hint: hintParts.join(" ") || undefined });
    const input = element.querySelector("input");
    return {
      element,
      read: () => {
        if (input.value === "") return required ? [true, null] : [false];
        return [true, Number(input.value)];
      },
    };
  }

  if (schema.type === "string" && !mixed) {
    const long = (schema.maxLength || 0) > 300;
    const props = { id, name: key };
    if (schema.maxLength) props.maxlength = schema.maxLength;
    if (schema.minLength && required) props.minlength = schema.minLength;
    if (required) props.required = true;
    if (schema.format === "uri") props.type = "url";
    if (fallback !== undefined && fallback !== null) props.value = String(fallback);
    if (optional && (fallback === undefined || fallback === null) && !schema.description) hintParts.push("Optional.");
    const control = long ? h("textarea", { ...props, rows: 3 }) : null;
    if (control && props.value) control.value = props.value;
    const element = field(label, long ? {} : { type: "text", ...props }, { control, hint: hintParts.join(" ") || undefined });
    const input = element.querySelector("input, textarea");
    return {
      element,
      read: () => {
        const value = input.value;
        if (value === "" && !required) return [false];
        return [true, value];
      },
    };
  }

  if (schema.type === "array" && !mixed) {
    const items = unwrap(schema.items || {}, root).schema;
    if (["string", "integer", "number"].includes(items.type)) {
      const numbers = items.type !== "string";
      hintParts.push(numbers ? "Numbers separated by commas." : "One per line.");
      if (schema.maxItems) hintParts.push(`Up to ${schema.maxItems}.`);
      const control = h("textarea", { id, name: key, rows: 3 });
      if (Array.isArray(fallback)) control.value = fallback.join(numbers ? ", " : "\n");
      return {
        element: field(label, {}, { control, hint: hintParts.join(" ") }),
        read: () => {
          const parts = control.value
            .split(numbers ? /[,\s]+/ : /\n/)
            .map((part) => part.trim())
            .filter(Boolean);
          if (!parts.length && !required) return Array.isArray(fallback) && fallback.length ? [true, []] : [false];
          return [true, numbers ? parts.map(Number) : parts];
        },
      };
    }
  }

  // Objects, unions and anything else: JSON.
  hintParts.push("JSON.");
  const control = h("textarea", { id, name: key, rows: 3, class: "mono" });
  if (fallback !== undefined && fallback !== null) control.value = JSON.stringify(fallback, null, 2);
  return {
    element: field(label, {}, { control, hint: hintParts.join(" ") }),
    read: () => {
      if (control.value.trim() === "") return required ? [true, null] : [false];
      try {
        return [true, JSON.parse(control.value)];
      } catch {
        throw new Error(`${label}: this is not valid JSON.`);
      }
    },
  };
}

function readFields(fields) {
  const values = {};
  for (const [key, entry] of Object.entries(fields)) {
    const [wanted, value] = entry.read();
    if (wanted) values[key] = value;
  }
  return values;
}

// ---- /w/:ws/jobs/new ----

export async function newJob(view, ctx) {
  const ws = ctx.ws;
  const [types, readyFiles, transcripts] = await Promise.all([
    api.get(`/job-types`),
    all(`/workspaces/${ws.id}/files`, { status: "ready", limit: 200 }, 500),
    api.get(`/workspaces/${ws.id}/jobs`, { status: "succeeded", type: "transcribe", limit: 100 }).then(
      (page) => page.items,
      () => [],
    ),
  ]);
  const wantedFile = ctx.query.get("file");
  let wantedType = ctx.query.get("type");
  if (!types.items.some((type) => type.name === wantedType)) {
    // Transcription is what most people come for, and what a file's "More jobs" link most likely leads to.
    wantedType = types.items.some((type) => type.name === "transcribe") ? "transcribe" : types.items[0] && types.items[0].name;
  }

  const typeSelect = select(
    { id: uid(), name: "type" },
    types.items.map((type) => [type.name, type.name]),
    wantedType,
  );
  const typeHint = h("p", { class: "hint type-description", id: uid("hint") });
  typeSelect.setAttribute("aria-describedby", typeHint.id);
  const inputBox = h("fieldset", { class: "schema-fields" });
  const paramsBox = h("fieldset", { class: "schema-fields" });
  let inputFields = {};
  let inputJson = null;
  let paramFields = {};

  function fileOptions(required) {
    const options = readyFiles.map((file) => [file.id, file.media ? `${file.filename} (${duration(file.media.duration_s)})` : file.filename]);
    if (!required) options.unshift(["", "None"]);
    return options;
  }

  function inputField(key, rawSchema, root, required) {
    const { schema } = unwrap(rawSchema, root);
    if (key === "file_id") {
      if (!readyFiles.length) {
        return {
          element: h(
            "p",
            { class: "empty" },
            "This workspace has no ready files yet. ",
            link(`/w/${ws.id}/files`, "Upload one"),
            ", then come back.",
          ),
          read: () => [true, ""],
        };
      }
      const chosen = readyFiles.some((file) => file.id === wantedFile) ? wantedFile : required ? readyFiles[0].id : "";
      const control = select({ id: uid(), name: "file_id", required }, fileOptions(required), chosen);
      return { element: field("File", {}, { control, hint: schema.description }), read: () => (control.value ? [true, control.value] : [!required ? false : true, control.value]) };
    }
    if (key === "text") {
      const props = { id: uid(), name: "text", rows: 6 };
      if (schema.maxLength) props.maxlength = schema.maxLength;
      if (required) props.required = true;
      const control = h("textarea", props);
      return {
        element: field("Text", {}, { control, hint: schema.description }),
        read: () => (control.value === "" && !required ? [false] : [true, control.value]),
      };
    }
    if (key === "job_id") {
      const options = transcripts.map((job) => [job.id, `${job.id.slice(0, 8)} — ${new Date(job.timings.created_at).toLocaleString()}`]);
      if (!required) options.unshift(["", "None"]);
      const control = select({ id: uid(), name: "job_id", required }, options, "");
      return {
        element: field("Transcript (a succeeded transcribe job)", {}, { control, hint: schema.description }),
        read: () => (control.value === "" && !required ? [false] : [true, control.value]),
      };
    }
    return null;
  }

  function renderType() {
    const type = types.items.find((item) => item.name === typeSelect.value);
    typeHint.textContent = type ? type.description : "";
    inputFields = {};
    inputJson = null;
    paramFields = {};
    if (!type) return;

    const inputSchema = resolve(type.input_schema, type.input_schema);
    const inputProps = inputSchema.properties || {};
    const inputRequired = new Set(inputSchema.required || []);
    const inputParts = [];
    let plain = true;
    for (const [key, schema] of Object.entries(inputProps)) {
      const special = inputField(key, schema, type.input_schema, inputRequired.has(key));
      if (special) {
        inputFields[key] = special;
        inputParts.push(special.element);
        continue;
      }
      const { schema: inner, mixed } = unwrap(schema, type.input_schema);
      if (mixed || !["string", "integer", "number", "boolean"].includes(inner.type)) {
        plain = false;
        break;
      }
      const generic = schemaField(key, schema, type.input_schema, inputRequired.has(key));
      inputFields[key] = generic;
      inputParts.push(generic.element);
    }
    if (!plain || !Object.keys(inputProps).length) {
      inputFields = {};
      const control = h("textarea", { id: uid(), name: "input", rows: 6, class: "mono", required: true });
      control.value = "{}";
      inputJson = control;
      inputBox.replaceChildren(
        h("legend", {}, "Input"),
        field("Input (JSON)", {}, { control, hint: "What the job works on, as a JSON object." }),
      );
    } else {
      fill(inputBox, h("legend", {}, "Input"), inputParts);
    }

    const paramsSchema = resolve(type.params_schema, type.params_schema);
    const required = new Set(paramsSchema.required || []);
    const parts = [];
    for (const [key, schema] of Object.entries(paramsSchema.properties || {})) {
      const made = schemaField(key, schema, type.params_schema, required.has(key));
      paramFields[key] = made;
      if (made.element) parts.push(made.element);
    }
    paramsBox.hidden = parts.length === 0;
    paramsBox.replaceChildren(h("legend", {}, "Options"), h("div", { class: "schema-grid" }, parts));
  }
  typeSelect.addEventListener("change", () => {
    renderType();
    const params = new URLSearchParams(location.search);
    params.set("type", typeSelect.value);
    history.replaceState(null, "", `${location.pathname}?${params}`);
  });

  const metadataHint = "Your own labels, one key=value a line; the jobs list filters on them through the API.";
  const jobForm = form(
    { class: "job-form", "aria-label": "Start a job" },
    [
      field("Type", {}, { control: typeSelect }),
      typeHint,
      inputBox,
      paramsBox,
      h(
        "fieldset",
        { class: "schema-fields" },
        h("legend", {}, "Delivery"),
        h(
          "div",
          { class: "schema-grid" },
          field("Priority", { type: "number", name: "priority", min: 0, max: 9, step: 1, value: "0", required: true }, { hint: "0 to 9; higher runs first among queued jobs." }),
          field("Webhook URL", { type: "url", name: "webhook_url", placeholder: "https://example.com/hooks/voxhub" }, { hint: "Optional: receives this job's final event." }),
        ),
        field("Metadata", {}, { control: h("textarea", { name: "metadata", rows: 2, class: "mono" }), hint: metadataHint }),
      ),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Start job"), link(`/w/${ws.id}/jobs`, "Cancel")),
    ],
    (values) =>
      submit(values).catch((error) => {
        // The message shows at the top of a long form, far from the button that was pressed.
        setTimeout(() => {
          const box = jobForm.querySelector(".form-error");
          if (box && !box.hidden) box.scrollIntoView({ block: "center", behavior: "smooth" });
        });
        throw error;
      }),
  );

  async function submit(values) {
    let input;
    if (inputJson) {
      try {
        input = JSON.parse(inputJson.value || "{}");
      } catch {
        throw new Error("Input: this is not valid JSON.");
      }
    } else {
      input = readFields(inputFields);
      if ("file_id" in inputFields && !input.file_id) throw new Error("Choose a file (upload one on the Files page first).");
    }
    const metadata = {};
    for (const line of (values.metadata || "").split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf("=");
      if (at < 1) throw new Error(`Metadata: write “key=value”, not “${line.trim()}”.`);
      metadata[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    const body = { type: typeSelect.value, input, params: readFields(paramFields), priority: values.priority ?? 0, metadata };
    if (values.webhook_url) body.webhook_url = values.webhook_url;
    const job = await startJob(ws.id, body);
    notify(`The ${job.type} job is queued.`);
    ctx.navigate(`/w/${ws.id}/jobs/${job.id}`);
  }

  view.append(heading("Start a job"), h("section", { class: "card" }, jobForm));
  if (!types.items.length) {
    jobForm.replaceChildren(h("p", { class: "empty" }, "This server runs no job types."));
    return;
  }
  renderType();
}

// ---- /w/:ws/jobs/:job ----

function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)]),
  );
}

function valueText(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return h("code", {}, JSON.stringify(value));
  return String(value);
}

function seconds(from, to) {
  if (!from || !to) return null;
  const span = (new Date(to) - new Date(from)) / 1000;
  if (span < 0) return null;
  return span < 60 ? `${span.toFixed(1)} s` : duration(span);
}

export async function job(view, ctx) {
  const ws = ctx.ws;
  const jobId = ctx.params.job;
  let current = await api.get(`/workspaces/${ws.id}/jobs/${jobId}`);
  if (current.input && current.input.file_id) fileNames.delete(current.input.file_id); // it may have been renamed
  let stopFollowing = null;
  let left = false;
  const logLines = [];

  // The parts that change with every event stay the same elements, so a screen reader's place and a test's
  // locator survive the updates.
  const statusHolder = h("span", { class: "job-status" });
  const announcer = h("p", { class: "visually-hidden", role: "status" });
  const bar = h("progress", { max: 100, "aria-label": "Progress", class: "job-progress" });
  const pct = h("span", { class: "pct" });
  const stageLine = h("p", { class: "stage-line" });
  const transcriptSlot = h("div", { class: "transcript-slot" });
  const errorBox = h("div", { class: "job-error", role: "alert", hidden: true });
  const actions = h("div", { class: "actions" });
  const details = h("div", { class: "job-details" });
  const logList = h("ol", { class: "job-log mono", "aria-label": "Job log" });
  const logSection = section("Log", logList);
  logSection.hidden = true;

  function paintLive() {
    statusHolder.replaceChildren(statusBadge(current));
    bar.value = current.status === "succeeded" ? 100 : current.progress || 0;
    pct.textContent = percent(bar.value);
    fill(
      stageLine,
      current.stage ? h("strong", {}, current.stage) : null,
      current.stage && current.message ? " — " : null,
      current.message || (current.stage ? null : h("span", { class: "muted" }, current.status === "queued" ? "Waiting for a worker." : "")),
    );
    if (current.type === "transcribe" && current.status === "succeeded") {
      if (!transcriptSlot.firstChild) {
        transcriptSlot.append(h("a", { href: `/w/${ws.id}/transcripts/${current.id}`, class: "button open-transcript" }, "Open transcript"));
      }
    } else transcriptSlot.replaceChildren();
    if (current.status === "failed" && current.error) {
      errorBox.replaceChildren(h("strong", {}, "The job failed: "), current.error.message, " ", h("code", {}, current.error.code));
      errorBox.hidden = false;
    } else errorBox.hidden = true;
  }

  let shownOffer = null;
  function paintActions() {
    // Remade only when what they offer changes: a click must not land on a button being replaced.
    const offer = `${current.status}:${current.cancel_requested}`;
    if (offer === shownOffer) return;
    shownOffer = offer;
    const parts = jobActions(ws, current, (updated) => {
      current = updated;
      paintAll();
      followIfRunning();
    });
    parts.push(
      button(
        "Delete",
        async () => {
          const running = !FINAL.has(current.status);
          const question = running
            ? "Delete this job? It is canceled first, and its outputs are deleted."
            : "Delete this job and its outputs?";
          if (!(await confirmDialog(question, { confirm: "Delete", danger: true }))) return;
          await api.del(`/workspaces/${ws.id}/jobs/${current.id}`);
          notify("The job is deleted.");
          ctx.navigate(`/w/${ws.id}/jobs`);
        },
        { class: "danger small" },
      ),
    );
    actions.replaceChildren(...parts);
  }

  async function paintDetails() {
    const input = current.input || {};
    let inputView;
    if (input.file_id && Object.keys(input).length === 1) {
      const name = await fileName(ws.id, input.file_id);
      inputView = facts([["File", name ? h("span", {}, name, " ", h("span", { class: "mono muted" }, `(${input.file_id.slice(0, 8)}…)`)) : h("span", { class: "mono" }, input.file_id)]]);
    } else if (typeof input.text === "string") {
      inputView = h("div", {}, h("blockquote", { class: "input-text" }, input.text.length > 2000 ? input.text.slice(0, 2000) + "…" : input.text), input.job_id ? facts([["Job", link(`/w/${ws.id}/jobs/${input.job_id}`, input.job_id)]]) : null);
    } else {
      inputView = facts(
        Object.entries(input).map(([key, value]) => [
          humanise(key),
          key === "job_id" && value ? link(`/w/${ws.id}/jobs/${value}`, value) : valueText(value),
        ]),
      );
    }
    // The server fills in every default; what was left at "none" says nothing.
    const params = Object.entries(current.params || {}).filter(
      ([, value]) => value !== null && value !== undefined && !(Array.isArray(value) && !value.length),
    );
    const t = current.timings;
    const charge = current.credits;
    const [attempts, outputs] = await Promise.all([
      api.get(`/workspaces/${ws.id}/jobs/${current.id}/attempts`).then(
        (page) => page.items,
        (error) => error,
      ),
      Promise.all(
        (current.outputs || []).map((fileId) =>
          api.get(`/workspaces/${ws.id}/files/${fileId}`).then(
            (file) => file,
            () => ({ id: fileId, filename: fileId, missing: true }),
          ),
        ),
      ),
    ]);
    if (left) return;

    const attemptsView =
      attempts instanceof Error
        ? h("p", { class: "form-error" }, describe(attempts))
        : attempts.length
          ? h(
              "div",
              { class: "table-wrap", dataset: { label: "Attempts" } },
              h(
                "table",
                {},
                h("thead", {}, h("tr", {}, ["#", "Worker", "Started", "Finished", "Outcome", "Error"].map((text) => h("th", { scope: "col" }, text)))),
                h(
                  "tbody",
                  {},
                  attempts.map((attempt) =>
                    h(
                      "tr",
                      {},
                      h("td", {}, String(attempt.number)),
                      h("td", { class: "mono" }, attempt.worker_id),
                      h("td", {}, when(attempt.started_at)),
                      h("td", {}, attempt.finished_at ? when(attempt.finished_at) : "—"),
                      h("td", {}, attempt.outcome ? badge(attempt.outcome, outcomeKind(attempt.outcome)) : badge("running")),
                      h("td", {}, attempt.error_code ? h("span", {}, h("code", {}, attempt.error_code), " ", attempt.error_message || "") : "—"),
                    ),
                  ),
                ),
              ),
            )
          : h("p", { class: "empty" }, "No attempt yet: the job waits for a worker.");

    const chargeView = charge
      ? facts([
          ["State", badge(charge.state, charge.state === "captured" ? "ok" : charge.state === "held" ? "pending" : "canceled")],
          ["Credits held", credits(charge.held)],
          ["Credits charged", charge.charged === null ? (charge.state === "held" ? "when the job ends" : "—") : credits(charge.charged)],
          ["Price", `${credits(charge.price.credits)} credits per ${charge.price.per}${charge.price.of ? ` of ${charge.price.of}` : ""}${charge.price.per === "minute" ? ` (${charge.price.rounding === "second" ? "by the second" : "each started minute"})` : ""}`],
          charge.estimated.seconds ? ["Sized for", duration(charge.estimated.seconds)] : null,
          charge.estimated.characters ? ["Sized for", `${charge.estimated.characters.toLocaleString()} characters`] : null,
          charge.allowance.meter
            ? ["Allowance", `${charge.allowance.meter}: ${charge.allowance.held} held${charge.allowance.used !== null ? `, ${charge.allowance.used} used` : ""}`]
            : null,
          charge.holds > 1 ? ["Holds", String(charge.holds)] : null,
        ])
      : h("p", { class: "muted" }, "This job is free: it holds and charges no credits.");

    const outputsView = outputs.length
      ? h("ul", { class: "outputs" }, outputs.map((file) => outputItem(ws, file)))
      : h("p", { class: "empty" }, FINAL.has(current.status) ? "This job made no files." : "Files the job makes appear here.");

    const resultView =
      current.result && Object.keys(current.result).length
        ? h("details", { class: "result" }, h("summary", {}, "Result (JSON)"), h("pre", { "data-label": "Result" }, truncate(JSON.stringify(current.result, null, 2), 20000)))
        : null;

    details.replaceChildren(
      h(
        "div",
        { class: "grid" },
        section("Input", inputView),
        section(
          "Options",
          facts([
            ...params.map(([key, value]) => [humanise(key), valueText(value)]),
            ["Priority", String(current.priority)],
            ["Queue", current.queue],
            current.webhook_url ? ["Webhook", h("span", { class: "mono" }, current.webhook_url)] : null,
            ...Object.entries(current.metadata || {}).map(([key, value]) => [`Label ${key}`, value]),
          ]),
        ),
        section(
          "Timings",
          facts([
            ["Created", when(t.created_at)],
            ["Queued", when(t.queued_at)],
            ["Started", t.started_at ? when(t.started_at) : "—"],
            ["Finished", t.finished_at ? when(t.finished_at) : "—"],
            ["Waited", seconds(t.queued_at, t.started_at)],
            ["Ran for", seconds(t.started_at, t.finished_at)],
          ]),
        ),
        section("Charges", chargeView),
      ),
      section("Outputs", outputsView, resultView),
      section(`Attempts (${current.attempts} of ${current.max_attempts})`, attemptsView),
    );
  }

  let detailsTicket = 0;
  function paintAll() {
    paintLive();
    paintActions();
    const ticket = ++detailsTicket;
    paintDetails().catch((error) => {
      if (ticket === detailsTicket) details.replaceChildren(h("p", { class: "form-error" }, describe(error)));
    });
  }

  function addLog(data) {
    logSection.hidden = false;
    logLines.push(data);
    const item = h("li", { class: `log-${data.level || "info"}` }, data.message || "");
    logList.append(item);
    while (logList.children.length > 200) logList.firstChild.remove();
  }

  function followIfRunning() {
    if (stopFollowing || FINAL.has(current.status) || left) return;
    stopFollowing = follow(ws.id, current.id, (kind, data) => {
      if (kind === "state") {
        const before = current.status;
        current = data.job ? data.job : { ...current, status: data.status };
        // Run again from the start: what the events replayed of the earlier attempt no longer holds.
        if (data.retry || data.requeued) current = { ...current, progress: 0, stage: null, message: null };
        if (current.status !== before) announcer.textContent = `The job is ${current.status}.`;
        if (data.final) {
          stopFollowing = null;
          paintAll();
          if (current.status === "succeeded" && current.type === "transcribe") notify("The transcript is ready.", "success");
        } else {
          paintLive();
          paintActions();
          if (data.attempt) {
            // A new attempt started: refresh the attempts table and timings.
            const ticket = ++detailsTicket;
            api.get(`/workspaces/${ws.id}/jobs/${current.id}`).then((fresh) => {
              if (ticket !== detailsTicket || left || FINAL.has(current.status)) return;
              current = fresh;
              paintAll();
            }, () => null);
          }
        }
      } else if (kind === "stage" || kind === "progress") {
        current = { ...current, progress: data.progress, stage: data.stage, message: data.message };
        if (data.stage === "canceling") current.cancel_requested = true;
        paintLive();
        if (data.stage === "canceling") paintActions();
      } else if (kind === "log") addLog(data);
    }, () => current.timings.queued_at);
  }

  view.append(
    heading(`${capitalise(current.type)} job`),
    h(
      "section",
      { class: "card job-summary", "aria-label": "Status" },
      announcer,
      h("div", { class: "job-status-row" }, statusHolder, h("span", { class: "mono muted job-id" }, current.id)),
      h("div", { class: "job-progress-row" }, bar, pct),
      stageLine,
      errorBox,
      transcriptSlot,
      actions,
    ),
    details,
    logSection,
  );
  paintAll();
  followIfRunning();
  const unmark = focusableScrollers(view);

  return () => {
    unmark();
    left = true;
    if (stopFollowing) stopFollowing();
  };
}

function outcomeKind(outcome) {
  if (outcome === "succeeded") return "ok";
  if (outcome === "failed") return "failed";
  if (outcome === "retrying") return "retrying";
  return "canceled"; // canceled, interrupted, lost: the warning colour
}

function truncate(text, limit) {
  return text.length > limit ? text.slice(0, limit) + "\n…" : text;
}

function outputItem(ws, file) {
  if (file.missing) return h("li", {}, h("span", { class: "muted" }, `${file.id} (deleted)`));
  const media = file.media;
  const isVideo = Boolean(media && media.video_codec);
  const playable = media && file.content_type && /^(audio|video)\//.test(file.content_type);
  const player = playable ? h(isVideo ? "video" : "audio", { controls: true, preload: "metadata", "aria-label": `Play ${file.filename}` }) : null;
  if (player) {
    api.get(`/workspaces/${ws.id}/files/${file.id}/link`, { inline: 1 }).then(
      (answer) => (player.src = answer.url),
      () => player.replaceWith(h("p", { class: "muted" }, "The player could not load this file.")),
    );
  }
  return h(
    "li",
    { class: "output" },
    h(
      "div",
      { class: "output-head" },
      h("strong", {}, file.filename),
      h("span", { class: "muted" }, [bytes(file.size_bytes), media ? duration(media.duration_s) : null, media ? media.audio_codec : null].filter(Boolean).join(" · ")),
      button("Download", () => download(ws, file), { class: "secondary small", "aria-label": `Download ${file.filename}` }),
    ),
    player,
  );
}

// Asks for a signed link and follows it as a download; the link carries its own authorisation.
export async function download(ws, file) {
  const answer = await api.get(`/workspaces/${ws.id}/files/${file.id}/link`);
  const anchor = h("a", { href: answer.url, download: file.filename, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}
