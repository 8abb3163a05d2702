// The transcript editor: the recording's player kept in step with the words, corrections saved as versions,
// speakers named, exports, and translations shown beside the original, segment by segment.
//
// Also exports `followJob` (a job's live progress over SSE) and `languageName`, which the speak page uses too.

import { api, all, ApiError } from "../lib/api.js";
import { h, append, field, form, heading, section, describe, notify, busy, badge, duration, when, link, select } from "../lib/dom.js";
import { insightsSection } from "./insights.js";

const FINAL = new Set(["succeeded", "failed", "canceled"]);
// A word stays lit through a pause this short, so the highlight does not flicker between words.
const WORD_GRACE_S = 0.25;
// After the reader scrolls, the transcript stops following the player for this long.
const USER_SCROLL_PAUSE_MS = 4000;
// What the translate form offers. The local engine translates English ↔ Portuguese; the rest need a remote engine,
// and the API says so (422) when none is set up.
const TRANSLATE_TO = ["en", "pt", "es", "fr", "de", "it", "nl", "ja", "zh"];
const VERSIONS_SHOWN = 5;
const EXPORTS = ["txt", "srt", "vtt", "json"];
const EXPORT_TYPES = { txt: "text/plain", srt: "application/x-subrip", vtt: "text/vtt", json: "application/json" };

export function languageName(code) {
  if (!code) return "unknown language";
  try {
    return new Intl.DisplayNames(["en"], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

// "0:12" for a segment starting at 12.7 s: the second it starts in, as a player shows it.
function at(seconds) {
  return duration(Math.floor(seconds || 0));
}

// Follows a job from the browser: `onUpdate({status, progress, stage})` on each event, `onDone(job)` once with
// the finished job. The stream is an EventSource opened with a short-lived token (POST …/events/token); when it
// cannot be opened or kept, the job is asked for every two seconds instead. Returns a function that stops it.
export function followJob(wsId, jobId, { onUpdate = () => {}, onDone = () => {} }) {
  let source = null;
  let timer = null;
  let stopped = false;
  let last = { status: "queued", progress: 0, stage: null };
  const stop = () => {
    stopped = true;
    if (source) source.close();
    clearTimeout(timer);
  };
  const finish = (job) => {
    if (stopped) return;
    stop();
    onDone(job);
  };
  const poll = async () => {
    if (stopped) return;
    try {
      const job = await api.get(`/workspaces/${wsId}/jobs/${jobId}`);
      if (FINAL.has(job.status)) return finish(job);
      onUpdate({ status: job.status, progress: job.progress, stage: job.stage });
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return finish({ id: jobId, status: "failed", error: { message: describe(error) } });
    }
    if (!stopped) timer = setTimeout(poll, 2000);
  };
  const seen = (event) => {
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (event.type === "state") {
      if (data.final && data.job) return finish(data.job);
      if (data.final) return poll();
      last = { ...last, status: data.status };
    } else {
      last = { ...last, status: "running", progress: data.progress ?? last.progress, stage: data.stage ?? last.stage };
    }
    onUpdate(last);
  };
  (async () => {
    try {
      const { url } = await api.post(`/workspaces/${wsId}/jobs/${jobId}/events/token`);
      if (stopped) return;
      source = new EventSource(url);
      for (const kind of ["state", "progress", "stage"]) source.addEventListener(kind, seen);
      // CLOSED: the token expired, the job ended before the stream opened (204), or the server is gone.
      source.addEventListener("error", () => {
        if (source && source.readyState === EventSource.CLOSED) {
          source = null;
          poll();
        }
      });
    } catch {
      poll();
    }
  })();
  return stop;
}

// A progress bar with a spoken status line for a job being followed.
export function jobProgress(label) {
  const bar = h("progress", { max: 100, "aria-label": label });
  const text = h("span", { class: "muted" }, "Queued…");
  const element = h("div", { class: "job-progress", role: "status" }, text, bar);
  return {
    element,
    update({ status, progress, stage }) {
      if (status === "queued") {
        text.textContent = "Queued…";
        bar.removeAttribute("value");
        return;
      }
      bar.value = progress || 0;
      text.textContent = `${stage ? stage[0].toUpperCase() + stage.slice(1) : "Working"}… ${Math.round(progress || 0)}%`;
    },
  };
}

// replaceChildren with the null and false that conditional children leave out (replaceChildren would write "null").
function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

function download(text, filename, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const anchor = h("a", { href: url, download: filename, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function stem(filename) {
  const name = (filename || "transcript").replace(/\.[^./]+$/, "");
  return name.replace(/[\\/:*?"<>|]+/g, "_") || "transcript";
}

export async function transcript(view, ctx) {
  const wsId = ctx.ws.id;
  const jobId = ctx.params.job;
  const canEdit = ctx.ws.role !== "viewer";
  const stops = new Set();
  const cleanup = () => stops.forEach((stop) => stop());

  const head = heading("Transcript");
  const facts = h("p", { class: "muted transcript-facts" });
  const body = h("div", { class: "transcript-body" }, h("p", { class: "muted" }, "Loading the transcript…"));
  view.append(head, facts, body);

  let job;
  try {
    job = await api.get(`/workspaces/${wsId}/jobs/${jobId}`);
  } catch (error) {
    body.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error)));
    return cleanup;
  }
  if (job.type === "transcribe" && job.status === "succeeded") {
    head.replaceChildren(...heading("Transcript", link(`/w/${wsId}/shares?target_type=transcript&target_id=${jobId}`, "Share", { class: "button secondary" })).childNodes);
  }
  if (job.type === "translate" && job.result && job.result.source_job_id) {
    // A translation's transcript lives with the transcription it translated: show both side by side.
    ctx.navigate(`/w/${wsId}/transcripts/${job.result.source_job_id}?lang=${encodeURIComponent(job.result.language)}`, { replace: true });
    return cleanup;
  }
  if (job.type !== "transcribe") {
    body.replaceChildren(
      h("p", {}, `This is a ${job.type} job, which has no transcript. `, link(`/w/${wsId}/jobs/${jobId}`, "See the job")),
    );
    return cleanup;
  }

  const editor = await startEditor({ ctx, wsId, job, canEdit, facts, body, stops });
  if (job.status !== "succeeded") {
    if (FINAL.has(job.status)) {
      body.replaceChildren(
        h(
          "p",
          { class: "form-error", role: "alert" },
          `The transcription ${job.status}${job.error ? `: ${job.error.message}` : "."} `,
          link(`/w/${wsId}/jobs/${jobId}`, "See the job"),
        ),
      );
      return cleanup;
    }
    const progress = jobProgress("Transcription progress");
    body.replaceChildren(section("Transcribing", h("p", {}, "The transcript appears here when the job is done."), progress.element));
    stops.add(
      followJob(wsId, jobId, {
        onUpdate: progress.update,
        onDone: (done) => {
          if (done.status === "succeeded") editor.show().catch((error) => body.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error))));
          else
            body.replaceChildren(
              h("p", { class: "form-error", role: "alert" }, `The transcription ${done.status}${done.error ? `: ${done.error.message}` : "."}`),
            );
        },
      }),
    );
    return cleanup;
  }
  try {
    await editor.show();
  } catch (error) {
    body.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error)));
  }
  return cleanup;
}

async function startEditor({ ctx, wsId, job, canEdit, facts, body, stops }) {
  const jobId = job.id;
  const state = {
    doc: null, // the transcript version shown
    latest: 0, // the newest version's number
    translation: null, // {lang, doc, texts: Map(segment id → text)}
    translations: [], // languages with a finished translation
    members: null, // user id → member, read when a version names an editor
    file: null,
  };

  // ---- the player ----
  let player = null;
  const playerBox = h("div", { class: "player-bar" });

  async function loadPlayer() {
    const fileId = job.input && job.input.file_id;
    if (!fileId) return;
    try {
      state.file = await api.get(`/workspaces/${wsId}/files/${fileId}`);
      const { url } = await api.get(`/workspaces/${wsId}/files/${fileId}/link`, { inline: 1 });
      const isVideo = state.file.content_type.startsWith("video/") || Boolean(state.file.media && state.file.media.video_codec);
      player = h(isVideo ? "video" : "audio", { controls: true, preload: "metadata", "aria-label": "Recording", src: url, playsinline: isVideo });
      let renewed = 0;
      // Signed links expire; a player that fails to (re)load gets a fresh one, once a minute at most.
      player.addEventListener("error", async () => {
        if (Date.now() - renewed < 60_000) return;
        renewed = Date.now();
        const time = player.currentTime;
        try {
          const fresh = await api.get(`/workspaces/${wsId}/files/${fileId}/link`, { inline: 1 });
          player.src = fresh.url;
          player.currentTime = time;
        } catch (error) {
          notify(`The recording cannot be played: ${describe(error)}`, "error");
        }
      });
      playerBox.replaceChildren(player);
      stops.add(() => {
        player.pause();
        player.removeAttribute("src");
        player.load();
      });
    } catch (error) {
      playerBox.replaceChildren(h("p", { class: "muted" }, `The recording cannot be played: ${describe(error)}`));
    }
  }

  // ---- following the words ----
  let words = []; // [{start, end, el}] by start
  let segmentsAt = []; // [{start, end, el}] by start
  let currentWord = null;
  let currentSegment = null;
  let frame = 0;
  let userScrolledAt = 0;

  function lastStartingBy(list, time) {
    let low = 0;
    let high = list.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (list[middle].start <= time) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    return found < 0 ? null : list[found];
  }

  function keepInView(element) {
    if (performance.now() - userScrolledAt < USER_SCROLL_PAUSE_MS) return;
    const box = element.getBoundingClientRect();
    const top = playerBox.getBoundingClientRect().bottom;
    if (box.top >= top && box.bottom <= window.innerHeight) return;
    const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
    element.scrollIntoView({ block: "center", behavior: smooth ? "smooth" : "auto" });
  }

  function tick() {
    if (!player) return;
    const time = player.currentTime;
    // Nothing is lit before the recording is first played or moved.
    const untouched = player.paused && time === 0;
    let word = lastStartingBy(words, time);
    if (untouched || (word && time > word.end + WORD_GRACE_S)) word = null;
    if (word !== currentWord) {
      if (currentWord) currentWord.el.classList.remove("current");
      if (word) word.el.classList.add("current");
      currentWord = word;
    }
    let segment = lastStartingBy(segmentsAt, time);
    if (untouched || (segment && time > segment.end)) segment = null;
    if (segment !== currentSegment) {
      if (currentSegment) currentSegment.el.classList.remove("playing");
      if (segment) segment.el.classList.add("playing");
      currentSegment = segment;
    }
    if (!player.paused && (word || segment)) keepInView((word || segment).el);
  }

  function loop() {
    tick();
    frame = requestAnimationFrame(loop);
  }

  function wirePlayer() {
    if (!player) return;
    player.addEventListener("play", () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(loop);
    });
    for (const kind of ["pause", "ended"]) {
      player.addEventListener(kind, () => {
        cancelAnimationFrame(frame);
        tick();
      });
    }
    player.addEventListener("timeupdate", tick);
    player.addEventListener("seeked", tick);
    const scrolled = () => (userScrolledAt = performance.now());
    const scrollKeys = new Set(["PageUp", "PageDown", "Home", "End", "ArrowUp", "ArrowDown", " "]);
    const key = (event) => {
      if (scrollKeys.has(event.key) && event.target === document.body) scrolled();
    };
    window.addEventListener("wheel", scrolled, { passive: true });
    window.addEventListener("touchmove", scrolled, { passive: true });
    window.addEventListener("keydown", key);
    stops.add(() => {
      cancelAnimationFrame(frame);
      window.removeEventListener("wheel", scrolled);
      window.removeEventListener("touchmove", scrolled);
      window.removeEventListener("keydown", key);
    });
  }

  function playFrom(seconds) {
    if (!player) {
      notify("The recording is not available to play.", "error");
      return;
    }
    player.currentTime = seconds;
    userScrolledAt = 0;
    player.play().catch(() => {
      /* the browser refused to start playing (autoplay rules): the time is set, the user presses play */
    });
  }

  // ---- the segments ----
  const list = h("ol", { class: "segments", "aria-label": "Segments" });
  const columns = h("div", { class: "segment-columns", "aria-hidden": "true", hidden: true });
  const oldNote = h("div", { class: "old-version", role: "status", hidden: true });

  list.addEventListener("click", (event) => {
    const word = event.target.closest && event.target.closest("span.word");
    if (word && list.contains(word)) playFrom(Number(word.dataset.start));
  });

  function speakerName(label) {
    const names = (state.doc && state.doc.speakers) || {};
    return names[label] || label;
  }

  function wordsOf(segment) {
    if (!segment.words || !segment.words.length) return [segment.text];
    const parts = [];
    segment.words.forEach((word, index) => {
      const text = word.word || "";
      // Whisper writes a word's leading space with it; languages without spaces have none.
      if (index > 0 && /^\s/.test(text)) parts.push(" ");
      parts.push(h("span", { class: "word", dataset: { start: word.start, end: word.end } }, text.trim()));
    });
    return parts;
  }

  function segmentItem(segment) {
    const start = at(segment.start);
    const item = h("li", { class: "segment", dataset: { id: segment.id, start: segment.start } });
    const play = h(
      "button",
      { type: "button", class: "ghost small play", "aria-label": `Play from ${start}`, onclick: () => playFrom(segment.start) },
      h("span", { class: "play-icon", "aria-hidden": "true" }),
      start,
    );
    const edit =
      canEdit && isLatest()
        ? h("button", { type: "button", class: "secondary small edit", onclick: () => openEditor(item, segment) }, "Edit")
        : null;
    const translated = state.translation
      ? h(
          "p",
          { class: "segment-translation", lang: state.translation.lang },
          state.translation.texts.get(segment.id) ?? h("span", { class: "muted" }, "(not in this translation)"),
        )
      : null;
    item.append(
      h(
        "div",
        { class: "segment-head" },
        segment.speaker ? h("span", { class: "speaker" }, speakerName(segment.speaker)) : null,
        play,
        segment.edited ? badge("edited", "edited") : null,
        h("span", { class: "spacer" }),
        edit,
      ),
      h("div", { class: "segment-body" }, h("p", { class: "segment-text", lang: state.doc.language || null }, wordsOf(segment)), translated),
    );
    return item;
  }

  function renderSegments() {
    const segments = state.doc.segments || [];
    list.replaceChildren(...segments.map(segmentItem));
    list.classList.toggle("with-translation", Boolean(state.translation));
    if (!segments.length) list.replaceChildren(h("li", { class: "empty" }, "No speech was found in this recording."));
    words = [];
    segmentsAt = [];
    for (const item of list.querySelectorAll("li.segment")) {
      segmentsAt.push({ start: Number(item.dataset.start), end: 0, el: item });
      for (const word of item.querySelectorAll("span.word")) {
        words.push({ start: Number(word.dataset.start), end: Number(word.dataset.end), el: word });
      }
    }
    segments.forEach((segment, index) => {
      if (segmentsAt[index]) segmentsAt[index].end = segment.end;
    });
    words.sort((a, b) => a.start - b.start);
    currentWord = null;
    currentSegment = null;
    if (state.translation) {
      columns.hidden = false;
      columns.replaceChildren(
        h("span", {}, `${languageName(state.doc.language)} (original)`),
        h("span", {}, languageName(state.translation.lang) + (state.translation.doc.source_version ? ` (from version ${state.translation.doc.source_version})` : "")),
      );
    } else columns.hidden = true;
    tick();
  }

  function isLatest() {
    return state.doc && state.doc.version === state.latest;
  }

  function renderFacts() {
    const doc = state.doc;
    fill(
      facts,
      state.file ? h("strong", {}, state.file.filename) : null,
      state.file ? " · " : null,
      languageName(doc.language),
      doc.duration_s ? ` · ${duration(doc.duration_s)}` : null,
      ` · version ${doc.version}`,
      isLatest() ? "" : ` of ${state.latest}`,
      " · ",
      link(`/w/${wsId}/jobs/${jobId}`, "Job details"),
    );
    oldNote.hidden = isLatest();
    oldNote.replaceChildren(
      `You are reading version ${doc.version}; the latest is ${state.latest}. `,
      h("button", { type: "button", class: "link", onclick: () => showVersion(null) }, "Back to the latest version"),
    );
  }

  function renderAll() {
    renderFacts();
    renderSegments();
    renderSpeakers();
    renderExports();
  }

  async function loadDoc(version) {
    state.doc = await api.get(`/workspaces/${wsId}/jobs/${jobId}/transcript`, { version: version || undefined });
    if (!version) state.latest = state.doc.version;
  }

  async function showVersion(version) {
    await loadDoc(version);
    renderAll();
    renderVersions();
  }

  // ---- editing ----
  function openEditor(item, segment, draft = null) {
    const text = h("textarea", { name: "text", rows: 3, required: true, maxlength: 10000 });
    text.value = draft ? draft.text : segment.text;
    const labels = speakerLabels();
    const listId = `speakers-${segment.id}`;
    const editForm = form(
      { class: "segment-editor" },
      [
        field("Segment text", {}, { control: text }),
        field(
          "Speaker",
          { name: "speaker", value: draft ? draft.speaker : segment.speaker || "", maxlength: 40, list: listId, autocomplete: "off" },
          { hint: "A label such as S1 (name it under Speakers); empty for none." },
        ),
        h("datalist", { id: listId }, labels.map((label) => h("option", { value: label }))),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", class: "primary" }, "Save"),
          h("button", { type: "button", class: "secondary", onclick: () => closeEditor(segment.id) }, "Cancel"),
        ),
      ],
      async (values) => {
        const patch = { id: segment.id };
        if (values.text.trim() !== segment.text) patch.text = values.text;
        if (values.speaker.trim() !== (segment.speaker || "")) patch.speaker = values.speaker.trim();
        if (Object.keys(patch).length === 1) {
          closeEditor(segment.id);
          notify("Nothing changed.");
          return;
        }
        await save({ segments: [patch] }, { segmentId: segment.id, draft: values });
      },
    );
    editForm.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closeEditor(segment.id);
    });
    const bodyPart = item.querySelector(".segment-body");
    bodyPart.hidden = true;
    item.querySelector("button.edit").hidden = true;
    item.append(editForm);
    text.focus();
  }

  function closeEditor(segmentId) {
    const item = list.querySelector(`li.segment[data-id="${segmentId}"]`);
    if (!item) return;
    const editForm = item.querySelector("form.segment-editor");
    if (editForm) editForm.remove();
    item.querySelector(".segment-body").hidden = false;
    const edit = item.querySelector("button.edit");
    if (edit) {
      edit.hidden = false;
      edit.focus();
    }
  }

  // Saves a correction on top of the version shown. A 409 means someone saved first: the new version is shown,
  // and an open segment editor keeps what the user typed, so nothing is lost.
  async function save(changes, { segmentId = null, draft = null } = {}) {
    try {
      state.doc = await api.patch(`/workspaces/${wsId}/jobs/${jobId}/transcript`, { ...changes, base_version: state.doc.version });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
      await showVersion(null);
      notify(
        `Someone else saved version ${state.latest} while you were editing. It is shown now; ` +
          (segmentId !== null ? "your text is still in the editor: check it and save again." : "make your change again."),
        "error",
      );
      const item = segmentId !== null && list.querySelector(`li.segment[data-id="${segmentId}"]`);
      const segment = item && (state.doc.segments || []).find((s) => s.id === segmentId);
      if (item && segment) openEditor(item, segment, draft);
      return;
    }
    state.latest = state.doc.version;
    renderAll();
    renderVersions();
    notify(`Saved as version ${state.doc.version}.`, "success");
    if (segmentId !== null) {
      const edit = list.querySelector(`li.segment[data-id="${segmentId}"] button.edit`);
      if (edit) edit.focus();
    }
  }

  // ---- speakers ----
  const speakersBox = h("div");

  function speakerLabels() {
    const labels = new Set(Object.keys((state.doc && state.doc.speakers) || {}));
    for (const segment of (state.doc && state.doc.segments) || []) if (segment.speaker) labels.add(segment.speaker);
    return [...labels].sort();
  }

  function renderSpeakers() {
    const labels = speakerLabels();
    if (!labels.length) {
      speakersBox.replaceChildren(
        h("p", { class: "empty" }, "No speakers are labelled. Give a segment a speaker when you edit it, or transcribe with speaker labels."),
      );
      return;
    }
    const names = state.doc.speakers || {};
    const fields = labels.map((label) =>
      field(`Name for ${label}`, { name: label, value: names[label] && names[label] !== label ? names[label] : "", placeholder: label, maxlength: 200 }),
    );
    const editable = canEdit && isLatest();
    if (!editable) fields.forEach((item) => (item.querySelector("input").disabled = true));
    speakersBox.replaceChildren(
      form({ class: "speakers-form" }, [fields, editable ? h("button", { type: "submit", class: "secondary" }, "Rename speakers") : null], async (values) => {
        const changed = {};
        for (const label of labels) {
          const now = (values[label] || "").trim();
          const was = names[label] && names[label] !== label ? names[label] : "";
          if (now !== was) changed[label] = now;
        }
        if (!Object.keys(changed).length) {
          notify("Nothing changed.");
          return;
        }
        await save({ speakers: changed });
      }),
    );
  }

  // ---- versions ----
  const versionsBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));

  function author(version) {
    if (version.source === "job") return "Transcribed";
    if (version.source === "translation") return "Translated";
    const member = state.members && state.members.get(version.created_by);
    return `Edited by ${member ? member.name || member.email : version.created_by ? "a former member" : "an API key"}`;
  }

  async function renderVersions() {
    let versions;
    try {
      versions = (await api.get(`/workspaces/${wsId}/jobs/${jobId}/transcript/versions`)).items;
      // Who edited: read once, and only when someone has (a fresh transcript costs no request for it).
      if (!state.members && versions.some((version) => version.created_by)) {
        const members = await all(`/workspaces/${wsId}/members`).catch(() => []);
        state.members = new Map(members.map((member) => [member.user_id, member]));
      }
    } catch (error) {
      versionsBox.replaceChildren(h("p", { class: "form-error" }, describe(error)));
      return;
    }
    if (versions.length) state.latest = Math.max(state.latest, versions[versions.length - 1].version);
    const newest = versions.slice().reverse();
    const items = newest.map((version) => {
      const shown = state.doc && version.version === state.doc.version;
      return h(
        "li",
        { class: shown ? "shown" : "", "aria-current": shown ? "true" : false },
        h("div", {}, h("strong", {}, `Version ${version.version}`), shown ? badge("shown", "neutral") : null),
        h("div", { class: "muted" }, author(version), " · ", when(version.created_at)),
        shown
          ? null
          : h(
              "button",
              {
                type: "button",
                class: "link",
                onclick: (event) => busy(event.currentTarget, () => showVersion(version.version === state.latest ? null : version.version)),
              },
              `Show version ${version.version}`,
            ),
      );
    });
    // A long history folds after the newest few; the one shown always stays visible.
    const folded = items.filter((item, index) => index >= VERSIONS_SHOWN && !item.classList.contains("shown"));
    folded.forEach((item) => (item.hidden = true));
    const more = folded.length
      ? h(
          "button",
          {
            type: "button",
            class: "link",
            onclick: () => {
              folded.forEach((item) => (item.hidden = false));
              more.remove();
            },
          },
          `Show all ${versions.length} versions`,
        )
      : null;
    fill(versionsBox, h("ol", { class: "versions", reversed: true }, items), more);
  }

  // ---- exports ----
  const exportBox = h("div");

  function renderExports() {
    const langs = [["", `${languageName(state.doc.language)} (original)`], ...state.translations.map((lang) => [lang, languageName(lang)])];
    const langSelect = select({ "aria-label": "Language to export" }, langs, state.translation ? state.translation.lang : "");
    const buttons = EXPORTS.map((format) =>
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: (event) => busy(event.currentTarget, () => exportAs(format, langSelect.value)),
        },
        `Download ${format.toUpperCase()}`,
      ),
    );
    fill(
      exportBox,
      langs.length > 1 ? field("Language", {}, { control: langSelect }) : null,
      h("div", { class: "actions export-buttons" }, buttons),
      isLatest() ? null : h("p", { class: "hint" }, `The original exports as version ${state.doc.version}, the one shown.`),
    );
  }

  async function exportAs(format, lang) {
    const version = lang || isLatest() ? undefined : state.doc.version;
    const answer = await api.get(`/workspaces/${wsId}/jobs/${jobId}/transcript`, { format, lang: lang || undefined, version });
    const text = typeof answer === "string" ? answer : JSON.stringify(answer, null, 2);
    const name = `${stem(state.file && state.file.filename)}${lang ? "." + lang : ""}.${format}`;
    download(text, name, EXPORT_TYPES[format]);
  }

  // ---- translations ----
  const translationsBox = h("div");
  const translateRuns = h("div", { class: "stack" });
  const showSelect = h("select", { id: "show-translation" });
  showSelect.addEventListener("change", () => busy(showSelect, () => showTranslation(showSelect.value || null)));

  // The finished translations, and the translate jobs of this transcript still running (to follow them).
  async function findTranslations() {
    const languages = await api.get(`/workspaces/${wsId}/jobs/${jobId}/transcript/languages`);
    state.translations = languages.items.filter((item) => item.variant !== "original").map((item) => item.language);
    const running = [];
    for (const status of ["queued", "running"]) {
      const page = await api.get(`/workspaces/${wsId}/jobs`, { type: "translate", status, limit: 100 });
      running.push(...page.items.filter((item) => item.input && item.input.job_id === jobId));
    }
    return running;
  }

  function renderTranslationChoice() {
    const options = [["", "None"], ...state.translations.map((lang) => [lang, languageName(lang)])];
    showSelect.replaceChildren(...options.map(([value, label]) => h("option", { value, selected: (state.translation ? state.translation.lang : "") === value }, label)));
    fill(
      translationsBox,
      state.translations.length
        ? field("Show beside the text", {}, { control: showSelect })
        : h("p", { class: "empty" }, "No translations yet."),
    );
  }

  async function showTranslation(lang) {
    if (!lang) {
      state.translation = null;
    } else {
      const doc = await api.get(`/workspaces/${wsId}/jobs/${jobId}/transcript`, { lang });
      state.translation = { lang, doc, texts: new Map((doc.segments || []).map((segment) => [segment.id, segment.text])) };
    }
    const url = new URL(location.href);
    if (lang) url.searchParams.set("lang", lang);
    else url.searchParams.delete("lang");
    history.replaceState(null, "", url.pathname + url.search);
    renderTranslationChoice();
    renderSegments();
    renderExports();
  }

  function followTranslation(translateJob) {
    const target = translateJob.params && translateJob.params.target_language;
    const progress = jobProgress(`Translation to ${languageName(target)}`);
    const item = h("div", { class: "translate-run" }, h("span", {}, `Translating to ${languageName(target)}`), progress.element);
    translateRuns.append(item);
    const stop = followJob(wsId, translateJob.id, {
      onUpdate: progress.update,
      onDone: async (done) => {
        stops.delete(stop);
        item.remove();
        if (done.status !== "succeeded") {
          notify(`The translation to ${languageName(target)} ${done.status}${done.error ? `: ${done.error.message}` : "."}`, "error");
          return;
        }
        notify(`Translated to ${languageName(target)}.`, "success");
        try {
          await findTranslations();
          await showTranslation(done.result.language || target);
        } catch (error) {
          notify(describe(error), "error");
        }
      },
    });
    stops.add(stop);
  }

  function translateForm() {
    const spoken = (state.doc.language || "").split("-")[0];
    const targets = TRANSLATE_TO.filter((code) => code !== spoken).map((code) => [code, languageName(code)]);
    const preferred = spoken === "pt" ? "en" : "pt";
    const target = select({ name: "target_language" }, targets, preferred);
    return form(
      { class: "translate-form" },
      [
        field("Translate to", {}, { control: target, hint: "English ↔ Portuguese runs on this server; other languages need a remote engine." }),
        h("button", { type: "submit", class: "secondary" }, "Translate"),
      ],
      async (values) => {
        const body = { type: "translate", input: { job_id: jobId }, params: { target_language: values.target_language } };
        const started = await api.post(`/workspaces/${wsId}/jobs`, body, { headers: { "Idempotency-Key": crypto.randomUUID() } });
        followTranslation(started);
      },
    );
  }

  // ---- the page ----
  async function show() {
    await Promise.all([loadPlayer(), loadDoc(null)]);
    let running = [];
    try {
      running = await findTranslations();
    } catch (error) {
      notify(`Translations could not be listed: ${describe(error)}`, "error");
    }
    const wanted = ctx.query.get("lang");
    if (wanted && state.translations.includes(wanted)) {
      const doc = await api.get(`/workspaces/${wsId}/jobs/${jobId}/transcript`, { lang: wanted });
      state.translation = { lang: wanted, doc, texts: new Map((doc.segments || []).map((segment) => [segment.id, segment.text])) };
    }
    wirePlayer();
    body.replaceChildren(
      h(
        "div",
        { class: "transcript-layout" },
        h(
          "div",
          { class: "transcript-main" },
          playerBox,
          h(
            "section",
            { class: "card transcript-card", "aria-labelledby": "transcript-text" },
            h("h2", { id: "transcript-text" }, "Text"),
            h("p", { class: "hint" }, "Click a word to play from it; the word being spoken is highlighted."),
            oldNote,
            columns,
            list,
          ),
        ),
        h(
          "div",
          { class: "transcript-side" },
          insightsSection({ wsId, jobId, canEdit, playFrom, onStop: (stop) => stops.add(stop) }),
          section("Export", exportBox),
          section("Translations", translationsBox, canEdit ? translateForm() : null, translateRuns),
          section("Speakers", speakersBox),
          section("Versions", versionsBox),
        ),
      ),
    );
    renderAll();
    renderTranslationChoice();
    renderVersions();
    running.forEach(followTranslation);
  }

  return { show };
}
