// Speak: text to speech in a voice from the server's list (a `synthesize` job), followed live and played here;
// the workspace's recent speech below, each with its player. Hosted voices (ElevenLabs, Unreal Speech) are in the list
// when the workspace stored a key for them; members clone a voice at ElevenLabs from an upload, consent stated.

import { api, all } from "../lib/api.js";
import { h, field, form, heading, section, describe, badge, when, duration, bytes, uid, notify, confirmDialog } from "../lib/dom.js";
import { followJob, jobProgress, languageName } from "./transcript.js";

// pcm is left out: raw samples have no header a browser could play (the API still makes it).
const FORMATS = [
  ["mp3", "MP3"],
  ["wav", "WAV"],
  ["flac", "FLAC"],
  ["opus", "Opus"],
  ["aac", "AAC"],
];
const RECENT = 10;
const VOICE_KEY = "voxhub.voice";

function remembered() {
  try {
    return localStorage.getItem(VOICE_KEY);
  } catch {
    return null;
  }
}

function remember(voice) {
  try {
    localStorage.setItem(VOICE_KEY, voice);
  } catch {
    /* storage disabled: the default voice next time */
  }
}

const HOSTED = { elevenlabs: "ElevenLabs", unrealspeech: "Unreal Speech" };

function voiceLabel(voice) {
  if (HOSTED[voice.engine]) return `${voice.name} — ${HOSTED[voice.engine]}`;
  // espeak-ng's voices are named after their language already ("Portuguese (Brazil)").
  return voice.engine === "piper" ? `${voice.name} — ${languageName(voice.language)}` : voice.name;
}

function voicePicker(voices) {
  const groups = [
    ["Natural voices (piper)", voices.filter((voice) => voice.engine === "piper")],
    ...Object.entries(HOSTED).map(([engine, name]) => [
      `Hosted voices (${name}, the workspace's key)`,
      voices.filter((voice) => voice.engine === engine),
    ]),
    ["Robotic voices, every language (espeak-ng)", voices.filter((voice) => voice.engine === "espeak-ng")],
  ].filter(([, list]) => list.length);
  const wanted = voices.some((voice) => voice.id === remembered()) ? remembered() : voices[0] && voices[0].id;
  return h(
    "select",
    { name: "voice", required: true },
    groups.map(([label, list]) =>
      h(
        "optgroup",
        { label },
        list.map((voice) => h("option", { value: voice.id, selected: voice.id === wanted }, voiceLabel(voice))),
      ),
    ),
  );
}

function excerpt(text, length = 160) {
  const flat = (text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? flat.slice(0, length - 1) + "…" : flat;
}

export async function speak(view, ctx) {
  const wsId = ctx.ws.id;
  const stops = new Set();
  const players = new Set();
  const canSpeak = ctx.ws.role !== "viewer";

  view.append(heading("Speak"));

  let voices = [];
  let voicesError = null;
  try {
    voices = await all(`/voices`, { workspace_id: wsId });
  } catch (error) {
    voicesError = describe(error);
  }
  const byId = new Map(voices.map((voice) => [voice.id, voice]));

  // ---- players ----
  async function player(fileId, props) {
    const { url } = await api.get(`/workspaces/${wsId}/files/${fileId}/link`, { inline: 1 });
    const audio = h("audio", { controls: true, preload: "none", src: url, ...props });
    let renewed = 0;
    // Signed links expire: a player that fails to load gets a fresh one, once a minute at most.
    audio.addEventListener("error", async () => {
      if (Date.now() - renewed < 60_000) return;
      renewed = Date.now();
      try {
        audio.src = (await api.get(`/workspaces/${wsId}/files/${fileId}/link`, { inline: 1 })).url;
      } catch {
        /* the file is gone: the player shows it cannot play */
      }
    });
    players.add(audio);
    return audio;
  }

  async function downloadLink(job) {
    const fileId = job.outputs[0];
    const { url } = await api.get(`/workspaces/${wsId}/files/${fileId}/link`);
    const format = (job.params && job.params.format) || "mp3";
    return h("a", { href: url, download: `speech-${job.id.slice(-8)}.${format}`, class: "button secondary small" }, `Download ${format.toUpperCase()}`);
  }

  function facts(job) {
    const result = job.result || {};
    const voice = byId.get(result.voice || (job.params && job.params.voice));
    const parts = [
      voice ? voiceLabel(voice) : result.voice || (job.params && job.params.voice) || "default voice",
      job.params && job.params.speed && job.params.speed !== 1 ? `${job.params.speed}× speed` : null,
      result.duration_s ? duration(result.duration_s) : null,
      result.size_bytes ? bytes(result.size_bytes) : null,
    ].filter(Boolean);
    return parts.join(" · ");
  }

  // ---- the form ----
  const result = h("div", { class: "speak-result", hidden: true });
  let idempotencyKey = crypto.randomUUID();
  const speed = h("input", { type: "range", name: "speed", min: 0.25, max: 4, step: 0.05, value: 1, id: uid() });
  const speedShown = h("output", { class: "speed-value", "aria-hidden": "true" }, "1.00×");
  const showSpeed = () => {
    const value = Number(speed.value).toFixed(2);
    speedShown.textContent = `${value}×`;
    speed.setAttribute("aria-valuetext", `${value} times`);
  };
  speed.addEventListener("input", showSpeed);
  showSpeed();
  const text = h("textarea", { name: "text", rows: 6, required: true, maxlength: 100000 });
  const picker = voices.length ? voicePicker(voices) : null;

  const speakForm = form(
    { class: "speak-form" },
    [
      field("Text", {}, { control: text, hint: "Plain text, up to 100,000 characters." }),
      h(
        "div",
        { class: "row" },
        picker
          ? field("Voice", {}, { control: picker })
          : h("p", { class: "form-error" }, `No voices could be listed${voicesError ? `: ${voicesError}` : "."}`),
        h("div", { class: "field speed-field" }, h("label", { for: speed.id }, "Speed"), h("div", { class: "speed-row" }, speed, speedShown)),
        field("Format", {}, { control: h("select", { name: "format" }, FORMATS.map(([value, label]) => h("option", { value }, label))) }),
      ),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", disabled: !canSpeak }, "Speak")),
      canSpeak ? null : h("p", { class: "hint" }, "Viewers cannot start jobs in this workspace."),
    ],
    async (values) => {
      if (values.voice) remember(values.voice);
      const body = {
        type: "synthesize",
        input: { text: values.text },
        params: { voice: values.voice || undefined, speed: Number(values.speed), format: values.format },
      };
      const job = await api.post(`/workspaces/${wsId}/jobs`, body, { headers: { "Idempotency-Key": idempotencyKey } });
      follow(job);
    },
  );
  // The key names one request: a double click or a retried submit returns the same job (the API answers 200),
  // while any change to the form is a new request.
  speakForm.addEventListener("input", () => (idempotencyKey = crypto.randomUUID()));

  // ---- following the job ----
  function follow(job) {
    stops.forEach((stop) => stop());
    stops.clear();
    const progress = jobProgress("Speech progress");
    result.hidden = false;
    result.replaceChildren(h("h3", {}, "Result"), progress.element);
    const stop = followJob(wsId, job.id, {
      onUpdate: progress.update,
      onDone: async (done) => {
        stops.delete(stop);
        idempotencyKey = crypto.randomUUID();
        await showResult(done);
        refreshRecent();
      },
    });
    stops.add(stop);
  }

  async function showResult(job) {
    if (job.status !== "succeeded") {
      result.replaceChildren(
        h("h3", {}, "Result"),
        h("p", { class: "form-error", role: "alert" }, `The speech ${job.status}${job.error ? `: ${job.error.message}` : "."}`),
      );
      return;
    }
    try {
      const audio = await player(job.outputs[0], { "aria-label": "Synthesized speech", preload: "auto" });
      result.replaceChildren(
        h("h3", {}, "Result"),
        h("p", { class: "muted", role: "status" }, `Ready: ${facts(job)}`),
        audio,
        h("div", { class: "actions" }, await downloadLink(job)),
      );
      audio.play().catch(() => {
        /* the browser wants a click first: the player is there */
      });
    } catch (error) {
      result.replaceChildren(h("h3", {}, "Result"), h("p", { class: "form-error", role: "alert" }, describe(error)));
    }
  }

  // ---- recent speech ----
  const recent = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  let recentJobs = [];

  async function recentItem(job) {
    const textId = uid("speech");
    const item = h(
      "li",
      { class: "speech-item" },
      h("p", { class: "speech-text", id: textId }, excerpt(job.input && job.input.text)),
      h("p", { class: "muted speech-facts" }, badge(job.status), " ", facts(job), " · ", when(job.timings.created_at)),
    );
    if (job.status === "succeeded" && job.outputs.length) {
      try {
        item.append(h("div", { class: "speech-player" }, await player(job.outputs[0], { "aria-labelledby": textId }), await downloadLink(job)));
      } catch (error) {
        item.append(h("p", { class: "muted" }, describe(error)));
      }
    } else if (job.status === "failed" && job.error) {
      item.append(h("p", { class: "form-error" }, job.error.message));
    }
    return item;
  }

  async function refreshRecent() {
    try {
      const page = await api.get(`/workspaces/${wsId}/jobs`, { type: "synthesize", limit: RECENT });
      recentJobs = page.items;
      const items = await Promise.all(page.items.map(recentItem));
      recent.replaceChildren(items.length ? h("ul", { class: "speech-list" }, items) : h("p", { class: "empty" }, "Nothing spoken in this workspace yet."));
    } catch (error) {
      recent.replaceChildren(h("p", { class: "form-error" }, describe(error)));
    }
  }

  // ---- cloning a voice (ElevenLabs, with consent) ----
  const cloned = h("div", {}, h("p", { class: "muted" }, "Loading…"));

  async function refreshCloned() {
    try {
      const rows = await all(`/workspaces/${wsId}/voices`);
      cloned.replaceChildren(
        rows.length
          ? h(
              "ul",
              { class: "speech-list cloned-voices" },
              rows.map((row) =>
                h(
                  "li",
                  { class: "speech-item" },
                  h("p", {}, h("strong", {}, row.name), " ", h("span", { class: "muted" }, `consent: ${row.consented_by} · `, when(row.created_at))),
                  canSpeak
                    ? h(
                        "button",
                        {
                          type: "button",
                          class: "danger small",
                          "aria-label": `Delete the voice ${row.name}`,
                          onclick: async () => {
                            if (!(await confirmDialog(`Delete ${row.name} here and at ElevenLabs?`, { confirm: "Delete", danger: true }))) return;
                            try {
                              await api.del(`/workspaces/${wsId}/voices/${row.id}`);
                              notify(`${row.name} is deleted.`, "success");
                              refreshCloned();
                            } catch (error) {
                              notify(describe(error), "error");
                            }
                          },
                        },
                        "Delete",
                      )
                    : null,
                ),
              ),
            )
          : h("p", { class: "empty" }, "No cloned voices in this workspace."),
      );
    } catch (error) {
      cloned.replaceChildren(h("p", { class: "form-error" }, describe(error)));
    }
  }

  let samples = [];
  try {
    samples = (await api.get(`/workspaces/${wsId}/files`, { kind: "upload", limit: 100 })).items.filter(
      (file) => file.status === "ready" && file.media && file.media.audio_codec,
    );
  } catch {
    /* no files listed: the form says there is nothing to clone from */
  }
  const consentBox = h("input", { type: "checkbox", name: "consent", id: uid(), required: true });
  const cloneForm = form(
    { class: "clone-form" },
    [
      field("Name of the voice", { name: "name", required: true, maxlength: 100 }),
      field("Recording of the speaker", {}, {
        control: h(
          "select",
          { name: "file_id", required: true },
          samples.map((file) => h("option", { value: file.id }, file.filename)),
        ),
        hint: samples.length ? "An uploaded recording, 5 seconds or longer, of one speaker." : "Upload a recording of the speaker in Files first.",
      }),
      field("Who consented", { name: "consented_by", required: true, maxlength: 200 }, { hint: "The speaker's name." }),
      h(
        "div",
        { class: "field checkbox-field" },
        h("label", { for: consentBox.id }, consentBox, " The speaker consented to having their voice cloned."),
      ),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", disabled: !canSpeak || !samples.length }, "Clone the voice")),
      h("p", { class: "hint" }, "Made at ElevenLabs with this workspace's ElevenLabs key (Provider keys); recorded in the audit log."),
    ],
    async (values, element) => {
      const made = await api.post(`/workspaces/${wsId}/voices`, {
        name: values.name,
        file_id: values.file_id,
        consent: values.consent,
        consented_by: values.consented_by,
      });
      notify(`${made.name} is cloned; it is in the voice list.`, "success");
      element.reset();
      const option = h("option", { value: made.voice, selected: true }, `${made.name} — ElevenLabs`);
      if (picker) picker.append(option);
      refreshCloned();
    },
  );

  view.append(
    section("Text to speech", speakForm, result),
    section("Clone a voice", cloneForm, h("h3", {}, "Cloned voices"), cloned),
    h("section", { class: "card", "aria-labelledby": "recent-speech" }, h("h2", { id: "recent-speech" }, "Recent speech"), recent),
  );
  await Promise.all([refreshRecent(), refreshCloned()]);
  // Speech started before this page was opened (or before a reload) is followed here too.
  const unfinished = recentJobs.find((job) => job.status === "queued" || job.status === "running");
  if (unfinished) follow(unfinished);

  return () => {
    stops.forEach((stop) => stop());
    players.forEach((audio) => audio.pause());
  };
}
