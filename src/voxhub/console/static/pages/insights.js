// What is in a recording, on its transcript page: the summary, chapters that seek the player, key phrases, action
// items — from the latest insights job of the transcription, made again on request when the transcript changed.

import { ApiError, api } from "../lib/api.js";
import { h, append, button, clock, describe, notify } from "../lib/dom.js";
import { followJob, jobProgress } from "./transcript.js";

const ENGINES = {
  local: "Written by the local language model",
  remote: "Written by the remote language model",
  extractive: "Picked from the transcript itself (no language model)",
};

function timeButton(seconds, label, playFrom) {
  if (seconds === null || seconds === undefined) return h("span", {}, label);
  return h(
    "button",
    { type: "button", class: "link seek", dataset: { start: String(seconds) }, onclick: () => playFrom(seconds), "aria-label": `${label}, play from ${clock(seconds).replace(/\.\d+$/, "")}` },
    h("span", { class: "mono" }, clock(seconds).replace(/\.\d+$/, "")),
    " ",
    label,
  );
}

function summaryOf(insights) {
  if (!insights.summary) return null;
  const lines = insights.summary.split("\n").map((line) => line.replace(/^\s*[-•*]\s*/, "").trim()).filter(Boolean);
  if (insights.summary_type === "bullets" && lines.length > 1) return h("ul", { class: "insight-summary" }, lines.map((line) => h("li", {}, line)));
  return h("p", { class: "insight-summary" }, lines.join(" "));
}

function render(insights, playFrom) {
  const parts = [];
  parts.push(h("p", { class: "hint" }, `${ENGINES[insights.engine] || insights.engine}${insights.model ? ` (${insights.model})` : ""}.`));
  if (!insights.complete) parts.push(h("p", { class: "form-error" }, "Only part of the transcript was read; see the coverage in the API."));
  const summary = summaryOf(insights);
  if (summary) parts.push(h("h3", {}, "Summary"), summary);
  if (insights.chapters && insights.chapters.length) {
    parts.push(
      h("h3", {}, "Chapters"),
      h(
        "ol",
        { class: "insight-chapters" },
        insights.chapters.map((chapter) => h("li", {}, timeButton(chapter.start, chapter.headline || chapter.gist, playFrom), chapter.summary && chapter.summary !== chapter.headline ? h("p", { class: "hint" }, chapter.summary) : null)),
      ),
    );
  }
  if (insights.key_phrases && insights.key_phrases.length) {
    parts.push(
      h("h3", {}, "Key phrases"),
      h(
        "ul",
        { class: "insight-phrases" },
        insights.key_phrases.slice(0, 15).map((phrase) => {
          const first = phrase.timestamps && phrase.timestamps[0];
          const label = phrase.count > 1 ? `${phrase.text} ×${phrase.count}` : phrase.text;
          return h("li", {}, first ? h("button", { type: "button", class: "secondary small", dataset: { start: String(first.start) }, onclick: () => playFrom(first.start), title: "Play where it is first said" }, label) : label);
        }),
      ),
    );
  }
  if (insights.action_items && insights.action_items.length) {
    parts.push(
      h("h3", {}, "Action items"),
      h(
        "ul",
        { class: "insight-actions" },
        insights.action_items.map((item) =>
          h(
            "li",
            {},
            timeButton(item.start, item.text, playFrom),
            item.owner || item.due ? h("span", { class: "hint" }, [item.owner ? `Owner: ${item.owner}` : null, item.due ? `Due: ${item.due}` : null].filter(Boolean).join(" · ")) : null,
          ),
        ),
      ),
    );
  } else if (insights.action_items && !(insights.skipped || []).some((skipped) => skipped.feature === "action_items")) {
    parts.push(h("h3", {}, "Action items"), h("p", { class: "empty" }, "None found."));
  }
  for (const skipped of insights.skipped || []) parts.push(h("p", { class: "hint" }, `No ${skipped.feature.replace("_", " ")}. ${skipped.reason}`));
  return parts;
}

// The Insights card. `onStop` registers what to stop when the page is left.
export function insightsSection({ wsId, jobId, canEdit, playFrom, onStop }) {
  const body = h("div", { class: "insights", "aria-live": "polite" });
  const progressBox = h("div");

  async function start() {
    const job = await api.post(`/workspaces/${wsId}/jobs`, { type: "insights", input: { job_id: jobId } }, { headers: { "Idempotency-Key": crypto.randomUUID() } });
    follow(job.id);
  }

  function follow(insightsJobId) {
    const progress = jobProgress("Finding what is in the recording");
    progressBox.replaceChildren(progress.element);
    onStop(
      followJob(wsId, insightsJobId, {
        onUpdate: (update) => progress.update(update),
        onDone: async (job) => {
          progressBox.replaceChildren();
          if (job.status !== "succeeded") {
            notify(`Insights failed: ${(job.error && job.error.message) || job.status}`, "error");
            return;
          }
          await load();
        },
      }),
    );
  }

  async function load() {
    let insights = null;
    try {
      insights = await api.get(`/workspaces/${wsId}/jobs/${jobId}/insights`);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        body.replaceChildren(h("p", { class: "form-error" }, describe(error)));
        return;
      }
    }
    body.replaceChildren();
    if (!insights) {
      append(body, [
        h("p", { class: "empty" }, "No insights yet: a summary, chapters, key phrases and action items."),
        canEdit ? button("Find what is in it", start, { class: "primary" }) : null,
      ]);
      return;
    }
    append(body, [
      ...(insights.stale
        ? [h("p", { class: "banner-inline", role: "status" }, `Made from version ${insights.transcript_version}; the transcript has changed since.`), canEdit ? button("Make them again", start, { class: "secondary small" }) : null]
        : []),
      ...render(insights, playFrom),
    ]);
  }

  load();
  return h("section", { class: "card", "aria-labelledby": "insights-title" }, h("h2", { id: "insights-title" }, "Insights"), body, progressBox);
}
