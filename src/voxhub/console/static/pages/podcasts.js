// The podcast studio: an episode made from notes (estimated before it is started), the workspace's episodes, and one
// episode followed through its stages — its script reviewed (lines edited, a segment rewritten, approved), then
// played chapter by chapter and downloaded — and the workspace's private feed for podcast apps.

import { api } from "../lib/api.js";
import { h, append, field, form, heading, section, describe, notify, button, badge, duration, clock, when, link, select, pagedTable, confirmDialog, copyButton, uid } from "../lib/dom.js";
import { languageName } from "./transcript.js";
import { focusableScrollers } from "./scrollable.js";

const NOTES_MIN = 100;
const NOTES_MAX = 50_000;
const LINE_MAX = 600;
const MAX_HOSTS = 4;
const DEFAULT_HOSTS = ["Alex", "Sam", "Robin", "Kim"];
const WORKING = new Set(["queued", "running"]);
const POLL_MS = 2000;
const DURATIONS = [
  ["short", "Short, about 5 minutes"],
  ["long", "Long, about 15 minutes"],
  ["minutes", "A length in minutes"],
];
const FORMATS = [
  ["deep_dive", "Deep dive"],
  ["brief", "Brief"],
  ["debate", "Debate"],
  ["critique", "Critique"],
  ["interview", "Interview"],
];
const LANGUAGES = ["en", "pt", "es", "fr", "de", "it", "nl"];
const STATUSES = ["queued", "running", "awaiting_review", "succeeded", "failed", "canceled"];
const STAGES = {
  outline: "Outlining the notes",
  script: "Writing the script",
  review: "Waiting for your review",
  voices: "Voicing the hosts",
  mix: "Mixing",
  outputs: "Making the files",
  done: "Done",
};
const ENGINES = {
  local: "written by the local language model",
  remote: "written by the remote language model",
  extractive: "picked from the notes themselves (no language model)",
};
const ROLES = ["viewer", "member", "admin", "owner"];

function statusBadge(status) {
  return badge(status.replace("_", " "), status);
}

function formatName(format) {
  const found = FORMATS.find(([value]) => value === format);
  return found ? found[1] : format;
}

function minutes(value) {
  return `${Number(value.toFixed(1))} min`;
}

// The episode's length: as made once it is finished, else what it aims at.
function lengthOf(episode) {
  return episode.duration_s ? duration(episode.duration_s) : `about ${minutes(episode.target_minutes)}`;
}

function canSpend(ws) {
  return ROLES.indexOf(ws.role) >= ROLES.indexOf("member");
}

function isAdmin(ws) {
  return ROLES.indexOf(ws.role) >= ROLES.indexOf("admin");
}

function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

// A line's box as tall as its text, so nothing of what will be said is hidden behind a scrollbar.
function fit(textarea) {
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight + 2}px`;
}

function slug(title) {
  return (title || "episode").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "episode";
}

// ---- the list page ----

export async function podcasts(view, ctx) {
  const wsId = ctx.ws.id;
  const timers = new Set();
  const stopMarking = focusableScrollers(view);
  view.append(heading("Podcasts"));
  const newEpisode = canSpend(ctx.ws) ? await episodeForm(ctx) : h("p", { class: "hint" }, "Viewers cannot make episodes in this workspace.");
  view.append(section("New episode", newEpisode), episodesSection(ctx, timers), await feedSection(ctx));
  return () => {
    stopMarking();
    timers.forEach((timer) => clearTimeout(timer));
  };
}

async function voicesFor(wsId, language) {
  try {
    return { voices: (await api.get(`/workspaces/${wsId}/podcasts/voices`, { language })).items, error: null };
  } catch (error) {
    return { voices: [], error: describe(error) };
  }
}

function voicePicker(voices, wanted) {
  const ids = voices.map((voice) => voice.id);
  return select({}, voices.map((voice) => [voice.id, voice.description]), ids.includes(wanted) ? wanted : ids[0]);
}

async function episodeForm(ctx) {
  const wsId = ctx.ws.id;
  let { voices, error: voicesError } = await voicesFor(wsId, "en");

  // ---- the notes ----
  const notes = h("textarea", { name: "notes", rows: 10, required: true, minlength: NOTES_MIN, maxlength: NOTES_MAX });
  const counter = h("small", { class: "hint", id: uid("count") });
  const count = () => {
    const length = notes.value.length;
    counter.textContent = `${length.toLocaleString()} of ${NOTES_MAX.toLocaleString()} characters${length < NOTES_MIN ? ` (at least ${NOTES_MIN})` : ""}.`;
  };
  notes.addEventListener("input", count);
  count();
  const notesField = field("Notes", {}, { control: notes, hint: "Paste what the episode is about: notes, an article, a summary. Headings and lists are fine." });
  notesField.append(counter);
  notes.setAttribute("aria-describedby", `${notes.getAttribute("aria-describedby")} ${counter.id}`);

  // ---- length, format, language ----
  const durationPick = select({ name: "duration" }, DURATIONS, "short");
  const minutesInput = h("input", { type: "number", name: "minutes", min: 1, max: 60, step: 0.5, value: 3, required: true });
  const minutesField = field("Minutes", {}, { control: minutesInput, hint: "1 to 60." });
  const showMinutes = () => {
    const custom = durationPick.value === "minutes";
    minutesField.hidden = !custom;
    minutesInput.disabled = !custom;
  };
  durationPick.addEventListener("change", showMinutes);
  showMinutes();
  const language = select({ name: "language" }, LANGUAGES.map((code) => [code, languageName(code)]), "en");

  // ---- the hosts ----
  const hostsBox = h("div", { class: "stack" });
  const hostsNote = h("p", { class: "form-error", hidden: true });
  const addHost = h("button", { type: "button", class: "secondary small" }, "Add a host");
  let hosts = [];

  function hostRow(index, name, voice, persona) {
    const number = index + 1;
    const nameInput = h("input", { type: "text", required: true, maxlength: 40, value: name, autocomplete: "off" });
    const picker = voicePicker(voices, voice);
    const personaInput = h("input", { type: "text", maxlength: 300, value: persona || "", placeholder: "e.g. a curious beginner" });
    const row = h(
      "div",
      { class: "row" },
      field(`Host ${number}'s name`, {}, { control: nameInput }),
      field(`Host ${number}'s voice`, {}, { control: picker }),
      field(`Host ${number}'s persona (optional)`, {}, { control: personaInput }),
    );
    return { row, nameInput, picker, personaInput };
  }

  function drawHosts(wanted) {
    hosts = wanted.map((host, index) => hostRow(index, host.name, host.voice, host.persona));
    hostsBox.replaceChildren(
      ...hosts.map((host, index) =>
        append(host.row, [
          hosts.length > 1
            ? h("div", { class: "field" }, button("Remove", () => drawHosts(currentHosts().filter((_, other) => other !== index)), { class: "secondary small", "aria-label": `Remove host ${index + 1}` }))
            : null,
        ]),
      ),
    );
    addHost.hidden = hosts.length >= MAX_HOSTS;
    hostsNote.hidden = Boolean(voices.length);
    hostsNote.textContent = `No voices could be listed${voicesError ? `: ${voicesError}` : "."}`;
  }

  function currentHosts() {
    return hosts.map((host) => ({ name: host.nameInput.value.trim(), voice: host.picker.value || null, persona: host.personaInput.value.trim() || null }));
  }

  addHost.addEventListener("click", () => {
    const taken = new Set(currentHosts().map((host) => host.name));
    const name = DEFAULT_HOSTS.find((candidate) => !taken.has(candidate)) || `Host ${hosts.length + 1}`;
    // Each new host starts with a voice no other host has, while there are such voices.
    const used = new Set(currentHosts().map((host) => host.voice));
    const voice = (voices.find((candidate) => !used.has(candidate.id)) || voices[0] || {}).id;
    drawHosts([...currentHosts(), { name, voice }]);
  });
  drawHosts(DEFAULT_HOSTS.slice(0, 2).map((name, index) => ({ name, voice: voices[index] && voices[index].id })));

  // The voices speak the episode's language: a new language brings its own list.
  language.addEventListener("change", async () => {
    ({ voices, error: voicesError } = await voicesFor(wsId, language.value));
    drawHosts(currentHosts().map((host, index) => ({ ...host, voice: voices.length ? voices[index % voices.length].id : null })));
  });

  // ---- the estimate, then the episode ----
  const review = h("input", { type: "checkbox", name: "review", checked: true, id: uid() });
  const m4a = h("input", { type: "checkbox", name: "m4a", id: uid() });
  const estimateBox = h("div", { class: "stack", role: "status" });

  function request(values) {
    return {
      notes: values.notes,
      title: values.title.trim() || undefined,
      duration: values.duration === "minutes" ? { minutes: Number(values.minutes) } : values.duration,
      format: values.format,
      language: values.language,
      focus: values.focus.trim() || undefined,
      hosts: currentHosts().map((host) => ({ name: host.name, voice: host.voice || undefined, persona: host.persona || undefined })),
      review: values.review,
      formats: values.m4a ? ["mp3", "m4a"] : ["mp3"],
    };
  }

  function showEstimate(body, estimate) {
    const created = h("p", { class: "form-error", role: "alert", hidden: true });
    const create = button(
      "Create episode",
      async () => {
        created.hidden = true;
        try {
          const episode = await api.post(`/workspaces/${wsId}/podcasts`, body);
          ctx.navigate(`/w/${wsId}/podcasts/${episode.id}`);
        } catch (error) {
          created.textContent = describe(error);
          created.hidden = false;
        }
      },
      { class: "primary", disabled: !estimate.can_start },
    );
    const facts = [
      ["Length", `about ${minutes(estimate.target_minutes)} (${minutes(estimate.min_minutes)} to ${minutes(estimate.max_minutes)})`],
      ["Script", `about ${estimate.words.toLocaleString()} words, ${ENGINES[estimate.script_engine] || estimate.script_engine}`],
      ["Price", estimate.credits ? `up to ${estimate.credits.toLocaleString()} credits past the plan's allowance` : "no credits"],
    ];
    if (estimate.allowance_left !== null && estimate.allowance_left !== undefined) facts.push(["Allowance", `${Number(estimate.allowance_left).toLocaleString()} left this month`]);
    estimateBox.replaceChildren();
    append(estimateBox, [
      h("h3", {}, "Estimate"),
      h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
      estimate.can_start ? null : h("p", { class: "form-error" }, (estimate.refusal && estimate.refusal.message) || "It would be refused now."),
      h("div", { class: "actions" }, create),
      created,
    ]);
  }

  const episodeFormElement = form(
    { class: "podcast-form" },
    [
      notesField,
      field("Title (optional)", { name: "title", maxlength: 200 }, { hint: "Default: the notes' first line." }),
      h(
        "div",
        { class: "row" },
        field("Length", {}, { control: durationPick }),
        minutesField,
        field("Format", {}, { control: select({ name: "format" }, FORMATS, "deep_dive") }),
        field("Language", {}, { control: language, hint: "Written and spoken." }),
      ),
      h("h3", {}, "Hosts"),
      hostsNote,
      hostsBox,
      h("div", { class: "actions" }, addHost),
      field("Focus (optional)", { name: "focus", maxlength: 500 }, { hint: "What to dwell on, e.g. “what a beginner needs first”." }),
      h("div", { class: "field check" }, review, h("label", { for: review.id }, "Review the script before voicing")),
      h("div", { class: "field check" }, m4a, h("label", { for: m4a.id }, "Also make an M4A file")),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Estimate")),
      estimateBox,
    ],
    async (values) => {
      const body = request(values);
      estimateBox.replaceChildren(h("p", { class: "muted" }, "Estimating…"));
      try {
        showEstimate(body, await api.post(`/workspaces/${wsId}/podcasts/estimate`, body));
      } catch (error) {
        estimateBox.replaceChildren();
        throw error;
      }
    },
  );
  // An estimate answers the form as it was: a change asks for a new one.
  episodeFormElement.addEventListener("input", (event) => {
    if (!estimateBox.contains(event.target)) estimateBox.replaceChildren();
  });
  episodeFormElement.addEventListener("change", (event) => {
    if (!estimateBox.contains(event.target)) estimateBox.replaceChildren();
  });
  return episodeFormElement;
}

function episodesSection(ctx, timers) {
  const wsId = ctx.ws.id;
  const filter = select({ id: uid(), name: "status" }, [["", "Any status"], ...STATUSES.map((status) => [status, status.replace("_", " ")])], "");
  const holder = h("div");
  const columns = [
    ["Episode", (episode) => link(`/w/${wsId}/podcasts/${episode.id}`, episode.title)],
    ["Status", (episode) => statusBadge(episode.status)],
    ["Length", lengthOf],
    ["Format", (episode) => formatName(episode.format)],
    ["Created", (episode) => when(episode.created_at)],
  ];
  let timer = null;

  function load() {
    clearTimeout(timer);
    timers.delete(timer);
    const table = pagedTable(
      columns,
      async (cursor) => {
        const page = await api.get(`/workspaces/${wsId}/podcasts`, { status: filter.value || undefined, cursor, limit: 20 });
        // Episodes being made change status on their own: the list is read again while any is.
        if (!cursor && page.items.some((episode) => WORKING.has(episode.status))) {
          timer = setTimeout(load, 5000);
          timers.add(timer);
        }
        return page;
      },
      { empty: "No episodes yet.", caption: "Episodes" },
    );
    holder.replaceChildren(table);
  }
  filter.addEventListener("change", load);
  load();
  return section("Episodes", h("div", { class: "row" }, field("Show", {}, { control: filter })), holder);
}

async function feedSection(ctx) {
  const wsId = ctx.ws.id;
  const admin = isAdmin(ctx.ws);
  const body = h("div", { class: "stack" });

  function draw(feed) {
    const parts = [];
    if (!feed.enabled) {
      parts.push(h("p", {}, "The feed is off. With it on, finished episodes play in any podcast app through a private address."));
    } else if (feed.url) {
      parts.push(
        h("div", { class: "secret" }, h("code", { id: "feed-url" }, feed.url), copyButton(feed.url, "Copy the feed address")),
        h("p", { class: "hint" }, "Shown this once: add it to a podcast app now. Anyone with the address can listen, so keep it private."),
      );
    } else {
      parts.push(
        h("p", {}, "The feed is on since ", when(feed.created_at), "."),
        h("p", { class: "hint" }, "Its address was shown once, when it was made. A new address replaces it; apps using the old one stop getting episodes."),
      );
    }
    if (admin) {
      parts.push(
        h(
          "div",
          { class: "actions" },
          button(feed.enabled ? "Make a new address" : "Turn the feed on", async () => {
            draw(await api.post(`/workspaces/${wsId}/podcasts/feed`));
            notify("The feed's new address is shown once, below.");
          }, { class: feed.enabled ? "secondary" : "primary" }),
          feed.enabled
            ? button("Turn the feed off", async () => {
                if (!(await confirmDialog("Turn the feed off? Podcast apps using its address stop getting episodes.", { confirm: "Turn off", danger: true }))) return;
                await api.del(`/workspaces/${wsId}/podcasts/feed`);
                draw({ enabled: false, url: null, created_at: null });
                notify("The feed is off.");
              }, { class: "danger" })
            : null,
        ),
      );
    } else {
      parts.push(h("p", { class: "hint" }, "An admin of the workspace can turn the feed on or make a new address."));
    }
    body.replaceChildren(...parts);
  }

  try {
    draw(await api.get(`/workspaces/${wsId}/podcasts/feed`));
  } catch (error) {
    body.replaceChildren(h("p", { class: "form-error" }, describe(error)));
  }
  return section("Podcast feed", body);
}

// ---- one episode ----

export async function podcast(view, ctx) {
  const wsId = ctx.ws.id;
  const podcastId = ctx.params.podcast;
  const editable = canSpend(ctx.ws);
  const base = `/w/${wsId}/podcasts`;
  let episode = await api.get(`/workspaces/${wsId}/podcasts/${podcastId}`);
  let script = null;
  let timer = null;
  let left = false;
  let audio = null;

  const head = h("div");
  const progressCard = h("section", { class: "card", "aria-labelledby": "episode-progress" });
  const main = h("div");
  view.append(head, progressCard, main);
  // A narrower window wraps the script's lines onto more rows.
  const refit = () => main.querySelectorAll("textarea").forEach(fit);
  window.addEventListener("resize", refit);

  // ---- progress, followed while a job works on the episode ----
  const bar = h("progress", { max: 100, "aria-label": "Episode progress" });
  const stageText = h("p", { class: "muted" });

  function showProgress(state) {
    // Queued: no progress to show yet, so the bar moves without a value.
    if (state.status === "queued") bar.removeAttribute("value");
    else bar.value = state.progress || 0;
    const stage = STAGES[state.stage] || (state.status === "queued" ? "Queued" : state.stage || "");
    stageText.textContent = [stage, state.message, `${Math.round(state.progress || 0)}%`].filter(Boolean).join(" · ");
  }

  async function poll() {
    if (left) return;
    try {
      const state = await api.get(`/workspaces/${wsId}/podcasts/${podcastId}/status`);
      if (left) return;
      if (WORKING.has(state.status)) {
        progressCard.querySelector(".badge").replaceWith(statusBadge(state.status));
        showProgress(state);
      } else {
        await reload();
        announce(state);
        return;
      }
    } catch (error) {
      stageText.textContent = describe(error);
    }
    if (!left) timer = setTimeout(poll, POLL_MS);
  }

  function announce(state) {
    if (state.status === "awaiting_review") notify("The script is ready for your review.");
    else if (state.status === "succeeded") notify("The episode is ready to play.");
    else if (state.status === "failed") notify(`The episode failed: ${(state.error && state.error.message) || "no reason given"}`, "error");
  }

  async function reload() {
    episode = await api.get(`/workspaces/${wsId}/podcasts/${podcastId}`);
    await draw();
  }

  function follow() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  }

  // ---- drawing ----
  async function draw() {
    if (audio) audio.pause();
    audio = null;
    const hadFocus = view.contains(document.activeElement);
    head.replaceChildren(
      heading(
        episode.title,
        link(base, "All episodes", { class: "button secondary" }),
        episode.status === "succeeded" ? link(`/w/${wsId}/shares?target_type=podcast&target_id=${podcastId}`, "Share", { class: "button secondary" }) : null,
        editable
          ? button("Delete", async () => {
              if (!(await confirmDialog(`Delete “${episode.title}” and its files?`, { confirm: "Delete", danger: true }))) return;
              await api.del(`/workspaces/${wsId}/podcasts/${podcastId}`);
              notify("The episode is deleted.");
              ctx.navigate(base);
            }, { class: "danger" })
          : null,
      ),
    );
    drawProgress();
    const parts = [];
    if (episode.status === "awaiting_review") {
      script = await api.get(`/workspaces/${wsId}/podcasts/${podcastId}/script`);
      parts.push(reviewSection());
    } else if (episode.status === "succeeded") {
      parts.push(await listenSection());
      script = await api.get(`/workspaces/${wsId}/podcasts/${podcastId}/script`).catch(() => null);
      if (script) parts.push(readSection());
    }
    parts.push(factsSection());
    main.replaceChildren(...parts);
    refit();
    if (WORKING.has(episode.status)) follow();
    // A button that started this redraw is gone with it: focus goes back to the page's title, not to nowhere.
    if (hadFocus && !view.contains(document.activeElement)) {
      const title = view.querySelector("h1");
      if (title) title.focus({ preventScroll: true });
    }
  }

  function drawProgress() {
    const children = [h("h2", { id: "episode-progress" }, "Progress"), h("p", {}, statusBadge(episode.status))];
    if (WORKING.has(episode.status)) {
      showProgress(episode);
      children.push(h("div", { role: "status" }, stageText, bar));
    } else if (episode.status === "awaiting_review") {
      children.push(h("p", { role: "status" }, "The script is written. Read it, change what you like, then approve it to have it voiced."));
    } else if (episode.status === "succeeded") {
      children.push(h("p", { role: "status" }, `Ready: ${lengthOf(episode)}.`));
    } else if (episode.status === "failed" || episode.status === "canceled") {
      children.push(
        h("p", { class: "form-error", role: "alert" }, `The episode ${episode.status}${episode.error && episode.error.message ? `: ${episode.error.message}` : "."}`),
        editable
          ? h(
              "div",
              { class: "actions" },
              button("Retry", async () => {
                episode = await api.post(`/workspaces/${wsId}/podcasts/${podcastId}/retry`);
                notify("Retrying from the last finished stage.");
                await draw();
              }, { class: "primary" }),
            )
          : null,
      );
    }
    progressCard.replaceChildren(...children.filter(Boolean));
  }

  function factsSection() {
    const hosts = episode.hosts.map((host) => (host.voice ? `${host.name} (${host.voice})` : host.name)).join(", ");
    const facts = [
      ["Format", formatName(episode.format)],
      ["Length", lengthOf(episode)],
      ["Language", languageName(episode.language)],
      ["Hosts", hosts],
      ["Focus", episode.focus],
      ["Script", episode.script_engine ? ENGINES[episode.script_engine] || episode.script_engine : null],
      ["Notes", `${episode.notes_chars.toLocaleString()} characters`],
      ["Created", when(episode.created_at)],
    ].filter(([, value]) => value);
    return section("About this episode", h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])));
  }

  // ---- the script under review ----
  function reviewSection() {
    const names = episode.hosts.map((host) => host.name);
    const saveState = h("p", { class: "muted", role: "status" }, "No changes.");
    let dirty = false;
    const segments = script.segments.map((segment, s) => {
      const titleInput = h("input", { type: "text", value: segment.title, maxlength: 200, required: true });
      const lines = segment.lines.map((line, n) => {
        const label = `segment ${s + 1}, line ${n + 1}`;
        const speaker = select({ "aria-label": `Speaker of ${label}` }, names.map((name) => [name, name]), line.speaker);
        const text = h("textarea", { rows: 2, maxlength: LINE_MAX, "aria-label": `Text of ${label}`, value: line.text });
        const element = h("li", { class: "row" }, speaker, text);
        // The speaker beside their words; on a phone the words wrap below.
        element.style.alignItems = "flex-start";
        speaker.style.width = "auto";
        speaker.style.flex = "0 0 auto";
        text.style.flex = "1 1 16rem";
        text.style.minHeight = "2.6rem";
        text.addEventListener("input", () => fit(text));
        return { line, speaker, text, element };
      });
      const rewrite = editable
        ? button(`Rewrite this segment`, async () => {
            if (dirty) await save();
            episode = await api.post(`/workspaces/${wsId}/podcasts/${podcastId}/segments/${s}/regenerate`);
            notify(`Segment ${s + 1} is being rewritten.`);
            await draw();
          }, { class: "secondary small", "aria-label": `Rewrite segment ${s + 1}: ${segment.title}` })
        : null;
      const top = h("div", { class: "actions" }, h("h3", { id: `segment-${s}` }, `${s + 1}. ${segment.title}`), rewrite);
      top.style.justifyContent = "space-between";
      const element = h(
        "section",
        { "aria-labelledby": `segment-${s}` },
        top,
        field(`Title of segment ${s + 1}`, {}, { control: titleInput, hint: "Its chapter's name in the episode." }),
        h("ol", { class: "stack", "aria-label": `Lines of segment ${s + 1}` }, lines.map((line) => line.element)),
      );
      // The lines are numbered in their labels; the list's own numbers and indent would only take a phone's width.
      element.lastChild.style.paddingLeft = "0";
      element.lastChild.style.listStyle = "none";
      return { segment, titleInput, lines, element };
    });

    function edited() {
      return {
        segments: segments.map(({ segment, titleInput, lines }) => ({
          title: titleInput.value.trim() || segment.title,
          points: segment.points,
          words: segment.words,
          lines: lines.map(({ line, speaker, text }) => ({ speaker: speaker.value, text: text.value.trim(), source_refs: line.source_refs })),
        })),
      };
    }

    const errorBox = h("p", { class: "form-error", role: "alert", hidden: true });
    async function save() {
      errorBox.hidden = true;
      try {
        script = await api.put(`/workspaces/${wsId}/podcasts/${podcastId}/script`, edited());
      } catch (error) {
        errorBox.textContent = describe(error);
        errorBox.hidden = false;
        throw error;
      }
      dirty = false;
      saveState.textContent = "Saved.";
    }

    const saveButton = button("Save the script", save, { class: "secondary", disabled: !editable });
    const approve = button(
      "Approve and voice",
      async () => {
        if (dirty) await save();
        episode = await api.post(`/workspaces/${wsId}/podcasts/${podcastId}/approve`);
        notify("Approved: the hosts are being voiced.");
        await draw();
      },
      { class: "primary", disabled: !editable },
    );
    const card = h(
      "section",
      { class: "card", "aria-labelledby": "script-review" },
      h("h2", { id: "script-review" }, "Script review"),
      h("p", { class: "hint" }, `${plural(script.segments.length, "segment")}, ${plural(script.segments.reduce((sum, segment) => sum + segment.lines.length, 0), "line")}; ${ENGINES[script.engine] || script.engine}. Only lines you change are voiced again.`),
      segments.map((segment) => segment.element),
      errorBox,
      h("div", { class: "actions" }, saveButton, approve),
      saveState,
    );
    card.addEventListener("input", () => {
      dirty = true;
      saveState.textContent = "Unsaved changes.";
    });
    return card;
  }

  // ---- the finished episode ----
  async function fileLink(fileId, inline) {
    return (await api.get(`/workspaces/${wsId}/files/${fileId}/link`, { inline: inline ? 1 : undefined })).url;
  }

  function downloadButton(label, fileId, filename) {
    return button(label, async () => {
      const anchor = h("a", { href: await fileLink(fileId, false), download: filename, hidden: true });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
    }, { class: "secondary small" });
  }

  async function listenSection() {
    const outputs = episode.outputs;
    const parts = [h("h2", { id: "listen" }, "Listen")];
    if (outputs.mp3_file_id) {
      const fileId = outputs.mp3_file_id;
      audio = h("audio", { controls: true, preload: "metadata", src: await fileLink(fileId, true), "aria-label": "Episode" });
      audio.style.width = "100%";
      let renewed = 0;
      // Signed links expire: a player that fails to load gets a fresh one, once a minute at most.
      audio.addEventListener("error", async () => {
        if (!audio || Date.now() - renewed < 60_000) return;
        renewed = Date.now();
        const time = audio.currentTime;
        try {
          audio.src = await fileLink(fileId, true);
          audio.currentTime = time;
        } catch {
          /* the file is gone: the player shows it cannot play */
        }
      });
      parts.push(audio);
    }
    const chapters = episode.chapters || [];
    if (chapters.length && audio) {
      const player = audio;
      const items = chapters.map((chapter) => {
        const at = clock(chapter.start).replace(/\.\d+$/, "");
        const seek = h(
          "button",
          {
            type: "button",
            class: "link",
            dataset: { start: String(chapter.start) },
            "aria-label": `${chapter.title}, play from ${at}`,
            onclick: () => {
              player.currentTime = chapter.start;
              player.play().catch(() => {
                /* the browser wants the player's own button first */
              });
            },
          },
          h("span", { class: "mono" }, at),
          " ",
          chapter.title,
        );
        // A long title wraps on a phone instead of running off the screen.
        seek.style.whiteSpace = "normal";
        seek.style.textAlign = "left";
        seek.style.display = "inline";
        return h("li", {}, seek);
      });
      // The chapter playing is marked, for the eye and for screen readers.
      player.addEventListener("timeupdate", () => {
        let current = 0;
        chapters.forEach((chapter, index) => {
          if (player.currentTime + 0.05 >= chapter.start) current = index;
        });
        items.forEach((item, index) => {
          const seek = item.firstChild;
          if (index === current) seek.setAttribute("aria-current", "true");
          else seek.removeAttribute("aria-current");
          seek.style.fontWeight = index === current ? "700" : "";
        });
      });
      parts.push(h("h3", {}, "Chapters"), h("ol", { class: "stack", "aria-label": "Chapters" }, items));
    }
    const name = slug(episode.title);
    const downloads = [
      outputs.mp3_file_id ? downloadButton("Download MP3", outputs.mp3_file_id, `${name}.mp3`) : null,
      outputs.m4a_file_id ? downloadButton("Download M4A", outputs.m4a_file_id, `${name}.m4a`) : null,
      outputs.vtt_file_id ? downloadButton("Captions (VTT)", outputs.vtt_file_id, `${name}.vtt`) : null,
      outputs.srt_file_id ? downloadButton("Captions (SRT)", outputs.srt_file_id, `${name}.srt`) : null,
      outputs.chapters_file_id ? downloadButton("Chapters (JSON)", outputs.chapters_file_id, `${name}.chapters.json`) : null,
    ].filter(Boolean);
    if (downloads.length) parts.push(h("h3", {}, "Download"), h("div", { class: "actions" }, downloads));
    return h("section", { class: "card", "aria-labelledby": "listen" }, parts);
  }

  function readSection() {
    return h(
      "section",
      { class: "card", "aria-labelledby": "script-read" },
      h("h2", { id: "script-read" }, "Script"),
      h(
        "details",
        {},
        h("summary", {}, `Read the script (${plural(script.segments.length, "segment")})`),
        script.segments.map((segment, s) => [
          h("h3", {}, `${s + 1}. ${segment.title}`),
          segment.lines.map((line) => h("p", {}, h("strong", {}, `${line.speaker}: `), line.text)),
        ]),
      ),
    );
  }

  await draw();
  return () => {
    left = true;
    clearTimeout(timer);
    window.removeEventListener("resize", refit);
    if (audio) audio.pause();
  };
}
