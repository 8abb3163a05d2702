// The dubbing studio: a video or audio file (chosen from the workspace's files or uploaded here) dubbed into other
// languages, the workspace's dubs, and one dub followed through its stages — its lines reviewed (translations
// edited, a line muted or left in the original, a speaker's voice changed), rendered, then watched with a choice of
// sound track and subtitles, its QA figures and its files beside it.

import { api, all, currentToken } from "../lib/api.js";
import { h, field, form, heading, section, describe, notify, button, badge, bytes, duration, when, link, select, pagedTable, table, confirmDialog, uid } from "../lib/dom.js";
import { languageName } from "./transcript.js";
import { focusableScrollers } from "./scrollable.js";

const WORKING = new Set(["queued", "running"]);
const POLL_MS = 2000;
const LIST_POLL_MS = 5000;
// English ↔ Portuguese (Bergamot) and English ↔ Spanish (Apertium) are translated offline; the others need another
// Apertium pair or a language model, and the dub is refused with `unsupported_language_pair` when neither is there.
const LANGUAGES = ["en", "pt", "es", "fr", "de", "it", "nl"];
const MAX_LANGUAGES = 4;
const STATUSES = ["queued", "running", "awaiting_review", "succeeded", "failed", "canceled"];
const STAGES = {
  ingest: "Reading the recording",
  understand: "Transcribing and telling the speakers apart",
  units: "Cutting the speech into lines",
  translate: "Translating",
  review: "Waiting for your review",
  voices: "Voicing the lines",
  mix: "Mixing",
  mux: "Making the files",
  done: "Done",
};
const BACKGROUNDS = [
  ["duck", "Duck: the original lowered under the new voices"],
  ["replace", "Replace: only the background kept"],
  ["voiceover", "Voice-over: the original heard first, then kept low"],
];
const SUBTITLES = [
  ["soft", "Subtitle tracks"],
  ["burn", "Burned into the picture"],
  ["none", "None"],
];
const ROLES = ["viewer", "member", "admin", "owner"];
// How far a sound track may wander from the picture before it is put back in step: below what an ear notices in
// a dub, above what a player's clock jitters by between two timeupdate events.
const DRIFT_S = 0.3;
const ORIGINAL = "original";
const CHUNK_BYTES = 50 * 1024 * 1024;
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000];

function statusBadge(status) {
  return badge(status.replace("_", " "), status);
}

function canSpend(ws) {
  return ROLES.indexOf(ws.role) >= ROLES.indexOf("member");
}

function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

function languages(dub) {
  const targets = dub.target_languages.map(languageName).join(", ");
  return dub.source_language ? `${languageName(dub.source_language)} → ${targets}` : `→ ${targets}`;
}

function stageText(state) {
  const stage = STAGES[state.stage] || (state.status === "queued" ? "Queued" : state.stage || "");
  return [stage, state.message, `${Math.round(state.progress || 0)}%`].filter(Boolean).join(" · ");
}

// "0:07.4": a line's time, to the tenth of a second a dub is judged by.
function at(seconds) {
  const tenths = Math.round(seconds * 10);
  return `${duration(Math.floor(tenths / 10))}.${tenths % 10}`;
}

function speed(value) {
  return `${Number(value).toFixed(2)}×`;
}

function slug(title) {
  return (title || "dub").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "dub";
}

// A textarea as tall as its text, so no part of a translation hides behind a scrollbar.
function fit(textarea) {
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight + 2}px`;
}

async function fileLink(wsId, fileId, inline) {
  return (await api.get(`/workspaces/${wsId}/files/${fileId}/link`, { inline: inline ? 1 : undefined })).url;
}

// ---- the list page ----

export async function dubs(view, ctx) {
  const timers = new Set();
  const stopMarking = focusableScrollers(view);
  view.append(heading("Dubbing"));
  const newDub = canSpend(ctx.ws) ? await dubForm(ctx) : h("p", { class: "hint" }, "Viewers cannot dub in this workspace.");
  view.append(section("New dub", newDub), dubsSection(ctx, timers));
  return () => {
    stopMarking();
    timers.forEach((timer) => clearTimeout(timer));
  };
}

// One file sent over tus, as the files page sends them; resolves to the new file's id.
function uploadFile(wsId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const upload = new window.tus.Upload(file, {
      endpoint: `${location.origin}/api/v1/workspaces/${encodeURIComponent(wsId)}/uploads/tus/`,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS_MS,
      removeFingerprintOnSuccess: true,
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      onBeforeRequest: async (request) => {
        const token = await currentToken();
        if (token) request.setHeader("Authorization", `Bearer ${token}`);
      },
      onProgress,
      onSuccess: ({ lastResponse }) => resolve(lastResponse && lastResponse.getHeader("Voxhub-File-Id")),
      onError: (failure) => {
        const response = failure && failure.originalResponse;
        let message = "The connection to voxhub was lost; choose the file again to carry on.";
        if (response) {
          try {
            message = JSON.parse(response.getBody()).error.message;
          } catch {
            message = `The server answered ${response.getStatus()}.`;
          }
        }
        reject(new Error(message));
      },
    });
    upload.start();
  });
}

function fileLabel(file) {
  const kind = file.media && file.media.video_codec ? "video" : "audio";
  return `${file.filename} (${kind}, ${duration(file.media.duration_s)})`;
}

async function dubForm(ctx) {
  const wsId = ctx.ws.id;
  const playable = (file) => file.media && file.media.audio_codec;
  const ready = (await all(`/workspaces/${wsId}/files`, { status: "ready", limit: 200 }, 500)).filter(playable);

  // ---- the recording: one of the workspace's files, or one uploaded now ----
  const fileSelect = select({ name: "file_id", required: true }, [["", ready.length ? "Choose a file…" : "No audio or video files yet"], ...ready.map((file) => [file.id, fileLabel(file)])], ctx.query.get("file") || "");
  const pickerId = uid("upload");
  const picker = h("input", { type: "file", id: pickerId, class: "file-input", accept: "video/*,audio/*" });
  const uploadBar = h("progress", { max: 1, value: 0, "aria-label": "Upload", hidden: true });
  const uploadText = h("small", { class: "hint", role: "status" });
  picker.addEventListener("change", async () => {
    const file = picker.files[0];
    picker.value = "";
    if (!file) return;
    if (!window.tus || !window.tus.isSupported) {
      notify("This browser cannot upload with tus; upload on the Files page or with the API.", "error");
      return;
    }
    uploadBar.hidden = false;
    uploadBar.setAttribute("aria-label", `Upload of ${file.name}`);
    uploadText.textContent = `Uploading ${file.name}…`;
    try {
      const fileId = await uploadFile(wsId, file, (sent, total) => {
        uploadBar.max = Math.max(total, 1);
        uploadBar.value = sent;
        uploadText.textContent = `Uploading ${file.name}: ${bytes(sent)} of ${bytes(total)}`;
      });
      const made = await api.get(`/workspaces/${wsId}/files/${fileId}`);
      if (made.status !== "ready" || !playable(made)) throw new Error(made.reject_message || `${file.name} has no sound to dub.`);
      fileSelect.append(h("option", { value: made.id }, fileLabel(made)));
      fileSelect.value = made.id;
      uploadText.textContent = `${file.name} is uploaded and chosen.`;
    } catch (error) {
      uploadText.textContent = "";
      notify(`${file.name} could not be uploaded: ${describe(error)}`, "error");
    } finally {
      uploadBar.hidden = true;
    }
  });
  const fileRow = h(
    "div",
    { class: "dub-file" },
    field("Video or audio file", {}, { control: fileSelect, hint: "The output is a video when this is one, else audio." }),
    h("div", { class: "upload-status" }, h("div", { class: "file-pick" }, picker, h("label", { for: pickerId, class: "button secondary small" }, "Upload a file")), uploadBar, uploadText),
  );

  // ---- the languages ----
  const source = select({ name: "source_language" }, [["", "Detect it"], ...LANGUAGES.map((code) => [code, languageName(code)])], "");
  const targets = LANGUAGES.map((code) => {
    const box = h("input", { type: "checkbox", id: uid("lang"), value: code, checked: code === "pt" });
    return { code, box, element: h("div", { class: "field check" }, box, h("label", { for: box.id }, languageName(code))) };
  });
  const voicesNote = h("p", { class: "hint", role: "status" });
  const voiceCounts = new Map();
  async function describeVoices() {
    const chosen = targets.filter((target) => target.box.checked).map((target) => target.code);
    for (const code of chosen) {
      if (!voiceCounts.has(code)) {
        try {
          voiceCounts.set(code, (await api.get(`/workspaces/${wsId}/dubs/voices`, { language: code })).items);
        } catch {
          voiceCounts.set(code, null);
        }
      }
    }
    voicesNote.textContent = chosen
      .map((code) => {
        const voices = voiceCounts.get(code);
        if (voices === null) return `${languageName(code)}: the voices could not be listed`;
        if (!voices.length) return `${languageName(code)}: no voice speaks it here`;
        return `${languageName(code)}: ${plural(voices.length, "voice")} (${voices.slice(0, 2).map((voice) => voice.description).join(", ")}${voices.length > 2 ? ", …" : ""})`;
      })
      .join(". ");
  }
  targets.forEach((target) => target.box.addEventListener("change", describeVoices));
  await describeVoices();
  const languagesBox = h(
    "fieldset",
    { class: "dub-languages" },
    h("legend", {}, "Dub into"),
    h("div", { class: "dub-language-list" }, targets.map((target) => target.element)),
    h("small", { class: "hint" }, `Up to ${MAX_LANGUAGES}: one sound track each. Offline this server translates English ↔ Portuguese and English ↔ Spanish; other pairs need a translation engine or a language model, and are refused with the reason when there is none. Each speaker gets the voice that fits their pitch; change it while reviewing.`),
    voicesNote,
  );

  const review = h("input", { type: "checkbox", name: "review", checked: true, id: uid() });
  return form(
    { class: "dub-form" },
    [
      fileRow,
      h(
        "div",
        { class: "row" },
        field("Title (optional)", { name: "title", maxlength: 200 }, { hint: "Default: the file's name." }),
        field("Spoken language", {}, { control: source, hint: "Detected when left to it." }),
      ),
      languagesBox,
      h(
        "div",
        { class: "row dub-options" },
        field("Background", {}, { control: select({ name: "background" }, BACKGROUNDS, "duck"), hint: "Replace needs a separation model; without one the dub ducks, and says so." }),
        field("Subtitles", {}, { control: select({ name: "subtitles" }, SUBTITLES, "soft"), hint: "Files of the subtitles are made either way." }),
      ),
      h("div", { class: "field check" }, review, h("label", { for: review.id }, "Review the lines before the voices speak them")),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Start dubbing")),
    ],
    async (values) => {
      const chosen = targets.filter((target) => target.box.checked).map((target) => target.code);
      if (!values.file_id) throw new Error("Choose a file or upload one.");
      if (!chosen.length) throw new Error("Choose at least one language to dub into.");
      if (chosen.length > MAX_LANGUAGES) throw new Error(`Choose at most ${MAX_LANGUAGES} languages.`);
      if (values.source_language && chosen.includes(values.source_language)) throw new Error(`The recording is in ${languageName(values.source_language)}: leave it out of the languages to dub into.`);
      const made = await api.post(`/workspaces/${wsId}/dubs`, {
        file_id: values.file_id,
        title: values.title.trim() || undefined,
        source_language: values.source_language || undefined,
        target_languages: chosen,
        background: values.background,
        subtitles: values.subtitles,
        review: values.review,
      });
      ctx.navigate(`/w/${wsId}/dubs/${made.id}`);
    },
  );
}

function dubsSection(ctx, timers) {
  const wsId = ctx.ws.id;
  const filter = select({ id: uid(), name: "status" }, [["", "Any status"], ...STATUSES.map((status) => [status, status.replace("_", " ")])], "");
  const holder = h("div");
  const progressOf = (dub) => {
    if (!WORKING.has(dub.status)) return dub.status === "succeeded" ? "Done" : dub.status === "awaiting_review" ? "Waiting for review" : "—";
    const bar = h("progress", { class: "inline", max: 100, "aria-label": `Progress of ${dub.title}` });
    if (dub.status !== "queued") bar.value = dub.progress || 0;
    return h("div", { class: "dub-progress" }, bar, h("small", { class: "muted" }, stageText(dub)));
  };
  const columns = [
    ["Dub", (dub) => link(`/w/${wsId}/dubs/${dub.id}`, dub.title)],
    ["Status", (dub) => statusBadge(dub.status)],
    ["Languages", languages],
    ["Progress", progressOf],
    ["Length", (dub) => duration(dub.duration_s)],
    ["Created", (dub) => when(dub.created_at)],
  ];
  let timer = null;

  function load() {
    clearTimeout(timer);
    timers.delete(timer);
    const list = pagedTable(
      columns,
      async (cursor) => {
        const page = await api.get(`/workspaces/${wsId}/dubs`, { status: filter.value || undefined, cursor, limit: 20 });
        // Dubs being made move on their own: the list is read again while any is.
        if (!cursor && page.items.some((dub) => WORKING.has(dub.status))) {
          timer = setTimeout(load, LIST_POLL_MS);
          timers.add(timer);
        }
        return page;
      },
      { empty: "No dubs yet.", caption: "Dubs" },
    );
    holder.replaceChildren(list);
  }
  filter.addEventListener("change", load);
  load();
  return section("Dubs", h("div", { class: "row" }, field("Show", {}, { control: filter })), holder);
}

// ---- one dub ----

export async function dub(view, ctx) {
  const wsId = ctx.ws.id;
  const dubId = ctx.params.dub;
  const editable = canSpend(ctx.ws);
  const base = `/w/${wsId}/dubs`;
  let current = await api.get(`/workspaces/${wsId}/dubs/${dubId}`);
  const sourceFile = current.file_id ? await api.get(`/workspaces/${wsId}/files/${current.file_id}`).catch(() => null) : null;
  let timer = null;
  let left = false;
  let player = null;
  const stopMarking = focusableScrollers(view);

  const head = h("div");
  const progressCard = h("section", { class: "card", "aria-labelledby": "dub-progress" });
  const main = h("div");
  view.append(head, progressCard, main);
  const refit = () => main.querySelectorAll("textarea").forEach(fit);
  window.addEventListener("resize", refit);

  // ---- progress, followed while a job works on the dub ----
  const bar = h("progress", { max: 100, "aria-label": "Dub progress" });
  const stageLine = h("p", { class: "muted" });

  function showProgress(state) {
    if (state.status === "queued") bar.removeAttribute("value");
    else bar.value = state.progress || 0;
    stageLine.textContent = stageText(state);
  }

  async function poll() {
    if (left) return;
    try {
      const state = await api.get(`/workspaces/${wsId}/dubs/${dubId}/status`);
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
      stageLine.textContent = describe(error);
    }
    if (!left) timer = setTimeout(poll, POLL_MS);
  }

  function announce(state) {
    if (state.status === "awaiting_review") notify("The lines are translated and ready for your review.");
    else if (state.status === "succeeded") notify("The dub is ready to watch.");
    else if (state.status === "failed") notify(`The dub failed: ${(state.error && state.error.message) || "no reason given"}`, "error");
  }

  async function reload() {
    current = await api.get(`/workspaces/${wsId}/dubs/${dubId}`);
    await draw();
  }

  function follow() {
    clearTimeout(timer);
    timer = setTimeout(poll, POLL_MS);
  }

  // ---- drawing ----
  async function draw() {
    if (player) player.stop();
    player = null;
    const hadFocus = view.contains(document.activeElement);
    head.replaceChildren(
      heading(
        current.title,
        link(base, "All dubs", { class: "button secondary" }),
        current.status === "succeeded" ? link(`/w/${wsId}/shares?target_type=dub&target_id=${dubId}`, "Share", { class: "button secondary" }) : null,
        editable
          ? button("Delete", async () => {
              if (!(await confirmDialog(`Delete “${current.title}” and the files it made? The source file stays.`, { confirm: "Delete", danger: true }))) return;
              await api.del(`/workspaces/${wsId}/dubs/${dubId}`);
              notify("The dub is deleted.");
              ctx.navigate(base);
            }, { class: "danger" })
          : null,
      ),
    );
    drawProgress();
    const parts = [];
    const working = WORKING.has(current.status);
    let qa = null;
    if (current.qa) qa = await api.get(`/workspaces/${wsId}/dubs/${dubId}/qa`).catch(() => null);
    if (current.status === "succeeded" && current.outputs.media_file_id) {
      player = await watchSection();
      parts.push(player.element);
    }
    if (qa) parts.push(qaSection(qa));
    if (!working && current.units) {
      const units = await api.get(`/workspaces/${wsId}/dubs/${dubId}/segments`).then((page) => page.items, () => null);
      if (units) parts.push(await linesSection(units, qa));
    }
    if (current.status === "succeeded") parts.push(downloadsSection());
    parts.push(factsSection());
    main.replaceChildren(...parts);
    refit();
    if (working) follow();
    // A button that started this redraw is gone with it: focus goes back to the page's title, not to nowhere.
    if (hadFocus && !view.contains(document.activeElement)) {
      const title = view.querySelector("h1");
      if (title) title.focus({ preventScroll: true });
    }
  }

  function drawProgress() {
    const children = [h("h2", { id: "dub-progress" }, "Progress"), h("p", {}, statusBadge(current.status))];
    if (WORKING.has(current.status)) {
      showProgress(current);
      children.push(h("div", { role: "status" }, stageLine, bar));
    } else if (current.status === "awaiting_review") {
      children.push(h("p", { role: "status" }, `${plural(current.units, "line")} translated. Read them, change what you like, then render the dub.`));
    } else if (current.status === "succeeded") {
      children.push(h("p", { role: "status" }, `Ready: ${duration(current.duration_s)}, ${plural(current.target_languages.length, "dubbed track")} and the original.`));
    } else if (current.status === "failed" || current.status === "canceled") {
      children.push(
        h("p", { class: "form-error", role: "alert" }, `The dub ${current.status}${current.error && current.error.message ? `: ${current.error.message}` : "."}`),
        editable
          ? h(
              "div",
              { class: "actions" },
              button("Retry", async () => {
                current = await api.post(`/workspaces/${wsId}/dubs/${dubId}/retry`);
                notify("Retrying from the last finished stage.");
                await draw();
              }, { class: "primary" }),
            )
          : null,
      );
    }
    if (current.warnings.length) children.push(h("ul", { class: "dub-warnings", "aria-label": "Warnings" }, current.warnings.map((warning) => h("li", {}, warning))));
    progressCard.replaceChildren(...children.filter(Boolean));
  }

  function factsSection() {
    const facts = [
      ["Source", sourceFile ? sourceFile.filename : current.file_id ? "deleted" : null],
      ["Languages", languages(current)],
      ["Background", (BACKGROUNDS.find(([value]) => value === current.background) || [null, current.background])[1]],
      ["Subtitles", (SUBTITLES.find(([value]) => value === current.subtitles) || [null, current.subtitles])[1]],
      ["Length", current.duration_s ? duration(current.duration_s) : null],
      ["Lines", current.units ? current.units.toLocaleString() : null],
      ["Created", when(current.created_at)],
    ].filter(([, value]) => value);
    return section("About this dub", h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])));
  }

  // ---- the QA report ----
  function qaSection(qa) {
    const rows = Object.entries(qa.languages).map(([language, totals]) => ({ language, ...totals }));
    return h(
      "section",
      { class: "card", "aria-labelledby": "dub-qa" },
      h("h2", { id: "dub-qa" }, "Timing and fit"),
      h("p", { class: "hint" }, "How the last render fitted each dubbed line in the time of the original: how much it was sped up, how late it starts, and which lines did not fit."),
      table(
        [
          ["Language", (row) => languageName(row.language)],
          ["Lines dubbed", (row) => `${row.dubbed} of ${row.units}`],
          ["Max speed", (row) => speed(row.max_speed)],
          ["Mean speed", (row) => speed(row.mean_speed)],
          ["Onset, 95th percentile", (row) => `${row.onset_offset_p95_s.toFixed(2)} s late`],
          ["Shortened", (row) => String(row.shortened)],
          ["Flagged", (row) => (row.flagged ? badge(String(row.flagged), "failed") : "0")],
          ["Voiced this render", (row) => `${row.clips_rendered} (${row.clips_reused} reused)`],
        ],
        rows,
        { caption: "QA per language" },
      ),
    );
  }

  // ---- the lines: reviewed, edited, rendered ----
  async function linesSection(units, qa) {
    const targets = current.target_languages;
    // A failed dub is retried, not rendered: its lines are shown as they are.
    const canEdit = editable && (current.status === "awaiting_review" || current.status === "succeeded");
    const report = new Map();
    for (const item of qa ? qa.segments : []) report.set(`${item.index}:${item.language}`, item);
    const saveState = h("p", { class: "muted", role: "status" }, "No changes.");
    const errorBox = h("p", { class: "form-error", role: "alert", hidden: true });

    // Each speaker's voice in each language: a change applies to all of that speaker's lines in that language.
    const voiceLists = {};
    for (const language of targets) {
      voiceLists[language] = await api.get(`/workspaces/${wsId}/dubs/voices`, { language }).then((page) => page.items, () => []);
    }
    const speakers = [...new Set(units.map((unit) => unit.speaker).filter(Boolean))].sort();
    const voicePicks = [];
    const voiceRows = speakers.map((speaker) =>
      h(
        "div",
        { class: "row dub-voices" },
        targets.map((language) => {
          const chosen = (current.voices[speaker] || {})[language] || "";
          const options = voiceLists[language].map((voice) => [voice.id, voice.description]);
          if (chosen && !options.some(([id]) => id === chosen)) options.unshift([chosen, chosen]);
          const picker = select({ disabled: !canEdit }, options, chosen);
          voicePicks.push({ speaker, language, picker, chosen });
          return field(`Voice of ${speaker} in ${languageName(language)}`, {}, { control: picker });
        }),
      ),
    );

    const rows = units.map((unit) => {
      const line = unit.index + 1;
      const mute = h("input", { type: "checkbox", id: uid("mute"), checked: unit.mute, disabled: !canEdit });
      const keep = h("input", { type: "checkbox", id: uid("keep"), checked: unit.keep_original, disabled: !canEdit });
      const translations = targets.map((language) => {
        const translation = unit.translations[language] || { text: "" };
        const text = h("textarea", { rows: 2, maxlength: 2000, "aria-label": `${languageName(language)} translation of line ${line}`, value: translation.text, disabled: !canEdit });
        text.addEventListener("input", () => fit(text));
        const fitted = report.get(`${unit.index}:${language}`);
        const notes = [];
        if (translation.edited) notes.push(badge("edited", "ok"));
        if (translation.shortened || (fitted && fitted.shortened)) notes.push(badge("shortened", "canceled"));
        if (fitted && fitted.flagged) notes.push(badge("flagged", "failed"));
        if (fitted) notes.push(h("span", { class: "muted" }, `${speed(fitted.speed)}${fitted.onset_offset_s > 0.05 ? `, ${fitted.onset_offset_s.toFixed(2)} s late` : ""}`));
        else if (translation.budget_chars) notes.push(h("span", { class: "muted" }, `room for about ${translation.budget_chars} characters`));
        return { language, translation, text, cell: h("div", { class: "dub-translation" }, text, notes.length ? h("div", { class: "dub-notes" }, notes) : null) };
      });
      const element = h(
        "tr",
        { dataset: { index: String(unit.index) } },
        h("td", { class: "mono" }, String(line)),
        h("td", { class: "mono dub-time" }, `${at(unit.start)}–${at(unit.end)}`),
        h("td", {}, unit.speaker || "—"),
        h("td", { class: "dub-original" }, unit.text),
        translations.map((item) => h("td", {}, item.cell)),
        h(
          "td",
          { class: "dub-flags" },
          h("div", { class: "field check" }, mute, h("label", { for: mute.id }, h("span", { class: "visually-hidden" }, `Line ${line}: `), "Mute")),
          h("div", { class: "field check" }, keep, h("label", { for: keep.id }, h("span", { class: "visually-hidden" }, `Line ${line}: `), "Keep original")),
        ),
      );
      return { unit, mute, keep, translations, element };
    });

    // What changed since the lines were read: only those units are sent, and only they are spoken again.
    function edits() {
      const changed = new Map();
      const edit = (unit) => {
        if (!changed.has(unit.index)) changed.set(unit.index, { index: unit.index });
        return changed.get(unit.index);
      };
      for (const row of rows) {
        if (row.mute.checked !== row.unit.mute) edit(row.unit).mute = row.mute.checked;
        if (row.keep.checked !== row.unit.keep_original) edit(row.unit).keep_original = row.keep.checked;
        for (const item of row.translations) {
          const text = item.text.value.trim();
          if (text && text !== item.translation.text) {
            const patch = edit(row.unit);
            patch.translations = { ...patch.translations, [item.language]: { text } };
          }
        }
      }
      for (const pick of voicePicks) {
        if (!pick.picker.value || pick.picker.value === pick.chosen) continue;
        for (const row of rows) {
          if (row.unit.speaker !== pick.speaker) continue;
          const patch = edit(row.unit);
          const translations = { ...patch.translations };
          translations[pick.language] = { ...translations[pick.language], voice: pick.picker.value };
          patch.translations = translations;
        }
      }
      return [...changed.values()];
    }

    let dirty = false;
    async function save() {
      errorBox.hidden = true;
      const segments = edits();
      if (!segments.length) {
        saveState.textContent = "No changes.";
        return;
      }
      try {
        const saved = await api.patch(`/workspaces/${wsId}/dubs/${dubId}/segments`, { segments });
        // The saved lines are now what later edits are measured against.
        const byIndex = new Map(saved.items.map((unit) => [unit.index, unit]));
        for (const row of rows) {
          const fresh = byIndex.get(row.unit.index);
          if (!fresh) continue;
          row.unit = fresh;
          for (const item of row.translations) item.translation = fresh.translations[item.language] || item.translation;
        }
        for (const pick of voicePicks) pick.chosen = pick.picker.value || pick.chosen;
      } catch (error) {
        errorBox.textContent = describe(error);
        errorBox.hidden = false;
        throw error;
      }
      dirty = false;
      saveState.textContent = `Saved: ${plural(segments.length, "line")} will be spoken again.`;
    }

    const saveButton = button("Save edits", save, { class: "secondary", disabled: !canEdit });
    const render = button(
      "Render",
      async () => {
        if (dirty) await save();
        current = await api.post(`/workspaces/${wsId}/dubs/${dubId}/render`);
        notify(current.review && !current.qa ? "Approved: the lines are being voiced." : "Rendering the edited lines again.");
        await draw();
      },
      { class: "primary", disabled: !canEdit },
    );
    const headings = ["#", "Time", "Speaker", `Original${current.source_language ? ` (${languageName(current.source_language)})` : ""}`, ...targets.map(languageName), "Dub"];
    const card = h(
      "section",
      { class: "card", "aria-labelledby": "dub-lines" },
      h("h2", { id: "dub-lines" }, current.status === "awaiting_review" ? "Review the lines" : "Lines"),
      h("p", { class: "hint" }, `${plural(units.length, "line")}. Edit a translation, mute a line or keep its original sound, then render: only the lines you change are spoken again.`),
      speakers.length && targets.some((language) => voiceLists[language].length) ? [h("h3", {}, "Voices"), voiceRows] : null,
      h(
        "div",
        { class: "table-wrap dub-lines" },
        h(
          "table",
          {},
          h("caption", {}, "Lines to dub"),
          h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col" }, text)))),
          h("tbody", {}, rows.map((row) => row.element)),
        ),
      ),
      errorBox,
      canEdit ? h("div", { class: "actions" }, saveButton, render) : null,
      saveState,
    );
    const changed = () => {
      dirty = true;
      saveState.textContent = "Unsaved changes.";
    };
    card.addEventListener("input", changed);
    card.addEventListener("change", changed);
    return card;
  }

  // ---- the finished dub ----
  function downloadButton(label, fileId, filename) {
    return button(label, async () => {
      const anchor = h("a", { href: await fileLink(wsId, fileId, false), download: filename, hidden: true });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
    }, { class: "secondary small" });
  }

  function downloadsSection() {
    const outputs = current.outputs;
    const name = slug(current.title);
    const isVideo = !sourceFile || Boolean(sourceFile.media && sourceFile.media.video_codec);
    const groups = [];
    if (outputs.media_file_id) groups.push([isVideo ? "Video with every track" : "Audio with every track", [downloadButton(isVideo ? "Video (MP4)" : "Audio (M4A)", outputs.media_file_id, `${name}.${isVideo ? "mp4" : "m4a"}`)]]);
    for (const language of current.target_languages) {
      const label = languageName(language);
      groups.push([
        label,
        [
          outputs.audio[language] ? downloadButton(`${label} audio`, outputs.audio[language], `${name}.${language}.m4a`) : null,
          outputs.voice[language] ? downloadButton(`${label} voices alone`, outputs.voice[language], `${name}.${language}.voice.m4a`) : null,
          outputs.srt[language] ? downloadButton(`${label} subtitles (SRT)`, outputs.srt[language], `${name}.${language}.srt`) : null,
          outputs.vtt[language] ? downloadButton(`${label} subtitles (VTT)`, outputs.vtt[language], `${name}.${language}.vtt`) : null,
        ].filter(Boolean),
      ]);
    }
    const sourceLanguage = current.source_language;
    if (sourceLanguage && (outputs.srt[sourceLanguage] || outputs.vtt[sourceLanguage])) {
      const label = `${languageName(sourceLanguage)} (original)`;
      groups.push([
        label,
        [
          outputs.srt[sourceLanguage] ? downloadButton(`${label} subtitles (SRT)`, outputs.srt[sourceLanguage], `${name}.${sourceLanguage}.srt`) : null,
          outputs.vtt[sourceLanguage] ? downloadButton(`${label} subtitles (VTT)`, outputs.vtt[sourceLanguage], `${name}.${sourceLanguage}.vtt`) : null,
        ].filter(Boolean),
      ]);
    }
    if (outputs.background_file_id) groups.push(["Background", [downloadButton("Background alone", outputs.background_file_id, `${name}.background.m4a`)]]);
    return h(
      "section",
      { class: "card", "aria-labelledby": "dub-files" },
      h("h2", { id: "dub-files" }, "Files"),
      groups.filter(([, buttons]) => buttons.length).map(([label, buttons]) => [h("h3", {}, label), h("div", { class: "actions" }, buttons)]),
    );
  }

  async function watchSection() {
    const outputs = current.outputs;
    const isVideo = !sourceFile || Boolean(sourceFile.media && sourceFile.media.video_codec);
    const sounds = current.target_languages.filter((language) => outputs.audio[language]).map((language) => ({ key: language, label: languageName(language), fileId: outputs.audio[language] }));
    if (sourceFile) sounds.push({ key: ORIGINAL, label: "Original", fileId: sourceFile.id });
    const captions = [...current.target_languages, current.source_language].filter((language) => language && outputs.vtt[language]).map((language) => ({
      language,
      label: language === current.source_language ? `${languageName(language)} (original)` : languageName(language),
      fileId: outputs.vtt[language],
    }));
    const [mediaUrl, soundUrls, captionUrls] = await Promise.all([
      fileLink(wsId, outputs.media_file_id, true),
      Promise.all(sounds.map((sound) => fileLink(wsId, sound.fileId, true).catch(() => null))),
      Promise.all(captions.map((caption) => fileLink(wsId, caption.fileId, true).catch(() => null))),
    ]);
    const playable = sounds.map((sound, index) => ({ ...sound, url: soundUrls[index] })).filter((sound) => sound.url);
    const shown = captions.map((caption, index) => ({ ...caption, url: captionUrls[index] })).filter((caption) => caption.url);
    return dubPlayer({ wsId, mediaFileId: outputs.media_file_id, mediaUrl, sounds: playable, captions: shown, isVideo, burned: current.subtitles === "burn", sourceMissing: Boolean(current.file_id) && !sourceFile });
  }

  await draw();
  return () => {
    left = true;
    clearTimeout(timer);
    stopMarking();
    window.removeEventListener("resize", refit);
    if (player) player.stop();
  };
}

// ---- the player ----

// A browser plays one audio track of a file and cannot be told which (Chromium has no audioTracks), so the picture
// plays muted and each sound track is an <audio> of its own, kept in step with the picture: started, stopped and
// moved with it, and put back in step when it wanders more than DRIFT_S. The picture's clock leads; the sound
// follows.
function dubPlayer({ wsId, mediaFileId, mediaUrl, sounds, captions, isVideo, burned, sourceMissing }) {
  const video = h("video", { preload: "auto", playsinline: true, muted: true, class: "dub-video", "aria-label": isVideo ? "Dubbed video" : "Dubbed audio, with its subtitles" });
  video.muted = true; // the property, not only the attribute: this element never makes a sound
  video.src = mediaUrl;
  captions.forEach((caption, index) => {
    video.append(h("track", { kind: "subtitles", srclang: caption.language, label: caption.label, src: caption.url, default: index === 0 && !burned }));
  });
  const audios = sounds.map((sound) => h("audio", { preload: "auto", src: sound.url, dataset: { track: sound.key } }));
  let active = audios[0] || null;
  let muted = false;
  // No track to play beside it: the picture's own sound (its default track) is better than silence.
  if (!active) video.muted = false;

  // Signed links expire: an element that fails to load gets a fresh one, once a minute at most.
  function renewing(element, fileId) {
    let renewed = 0;
    element.addEventListener("error", async () => {
      if (Date.now() - renewed < 60_000) return;
      renewed = Date.now();
      const time = video.currentTime;
      try {
        element.src = await fileLink(wsId, fileId, true);
        element.currentTime = time;
      } catch {
        /* the file is gone: the player shows it cannot play */
      }
    });
  }
  renewing(video, mediaFileId);
  audios.forEach((audio, index) => renewing(audio, sounds[index].fileId));

  // A track still seeking is left to land: moving it again on every timeupdate would keep it loading for ever.
  function inStep(force) {
    if (!active) return;
    if (force || (!active.seeking && Math.abs(active.currentTime - video.currentTime) > DRIFT_S)) active.currentTime = video.currentTime;
  }

  function sound() {
    if (!active) return;
    inStep(true);
    active.playbackRate = video.playbackRate;
    active.muted = muted;
    if (!video.paused && active.paused) active.play().catch(() => {});
  }

  // ---- the controls ----
  const playButton = h("button", { type: "button", class: "secondary small dub-play", "aria-label": "Play" }, "▶");
  const clockText = h("span", { class: "mono dub-clock" }, "0:00 / 0:00");
  const seek = h("input", { type: "range", min: 0, max: 0, step: 0.1, value: 0, "aria-label": "Position", class: "dub-seek" });
  const soundPick = select({ id: uid("sound") }, sounds.map((item) => [item.key, item.label]), sounds[0] && sounds[0].key);
  const captionPick = select({ id: uid("captions") }, [["", "Off"], ...captions.map((caption) => [caption.language, caption.label])], burned || !captions.length ? "" : captions[0].language);
  const muteButton = h("button", { type: "button", class: "secondary small", "aria-pressed": "false" }, "Mute");
  const fullButton = h("button", { type: "button", class: "secondary small" }, "Full screen");
  const frame = h("div", { class: `dub-player${isVideo ? "" : " audio-only"}` }, video, audios);

  function showClock() {
    const total = Number.isFinite(video.duration) ? video.duration : 0;
    clockText.textContent = `${duration(Math.floor(video.currentTime))} / ${duration(Math.floor(total))}`;
    seek.max = String(total);
    if (document.activeElement !== seek) seek.value = String(video.currentTime);
    seek.setAttribute("aria-valuetext", `${duration(Math.floor(video.currentTime))} of ${duration(Math.floor(total))}`);
  }

  function showPlaying() {
    const playing = !video.paused;
    playButton.textContent = playing ? "❚❚" : "▶";
    playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
  }

  playButton.addEventListener("click", () => {
    if (video.paused) {
      // Started from the click itself, so the browser lets the sound play.
      video.play().catch(() => {});
      sound();
      if (active) active.play().catch(() => {});
    } else video.pause();
  });
  video.addEventListener("click", () => playButton.click());
  seek.addEventListener("input", () => {
    video.currentTime = Number(seek.value);
  });
  soundPick.addEventListener("change", () => {
    const next = audios.find((audio) => audio.dataset.track === soundPick.value) || null;
    if (next === active) return;
    if (active) active.pause();
    active = next;
    sound();
  });
  captionPick.addEventListener("change", () => {
    for (const track of video.textTracks) track.mode = track.language === captionPick.value ? "showing" : "disabled";
  });
  muteButton.addEventListener("click", () => {
    muted = !muted;
    if (active) active.muted = muted;
    else video.muted = muted;
    muteButton.textContent = muted ? "Unmute" : "Mute";
    muteButton.setAttribute("aria-pressed", String(muted));
  });
  fullButton.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else stage.requestFullscreen().catch(() => {});
  });
  fullButton.hidden = !document.fullscreenEnabled || !isVideo;

  video.addEventListener("play", () => {
    showPlaying();
    sound();
  });
  video.addEventListener("playing", sound);
  video.addEventListener("pause", () => {
    showPlaying();
    audios.forEach((audio) => audio.pause());
    inStep(true);
  });
  // The picture stalls to load: the sound waits for it rather than running ahead.
  video.addEventListener("waiting", () => {
    if (active) active.pause();
  });
  video.addEventListener("seeking", () => inStep(true));
  video.addEventListener("ratechange", () => {
    if (active) active.playbackRate = video.playbackRate;
  });
  video.addEventListener("ended", () => {
    audios.forEach((audio) => audio.pause());
    showPlaying();
  });
  video.addEventListener("timeupdate", () => {
    if (!video.paused) inStep(false);
    showClock();
  });
  video.addEventListener("loadedmetadata", () => {
    showClock();
    captionPick.dispatchEvent(new Event("change"));
  });

  // In full screen the controls come along with the picture.
  const stage = h(
    "div",
    { class: "dub-stage" },
    frame,
    h(
      "div",
      { class: "dub-controls", role: "group", "aria-label": "Player" },
      playButton,
      clockText,
      seek,
      sounds.length ? field("Sound", {}, { control: soundPick }) : null,
      field("Subtitles", {}, { control: captionPick }),
      h("div", { class: "actions" }, muteButton, fullButton),
    ),
  );
  const element = h(
    "section",
    { class: "card", "aria-labelledby": "dub-watch" },
    h("h2", { id: "dub-watch" }, "Watch"),
    stage,
    h(
      "p",
      { class: "hint" },
      sourceMissing ? "The source file is deleted, so its own sound cannot be played here; the downloaded video still holds it as a track. " : "",
      burned ? "The subtitles of the dub are burned into the picture. " : "",
      "The downloaded file holds every sound track and subtitle; players such as VLC switch between them.",
    ),
  );
  return {
    element,
    video,
    stop() {
      video.pause();
      audios.forEach((audio) => audio.pause());
    },
  };
}
