// Search and ask: one box that finds words (and meanings) across every recording of the workspace, each result
// playing from the second it was said, and a chat that answers from the recordings, streamed as it is written, its
// numbered citations playing the moments they quote.
//
// The answer comes as Server-Sent Events from a POST, which EventSource cannot send: it is read with fetch and a
// stream reader, `event:` and `data:` lines parsed here.

import { api, all, ApiError, currentToken, refresh } from "../lib/api.js";
import { h, field, heading, section, describe, notify, busy, duration, select, uid, confirmDialog, link } from "../lib/dom.js";
import { languageName } from "./transcript.js";

const MODES = [
  ["hybrid", "Words and meaning"],
  ["lexical", "Exact words"],
  ["semantic", "Meaning only"],
];
const PAGE_SIZE = 10;
const RECORDINGS_LISTED = 400;
// While recordings wait to be indexed, the page asks how far the index is this often.
const STATUS_POLL_MS = 5000;
const STAGES = {
  searching: "Searching the recordings…",
  reading: "Reading the passages found…",
  writing: "Writing the answer…",
};
const ENGINES = {
  extractive: "Quoted from the recordings (no language model on this server)",
  local: "Written by the server's language model",
  remote: "Written by the workspace's language model",
};
const NEW_TITLE = "New conversation";
const TITLE_CHARS = 80;

// "0:24" for a moment at 24.8 s: the second it falls in, as a player shows it.
function at(seconds) {
  return duration(Math.floor(Number(seconds) || 0));
}

// "1:30", "1:02:03" or "90" as seconds; undefined for nothing, NaN for anything else.
function seconds(text) {
  const value = String(text || "").trim();
  if (!value) return undefined;
  if (!/^\d+(:\d{1,2}){0,2}(\.\d+)?$/.test(value)) return NaN;
  return value.split(":").reduce((total, part) => total * 60 + Number(part), 0);
}

function span(item) {
  return item.end !== undefined && item.end !== null ? `${at(item.start)}–${at(item.end)}` : at(item.start);
}

function plural(count, word) {
  return `${Number(count).toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

// The page's address keeps the search and the open conversation, so a reload or a shared link shows them again.
function remember(values) {
  if (!location.pathname.endsWith("/search")) return; // an answer that lands after the page was left
  const address = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(values)) {
    if (value) address.set(key, value);
    else address.delete(key);
  }
  const text = address.toString();
  history.replaceState(null, "", text ? `${location.pathname}?${text}` : location.pathname);
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

// A snippet arrives HTML-escaped with the matched terms in <mark>…</mark>. Only those two tags become elements;
// everything else is put in as text, so a transcript's words can never become markup.
export function snippetNodes(snippet) {
  const nodes = [];
  let marked = false;
  for (const part of String(snippet || "").split(/(<mark>|<\/mark>)/i)) {
    const tag = part.toLowerCase();
    if (tag === "<mark>") marked = true;
    else if (tag === "</mark>") marked = false;
    else if (part) {
      const text = unescapeHtml(part);
      nodes.push(marked ? h("mark", {}, text) : document.createTextNode(text));
    }
  }
  return nodes;
}

const ROLES = ["viewer", "member", "admin", "owner"];

function canAsk(ws) {
  return ROLES.indexOf(ws.role) >= ROLES.indexOf("member");
}

// ---- the player both halves of the page use ----

function recordingPlayer(wsId) {
  const audio = h("audio", { controls: true, preload: "metadata", "aria-label": "Recording", hidden: true });
  const caption = h("p", { class: "search-now", role: "status" }, "Nothing is playing. Press play on a result, or a citation's number in an answer.");
  const box = h("div", { class: "search-player" }, caption, audio);
  let loaded = null; // the file the player holds
  let wanted = 0;
  let retried = null;

  const seek = () => {
    if (Math.abs(audio.currentTime - wanted) > 0.25) audio.currentTime = wanted;
  };
  audio.addEventListener("loadedmetadata", seek);
  // Signed links expire: a player that cannot load asks for a fresh link to the same file, once per file.
  audio.addEventListener("error", async () => {
    if (!loaded || retried === loaded) {
      caption.textContent = "The recording cannot be played here. It may have been deleted.";
      return;
    }
    retried = loaded;
    try {
      const fresh = await api.get(`/workspaces/${wsId}/files/${loaded}/link`, { inline: 1 });
      audio.src = `${fresh.url.split("#")[0]}#t=${wanted}`;
      audio.play().catch(() => {});
    } catch (error) {
      caption.textContent = `The recording cannot be played: ${describe(error)}`;
    }
  });

  // `item` is a search result or a citation: {file_id, file_name, start, url}.
  function play(item) {
    if (!item.url) {
      notify("That recording is no longer in the workspace, so it cannot be played.", "error");
      return;
    }
    wanted = Math.max(0, Number(item.start) || 0);
    caption.textContent = `Playing ${item.file_name || "the recording"} from ${at(wanted)}`;
    audio.hidden = false;
    if (loaded === item.file_id && audio.readyState >= 1 && !audio.error) {
      audio.currentTime = wanted;
    } else {
      loaded = item.file_id;
      retried = null;
      audio.src = item.url; // its #t= fragment starts the player at the moment; loadedmetadata makes sure
      audio.currentTime = wanted;
    }
    audio.play().catch(() => {
      /* the browser refused to start playing (autoplay rules): the time is set, the user presses play */
    });
  }

  function stop() {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
  }

  return { box, play, stop };
}

// ---- searching ----

function indexStatus(wsId, timers) {
  const line = h("p", { class: "hint search-index", role: "status" }, "Reading how much is indexed…");
  async function check() {
    try {
      const status = await api.get(`/workspaces/${wsId}/search/status`);
      const parts = [];
      if (!status.chunks && !status.pending) {
        line.replaceChildren(
          "Nothing is indexed yet: transcribe a recording (",
          link(`/w/${wsId}/jobs/new`, "start a job"),
          ") and it becomes searchable here a few seconds after it finishes.",
        );
        return;
      }
      // `recordings` counts every transcript the index knows, the ones still waiting among them.
      if (status.chunks) parts.push(`${plural(status.chunks, "passage")} from ${plural(status.recordings, "transcript")} can be searched.`);
      if (status.pending) parts.push(`${plural(status.pending, "transcript")} ${status.pending === 1 ? "is" : "are"} being indexed and can be searched within seconds.`);
      if (status.failed) parts.push(`${plural(status.failed, "transcript")} could not be indexed.`);
      line.textContent = parts.join(" ");
      if (status.pending) timers.add(setTimeout(check, STATUS_POLL_MS));
    } catch (error) {
      line.textContent = `The index could not be read: ${describe(error)}`;
    }
  }
  check();
  return line;
}

function searchPanel(ctx, player, timers) {
  const wsId = ctx.ws.id;
  const query = h("input", {
    type: "search",
    name: "q",
    required: true,
    maxlength: 500,
    autocomplete: "off",
    value: ctx.query.get("q") || "",
    placeholder: "e.g. launch date",
  });
  const mode = select({ name: "mode" }, MODES, ctx.query.get("mode") || "hybrid");
  const speaker = h("input", { name: "speaker", maxlength: 100, autocomplete: "off", value: ctx.query.get("speaker") || "" });
  const language = h("input", { name: "language", maxlength: 16, autocomplete: "off", value: ctx.query.get("language") || "", placeholder: "e.g. en" });
  const wantedFile = ctx.query.get("file_id") || "";
  const recording = select({ name: "file_id" }, [["", "All recordings"], ...(wantedFile ? [[wantedFile, "The recording in the address"]] : [])], wantedFile);
  // The newest recordings are offered by name; the list is a convenience, so failing to read it changes nothing.
  all(`/workspaces/${wsId}/files`, { kind: "upload", status: "ready", limit: 200 }, RECORDINGS_LISTED)
    .then((files) => {
      const chosen = recording.value;
      const playable = files.filter((file) => file.media && file.media.audio_codec);
      if (chosen && !playable.some((file) => file.id === chosen)) return;
      recording.replaceChildren(h("option", { value: "" }, "All recordings"), ...playable.map((file) => h("option", { value: file.id }, file.filename)));
      recording.value = chosen;
    })
    .catch(() => {});
  const from = h("input", { name: "from", maxlength: 12, autocomplete: "off", inputmode: "numeric", value: ctx.query.get("from") ? at(ctx.query.get("from")) : "", placeholder: "0:00" });
  const to = h("input", { name: "to", maxlength: 12, autocomplete: "off", inputmode: "numeric", value: ctx.query.get("to") ? at(ctx.query.get("to")) : "", placeholder: "e.g. 15:00" });
  const filtered = Boolean(speaker.value || language.value || wantedFile || from.value || to.value);
  const filters = h(
    "details",
    { class: "search-filters", open: filtered },
    h("summary", {}, "Filters"),
    field("File", {}, { control: recording, hint: "Only this recording's passages." }),
    h(
      "div",
      { class: "row" },
      field("Speaker", {}, { control: speaker, hint: "A speaker's name or label, e.g. S1." }),
      field("Language", {}, { control: language, hint: "A language code; translations are searched too." }),
    ),
    h(
      "div",
      { class: "row" },
      field("From", {}, { control: from, hint: "Minutes:seconds into a recording." }),
      field("To", {}, { control: to, hint: "Passages said between the two." }),
    ),
  );
  const submit = h("button", { type: "submit", class: "primary" }, "Search");
  const formElement = h(
    "form",
    { class: "search-form", role: "search", "aria-label": "Across the workspace" },
    h(
      "div",
      { class: "search-bar" },
      field("Search the recordings", {}, { control: query }),
      h("div", { class: "search-go" }, submit),
    ),
    h("div", { class: "search-options" }, field("Match", {}, { control: mode }), filters),
  );
  const summary = h("p", { class: "search-summary", role: "status" });
  const results = h("ol", { class: "search-results", "aria-label": "Results", hidden: true });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More results");
  let cursor = null;
  let asked = null;
  let shown = 0;
  let ticket = 0;

  function hit(item) {
    const name = item.file_name || "A recording no longer in the workspace";
    const who = item.speaker ? item.speaker : null;
    const translated = item.variant && item.variant !== "original";
    const play = h(
      "button",
      {
        type: "button",
        class: "secondary small hit-play",
        disabled: !item.url,
        "aria-label": `Play ${name} from ${at(item.start)}`,
        dataset: { start: String(item.start) },
        onclick: () => player.play(item),
      },
      h("span", { class: "play-icon", "aria-hidden": "true" }),
      `Play from ${at(item.start)}`,
    );
    return h(
      "li",
      { class: "hit" },
      h(
        "div",
        { class: "hit-head" },
        h("span", { class: "hit-file" }, name),
        h("span", { class: "hit-meta" }, [who, span(item), translated ? `translated to ${languageName(item.language || item.variant)}` : null].filter(Boolean).join(" · ")),
      ),
      h("p", { class: "hit-snippet" }, snippetNodes(item.snippet)),
      h("div", { class: "actions" }, play, link(`/w/${wsId}/transcripts/${item.job_id}`, "Open the transcript", { class: "hit-open" })),
    );
  }

  async function load(params, first) {
    const mine = ++ticket;
    if (first) {
      summary.textContent = "Searching…";
      results.setAttribute("aria-busy", "true");
    }
    let page;
    try {
      page = await api.get(`/workspaces/${wsId}/search`, { ...params, cursor: first ? undefined : cursor, limit: PAGE_SIZE });
    } catch (error) {
      if (mine !== ticket) return;
      results.removeAttribute("aria-busy");
      summary.replaceChildren(h("span", { class: "form-error" }, `The search failed: ${describe(error)}`));
      return;
    }
    if (mine !== ticket) return;
    results.removeAttribute("aria-busy");
    if (first) {
      results.replaceChildren();
      shown = 0;
    }
    results.append(...page.items.map(hit));
    shown += page.items.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    results.hidden = shown === 0;
    const quoted = `“${params.q}”`;
    const waiting = page.pending ? ` ${plural(page.pending, "transcript")} still being indexed may have more.` : "";
    if (!shown) {
      const filtered = params.file_id || params.speaker || params.language || params.from !== undefined || params.to !== undefined;
      summary.textContent = `Nothing found for ${quoted}. Try other words${params.mode === "lexical" ? ", or match by meaning" : ""}${filtered ? ", or clear the filters" : ""}.${waiting}`;
    } else {
      const lexicalOnly = page.semantic === false && params.mode !== "lexical" ? " Matched by the words only: searching by meaning is not available on this server." : "";
      summary.textContent = `${plural(shown, "result")}${cursor ? " so far" : ""} for ${quoted}.${lexicalOnly}${waiting}`;
    }
  }

  formElement.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = query.value.trim();
    if (!q) {
      summary.textContent = "Type what to look for first.";
      query.focus();
      return;
    }
    const start = seconds(from.value);
    const end = seconds(to.value);
    if (Number.isNaN(start) || Number.isNaN(end)) {
      summary.replaceChildren(h("span", { class: "form-error" }, "Write From and To as minutes:seconds (e.g. 1:30) or seconds."));
      (Number.isNaN(start) ? from : to).focus();
      return;
    }
    asked = {
      q,
      mode: mode.value,
      file_id: recording.value || undefined,
      speaker: speaker.value.trim() || undefined,
      language: language.value.trim() || undefined,
      from: start,
      to: end,
    };
    remember({ ...asked, from: start === undefined ? undefined : String(start), to: end === undefined ? undefined : String(end) });
    busy(submit, () => load(asked, true));
  });
  more.addEventListener("click", () => busy(more, () => load(asked, false)));
  if (query.value.trim()) queueMicrotask(() => formElement.requestSubmit());

  return section("Search", indexStatus(wsId, timers), formElement, summary, results, more);
}

// ---- asking ----

// A modal asking for a conversation's new name; resolves to it, or null when cancelled.
function askTitle(current) {
  return new Promise((resolve) => {
    const input = h("input", { name: "title", required: true, maxlength: 200, value: current, autocomplete: "off" });
    const dialog = h(
      "dialog",
      { "aria-labelledby": "rename-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "rename-title" }, "Rename the conversation"),
        field("Name", {}, { control: input }),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: () => dialog.close("") }, "Cancel"),
          h("button", { type: "submit", class: "primary", value: "save" }, "Save"),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "save" && input.value.trim() ? input.value.trim() : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.select();
  });
}

// The events of a text/event-stream response, as {event, data} with `data` parsed from JSON.
async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const parse = (block) => {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const key = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (key === "event") event = value;
      else if (key === "data") data.push(value);
    }
    return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
  };
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    // A lone "\r" at the end may be the first half of a "\r\n" the next read completes.
    const tail = !done && buffer.endsWith("\r") ? "\r" : "";
    buffer = buffer.slice(0, buffer.length - tail.length).replace(/\r\n?/g, "\n") + tail;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const found = parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (found) yield found;
    }
    if (done) {
      const found = buffer.trim() ? parse(buffer) : null;
      if (found) yield found;
      return;
    }
  }
}

async function postForStream(wsId, conversationId, content, signal) {
  const address = `/api/v1/workspaces/${encodeURIComponent(wsId)}/conversations/${encodeURIComponent(conversationId)}/messages`;
  for (let attempt = 0; attempt < 2; attempt++) {
    const token = await currentToken();
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(address, { method: "POST", headers, body: JSON.stringify({ content }), credentials: "same-origin", signal });
    if (response.status === 401 && attempt === 0 && (await refresh())) continue;
    if (!response.ok) {
      const payload = await response.json().catch(() => null);
      throw new ApiError(response.status, payload);
    }
    return response;
  }
  throw new ApiError(401, null);
}

function chatPanel(ctx, player) {
  const wsId = ctx.ws.id;
  const choose = select({ name: "conversation" }, [["", NEW_TITLE]], "");
  const rename = h("button", { type: "button", class: "secondary small", disabled: true }, "Rename");
  const remove = h("button", { type: "button", class: "secondary small", disabled: true }, "Delete");
  const fresh = h("button", { type: "button", class: "secondary small" }, "New conversation");
  const log = h("div", { class: "chat-log", role: "region", "aria-label": "Messages", tabindex: "0" });
  const stage = h("p", { class: "chat-stage", role: "status" });
  const suggestions = h("div", { class: "chat-suggestions", hidden: true });
  const question = h("textarea", { name: "content", rows: 2, required: true, maxlength: 4000, placeholder: "e.g. Where did we decide the launch date?" });
  const ask = h("button", { type: "submit", class: "primary" }, "Ask");
  const stop = h("button", { type: "button", class: "secondary", hidden: true }, "Stop");
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const questionId = uid("question");
  question.id = questionId;
  const hintId = `${questionId}-hint`;
  question.setAttribute("aria-describedby", hintId);
  const askForm = h(
    "form",
    { class: "chat-form" },
    formError,
    h("label", { for: questionId }, "Your question"),
    question,
    h("small", { id: hintId, class: "hint" }, "Enter asks; Shift+Enter starts a new line. Answers cite the moments they come from: press a number to hear it."),
    h("div", { class: "actions" }, ask, stop),
  );
  let conversation = null; // {id, title}
  let conversations = [];
  let streaming = null; // the AbortController of the answer being read

  function empty() {
    log.replaceChildren(
      h(
        "p",
        { class: "empty" },
        "Ask a question about the recordings in this workspace. The answer quotes the passages it comes from, each numbered: press a number to play that moment.",
      ),
    );
  }

  function citationLabel(citation) {
    return `${citation.file_name || "a recording"} from ${at(citation.start)}`;
  }

  // The answer's text with each [n] that names a citation turned into a button playing it; other text stays text.
  function answerBody(text, citations) {
    const byNumber = new Map(citations.map((citation) => [Number(citation.n), citation]));
    const body = h("div", { class: "chat-text" });
    for (const part of String(text || "").split(/(\[\d+\])/)) {
      const number = /^\[(\d+)\]$/.exec(part);
      const citation = number && byNumber.get(Number(number[1]));
      if (citation) {
        body.append(
          h(
            "button",
            {
              type: "button",
              class: "cite",
              dataset: { n: String(citation.n), start: String(citation.start) },
              "aria-label": `Citation ${citation.n}: play ${citationLabel(citation)}`,
              title: `Play ${citationLabel(citation)}`,
              onclick: () => player.play(citation),
            },
            String(citation.n),
          ),
        );
      } else if (part) body.append(part);
    }
    return body;
  }

  function citationList(citations) {
    if (!citations.length) return null;
    return h(
      "ol",
      { class: "citations", "aria-label": "Citations" },
      citations.map((citation) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "cite-chip",
              dataset: { n: String(citation.n), start: String(citation.start) },
              "aria-label": `Play citation ${citation.n}: ${citationLabel(citation)}`,
              disabled: !citation.url,
              onclick: () => player.play(citation),
            },
            h("span", { class: "cite-number", "aria-hidden": "true" }, String(citation.n)),
            h("span", { class: "cite-where" }, `${citation.file_name || "A deleted recording"} · ${span(citation)}${citation.speaker ? ` · ${citation.speaker}` : ""}`),
          ),
          citation.quote ? h("q", { class: "cite-quote" }, citation.quote) : null,
        ),
      ),
    );
  }

  function userMessage(content) {
    return h("div", { class: "msg user" }, h("p", { class: "msg-who" }, "You"), h("p", { class: "chat-text" }, content));
  }

  function assistantMessage(message) {
    const citations = message.citations || [];
    return h(
      "div",
      { class: "msg assistant" },
      h("p", { class: "msg-who" }, "voxhub", message.engine ? h("span", { class: "msg-engine" }, ENGINES[message.engine] || message.engine) : null),
      answerBody(message.content, citations),
      citationList(citations),
    );
  }

  function showMessages(messages) {
    if (!messages.length) return empty();
    log.replaceChildren(...messages.map((message) => (message.role === "user" ? userMessage(message.content) : assistantMessage(message))));
    log.scrollTop = log.scrollHeight;
  }

  async function showSuggestions() {
    suggestions.hidden = true;
    if (!canAsk(ctx.ws)) return;
    // Suggestions belong to a conversation's scope; a new conversation covers the whole workspace, as does any
    // earlier one without a scope, whose suggestions are therefore the same.
    const whole = (item) => !item.scope || (!(item.scope.file_ids || []).length && !(item.scope.job_ids || []).length);
    const source = conversation || conversations.find(whole);
    if (!source) return;
    const shownFor = conversation;
    let items = [];
    try {
      items = (await api.get(`/workspaces/${wsId}/conversations/${source.id}/suggestions`)).items || [];
      if (shownFor !== conversation) return;
    } catch {
      items = []; // suggestions are a help, not the page: without them the box is still there
    }
    if (!items.length || log.querySelector(".msg")) return;
    suggestions.replaceChildren(
      h("p", { class: "hint" }, "You could ask:"),
      h(
        "ul",
        {},
        items.slice(0, 4).map((text) =>
          h("li", {}, h("button", { type: "button", class: "link", onclick: () => submit(text) }, text)),
        ),
      ),
    );
    suggestions.hidden = false;
  }

  function refreshChoices() {
    choose.replaceChildren(
      h("option", { value: "" }, NEW_TITLE),
      ...conversations.map((item) => h("option", { value: item.id, selected: conversation && item.id === conversation.id }, item.title || "Untitled")),
    );
    rename.disabled = remove.disabled = !conversation || !canAsk(ctx.ws);
    remember({ c: conversation && conversation.id });
  }

  async function open(id) {
    if (streaming) streaming.abort();
    suggestions.hidden = true;
    formError.hidden = true;
    stage.textContent = "";
    if (!id) {
      conversation = null;
      refreshChoices();
      empty();
      showSuggestions();
      return;
    }
    log.replaceChildren(h("p", { class: "muted" }, "Loading the conversation…"));
    try {
      const found = await api.get(`/workspaces/${wsId}/conversations/${id}`);
      conversation = { id: found.id, title: found.title };
      if (!conversations.some((item) => item.id === found.id)) conversations.unshift(found);
      refreshChoices();
      showMessages(found.messages || []);
      if (!(found.messages || []).length) showSuggestions();
    } catch (error) {
      log.replaceChildren(h("p", { class: "form-error" }, `The conversation could not be opened: ${describe(error)}`));
    }
  }

  async function loadList() {
    try {
      conversations = (await api.get(`/workspaces/${wsId}/conversations`, { limit: 50 })).items;
    } catch (error) {
      conversations = [];
      stage.textContent = `Earlier conversations could not be listed: ${describe(error)}`;
    }
    refreshChoices();
  }

  async function send(text) {
    const content = text.trim();
    if (!content || streaming) return;
    formError.hidden = true;
    suggestions.hidden = true;
    if (!conversation) {
      const made = await api.post(`/workspaces/${wsId}/conversations`, { title: content.slice(0, TITLE_CHARS) });
      conversation = { id: made.id, title: made.title };
      conversations.unshift(made);
      refreshChoices();
    }
    if (!log.querySelector(".msg")) log.replaceChildren();
    log.append(userMessage(content));
    const answer = h("div", { class: "msg assistant", "aria-busy": "true" }, h("p", { class: "msg-who" }, "voxhub"));
    log.append(answer);
    log.scrollTop = log.scrollHeight;
    question.value = "";
    let written = "";
    let citations = [];
    let finished = false;
    let drawn = 0;
    const draw = () => {
      drawn = 0;
      answer.replaceChildren(h("p", { class: "msg-who" }, "voxhub"), answerBody(written, citations), citationList(citations));
      log.scrollTop = log.scrollHeight;
    };
    const controller = new AbortController();
    streaming = controller;
    ask.disabled = true;
    stop.hidden = false;
    stage.textContent = STAGES.searching;
    try {
      const response = await postForStream(wsId, conversation.id, content, controller.signal);
      if (!(response.headers.get("content-type") || "").includes("text/event-stream")) {
        const body = await response.json();
        answer.replaceWith(assistantMessage(body.message || body));
        finished = true;
      } else {
        for await (const { event, data } of serverEvents(response)) {
          if (event === "status") stage.textContent = STAGES[data.stage] || data.stage;
          else if (event === "citations") {
            citations = data.citations || [];
            stage.textContent = `${STAGES.reading.slice(0, -1)} (${plural(citations.length, "passage")})…`;
            draw();
          } else if (event === "delta") {
            written += data.text || "";
            // Tokens arrive faster than a screen draws: one redraw per frame.
            if (!drawn) drawn = requestAnimationFrame(draw);
          } else if (event === "done") {
            cancelAnimationFrame(drawn);
            const message = data.message || {};
            const used = (message.citations || []).length;
            answer.replaceWith(assistantMessage(message));
            stage.textContent = used ? `Answered, citing ${plural(used, "passage")}.` : "Answered. The recordings do not seem to cover this.";
            finished = true;
          } else if (event === "error") {
            throw new ApiError(data.status || 500, data);
          }
        }
      }
      if (!finished) throw new Error("The answer stopped before it was finished. Ask again.");
    } catch (error) {
      cancelAnimationFrame(drawn);
      answer.removeAttribute("aria-busy");
      if (error.name === "AbortError") {
        if (log.contains(answer)) {
          draw();
          answer.append(h("p", { class: "hint" }, "Stopped."));
        }
        stage.textContent = "Stopped.";
      } else {
        if (!written) answer.remove();
        else draw();
        stage.textContent = "";
        formError.textContent = `No answer: ${describe(error)}`;
        formError.hidden = false;
        if (!question.value) question.value = content;
      }
    } finally {
      if (streaming === controller) streaming = null;
      ask.disabled = false;
      stop.hidden = true;
    }
  }

  function submit(text) {
    send(text).catch((error) => {
      formError.textContent = describe(error);
      formError.hidden = false;
    });
  }

  askForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(question.value);
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      askForm.requestSubmit();
    }
  });
  stop.addEventListener("click", () => streaming && streaming.abort());
  choose.addEventListener("change", () => open(choose.value));
  fresh.addEventListener("click", () => {
    open("");
    question.focus();
  });
  rename.addEventListener("click", () =>
    busy(rename, async () => {
      const title = await askTitle(conversation.title);
      if (!title) return;
      const saved = await api.patch(`/workspaces/${wsId}/conversations/${conversation.id}`, { title: title.trim().slice(0, 200) });
      conversation.title = saved.title;
      conversations = conversations.map((item) => (item.id === saved.id ? { ...item, title: saved.title } : item));
      refreshChoices();
    }),
  );
  remove.addEventListener("click", () =>
    busy(remove, async () => {
      if (!(await confirmDialog(`Delete “${conversation.title}” and its messages?`, { confirm: "Delete", danger: true }))) return;
      await api.del(`/workspaces/${wsId}/conversations/${conversation.id}`);
      conversations = conversations.filter((item) => item.id !== conversation.id);
      notify("The conversation is deleted.");
      await open("");
    }),
  );

  if (!canAsk(ctx.ws)) {
    question.disabled = ask.disabled = fresh.disabled = true;
    askForm.replaceChildren(h("p", { class: "hint" }, "Viewers can read this workspace's conversations; asking takes a member."));
  }
  empty();
  const ready = loadList().then(() => open(ctx.query.get("c") || ""));
  const panel = section(
    "Ask",
    h("div", { class: "chat-choose" }, field("Conversation", {}, { control: choose }), h("div", { class: "actions" }, fresh, rename, remove)),
    log,
    suggestions,
    stage,
    askForm,
  );
  return { panel, ready, stop: () => streaming && streaming.abort() };
}

// ---- the page ----

export async function search(view, ctx) {
  const timers = new Set();
  const player = recordingPlayer(ctx.ws.id);
  const chat = chatPanel(ctx, player);
  view.append(
    heading("Search and ask"),
    h("p", { class: "hint search-intro" }, "Find a moment in any recording of this workspace, or ask a question and hear the passages the answer comes from."),
    player.box,
    h("div", { class: "search-layout" }, searchPanel(ctx, player, timers), chat.panel),
  );
  await chat.ready;
  return () => {
    timers.forEach((timer) => clearTimeout(timer));
    chat.stop();
    player.stop();
  };
}
