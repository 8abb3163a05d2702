// The files page: uploads over tus (drop or choose several files; pause, resume, even after a reload) and the
// workspace's files with what probing found in them, each a click away from a transcript.

import { api, currentToken } from "../lib/api.js";
import { h, heading, section, button, notify, confirmDialog, badge, describe, bytes, duration, link, select, field, uid } from "../lib/dom.js";
import { startJob, download } from "./jobs.js";
import { focusableScrollers } from "./scrollable.js";
import { workspaceTags, tagChips, tagFilter, tagButton, fieldsButton, fieldValues } from "./labels.js";

// 50 MB a request: a proxy in front of voxhub sees bounded bodies, and a dropped connection costs one chunk at most.
const CHUNK_BYTES = 50 * 1024 * 1024;
// Long enough to outlast a minute's rate limit as well as a restart of the server.
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

// Uploads outlive the page: going from Files to another console page keeps them running, and coming back shows them.
const uploads = []; // {wsId, fileName, row, state: "uploading" | "paused" | "done" | "failed", upload}
let onUploaded = null; // the open files page's list refresh

function tusEndpoint(wsId) {
  return `${location.origin}/api/v1/workspaces/${encodeURIComponent(wsId)}/uploads/tus/`;
}

// tus retries what may pass on its own (a dropped connection, a 5xx, a busy upload); past the plan's requests a
// minute passes on its own too.
function shouldRetry(error, attempt, options) {
  const response = error && error.originalResponse;
  if (response && response.getStatus() === 429) return true;
  return window.tus.defaultOptions.onShouldRetry(error, attempt, options);
}

async function authorise(request) {
  const token = await currentToken();
  if (token) request.setHeader("Authorization", `Bearer ${token}`);
}

// The API's own message from a tus error, else what went wrong with the connection.
function uploadMessage(error) {
  const response = error && error.originalResponse;
  if (response) {
    try {
      const body = JSON.parse(response.getBody());
      if (body && body.error && body.error.message) return body.error.message;
    } catch {
      /* not JSON: say what status came back */
    }
    return `The server answered ${response.getStatus()}.`;
  }
  return "The connection to voxhub was lost. Resume to carry on from where it stopped.";
}

// A 4xx (other than the conflicts tus retries) is the server's final word: resuming would only repeat it.
function isFinal(error) {
  const response = error && error.originalResponse;
  if (!response) return false;
  const status = response.getStatus();
  return status >= 400 && status < 500 && status !== 409 && status !== 423 && status !== 429;
}

// Drops the stored resume point of an upload the server refused, so choosing the file again starts afresh.
async function forget(upload) {
  const storage = window.tus.defaultOptions.urlStorage;
  if (!upload.url || !storage) return;
  const stored = await upload.findPreviousUploads().catch(() => []);
  for (const item of stored) {
    if (item.uploadUrl === upload.url) await storage.removeUpload(item.urlStorageKey);
  }
}

function anyRunning() {
  return uploads.some((entry) => entry.state === "uploading");
}

function warnBeforeLeaving(event) {
  if (!anyRunning()) return;
  event.preventDefault();
  event.returnValue = "";
}
window.addEventListener("beforeunload", warnBeforeLeaving);

function startUpload(wsId, file) {
  const entry = { wsId, fileName: file.name, state: "uploading", upload: null };
  const progress = h("progress", { max: Math.max(file.size, 1), value: 0, "aria-label": `Upload of ${file.name}` });
  const text = h("span", { class: "upload-text muted" }, `Starting… 0 B of ${bytes(file.size)}`);
  const toggle = h("button", { type: "button", class: "secondary small", "aria-label": `Pause upload of ${file.name}` }, "Pause");
  const cancel = h("button", { type: "button", class: "ghost small", "aria-label": `Cancel upload of ${file.name}` }, "Cancel");
  const error = h("p", { class: "form-error upload-error", role: "alert", hidden: true });
  const state = h("span", { class: "upload-state" }, badge("uploading"));
  entry.row = h(
    "li",
    { class: "upload" },
    h("div", { class: "upload-head" }, h("strong", { class: "upload-name" }, file.name), state),
    h("div", { class: "upload-bar" }, progress, text),
    error,
    h("div", { class: "actions" }, toggle, cancel),
  );

  function setState(next, label) {
    entry.state = next;
    state.replaceChildren(badge(label || next, next === "done" ? "ok" : next === "failed" ? "failed" : next === "paused" ? "canceled" : "uploading"));
  }

  let shown = `0% · 0 B of ${bytes(file.size)}`;
  function showProgress(sent, total) {
    progress.max = Math.max(total, 1);
    progress.value = sent;
    const pct = total ? Math.floor((sent / total) * 100) : 100;
    shown = `${pct}% · ${bytes(sent)} of ${bytes(total)}`;
    text.textContent = shown;
  }

  function dismiss() {
    const at = uploads.indexOf(entry);
    if (at >= 0) uploads.splice(at, 1);
    entry.row.remove();
  }

  const upload = new window.tus.Upload(file, {
    endpoint: tusEndpoint(wsId),
    chunkSize: CHUNK_BYTES,
    retryDelays: RETRY_DELAYS_MS,
    removeFingerprintOnSuccess: true,
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
    onBeforeRequest: authorise,
    onShouldRetry: shouldRetry,
    onProgress: showProgress,
    onSuccess: ({ lastResponse }) => {
      showProgress(file.size, file.size);
      setState("done", "uploaded");
      toggle.remove();
      cancel.textContent = "Dismiss";
      cancel.setAttribute("aria-label", `Dismiss upload of ${file.name}`);
      const fileId = lastResponse && lastResponse.getHeader("Voxhub-File-Id");
      entry.fileId = fileId;
      notify(`${file.name} is uploaded.`, "success");
      if (onUploaded) onUploaded();
    },
    onError: (failure) => {
      error.textContent = uploadMessage(failure);
      error.hidden = false;
      if (isFinal(failure)) {
        setState("failed");
        toggle.remove();
        cancel.textContent = "Dismiss";
        cancel.setAttribute("aria-label", `Dismiss upload of ${file.name}`);
        // The server refused this upload for good; a later choice of the same file should start afresh.
        forget(upload);
        if (onUploaded) onUploaded();
      } else {
        setState("paused", "stopped");
        toggle.textContent = "Resume";
        toggle.setAttribute("aria-label", `Resume upload of ${file.name}`);
      }
    },
  });
  entry.upload = upload;

  toggle.addEventListener("click", () => {
    if (entry.state === "uploading") {
      upload.abort();
      setState("paused");
      toggle.textContent = "Resume";
      toggle.setAttribute("aria-label", `Resume upload of ${file.name}`);
      text.textContent = `Paused at ${shown}`;
    } else {
      error.hidden = true;
      setState("uploading");
      toggle.textContent = "Pause";
      toggle.setAttribute("aria-label", `Pause upload of ${file.name}`);
      text.textContent = shown;
      upload.start();
    }
  });
  cancel.addEventListener("click", async () => {
    if (entry.state === "done" || entry.state === "failed") {
      dismiss();
      return;
    }
    cancel.disabled = true;
    try {
      // Terminating removes what the server kept and forgets the upload, so the file could not resume later.
      await upload.abort(true);
    } catch {
      /* already gone on the server: nothing to remove */
    }
    dismiss();
    notify(`The upload of ${file.name} is canceled.`);
  });

  uploads.push(entry);
  upload
    .findPreviousUploads()
    .then((previous) => {
      if (entry.state !== "uploading") return;
      if (previous.length) {
        previous.sort((a, b) => new Date(b.creationTime) - new Date(a.creationTime));
        upload.resumeFromPreviousUpload(previous[0]);
        text.textContent = "Resuming where it stopped…";
      }
      upload.start();
    })
    .catch(() => upload.start());
  return entry;
}

// Uploads a past visit started and did not finish: the browser cannot reopen the file by itself, but choosing the
// same file again resumes it (tus finds the upload by the file's name, type, size and date).
async function unfinishedUploads(wsId) {
  const storage = window.tus && window.tus.defaultOptions && window.tus.defaultOptions.urlStorage;
  if (!storage || !storage.findAllUploads) return [];
  const stored = await storage.findAllUploads();
  const prefix = tusEndpoint(wsId);
  const running = new Set(uploads.map((entry) => entry.upload && entry.upload.url).filter(Boolean));
  return stored.filter((item) => item.uploadUrl && item.uploadUrl.startsWith(prefix) && !running.has(item.uploadUrl));
}

async function discard(item) {
  try {
    await window.tus.Upload.terminate(item.uploadUrl, { onBeforeRequest: authorise, retryDelays: [0] });
  } catch {
    /* expired or already gone on the server */
  }
  await window.tus.defaultOptions.urlStorage.removeUpload(item.urlStorageKey);
}

function shortWhen(iso) {
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toLocaleString() }, date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
}

function mediaFacts(media) {
  if (!media) return h("span", { class: "muted" }, "—");
  const channels = media.channels === 1 ? "mono" : media.channels === 2 ? "stereo" : `${media.channels} channels`;
  const rate = `${(media.sample_rate / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 })} kHz`;
  const audio = [media.audio_codec, channels, rate].join(" · ");
  if (media.video_codec) {
    const size = media.width && media.height ? ` ${media.width}×${media.height}` : "";
    return h("span", {}, h("span", { class: "kind video" }, "Video"), ` ${media.video_codec}${size} · ${audio}`, h("span", { class: "muted" }, ` (${media.container})`));
  }
  return h("span", {}, h("span", { class: "kind audio" }, "Audio"), ` ${audio}`, h("span", { class: "muted" }, ` (${media.container})`));
}

export async function files(view, ctx) {
  const ws = ctx.ws;
  let rows = [];
  let cursor = null;
  let editing = null; // the id of the file being renamed
  let left = false;

  // ---- upload area ----
  const inputId = uid("choose");
  const picker = h("input", { type: "file", multiple: true, id: inputId, class: "file-input", accept: "audio/*,video/*" });
  const zone = h(
    "div",
    { class: "dropzone" },
    h("p", { class: "dropzone-text" }, "Drop audio or video files here, or"),
    h("div", { class: "file-pick" }, picker, h("label", { for: inputId, class: "button" }, "Choose files")),
    h("p", { class: "hint" }, "Several at once; each upload can be paused and resumes where it stopped, even after a reload."),
  );
  const uploadList = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const unfinished = h("div", { class: "unfinished" });

  function addFiles(list) {
    if (!window.tus || !window.tus.isSupported) {
      notify("This browser cannot upload with tus; use the API instead.", "error");
      return;
    }
    for (const file of list) uploadList.append(startUpload(ws.id, file).row);
    uploadList.hidden = false;
    // Starting the same file again resumes it: its line under "Unfinished uploads" goes.
    setTimeout(showUnfinished, 500);
  }

  picker.addEventListener("change", () => {
    addFiles([...picker.files]);
    picker.value = "";
  });
  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("over");
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    const dropped = event.dataTransfer ? [...event.dataTransfer.files] : [];
    if (dropped.length) addFiles(dropped);
  });
  // A file dropped beside the zone would otherwise replace the console with the file.
  const swallow = (event) => {
    if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) event.preventDefault();
  };
  document.addEventListener("dragover", swallow);
  document.addEventListener("drop", swallow);

  for (const entry of uploads) {
    if (entry.wsId === ws.id) uploadList.append(entry.row);
  }
  uploadList.hidden = !uploadList.children.length;

  async function showUnfinished() {
    if (left) return;
    let items = [];
    try {
      items = await unfinishedUploads(ws.id);
    } catch {
      items = [];
    }
    if (!items.length) {
      unfinished.replaceChildren();
      return;
    }
    unfinished.replaceChildren(
      h("h3", {}, "Unfinished uploads"),
      h("p", { class: "hint" }, "Choose the same file again to carry on where it stopped."),
      h(
        "ul",
        { class: "unfinished-list" },
        items.map((item) => {
          const name = (item.metadata && item.metadata.filename) || "A file";
          return h(
            "li",
            {},
            h("span", {}, h("strong", {}, name), " ", h("span", { class: "muted" }, `${bytes(item.size)} · started ${new Date(item.creationTime).toLocaleString()}`)),
            button(
              "Discard",
              async () => {
                await discard(item);
                notify(`The unfinished upload of ${name} is discarded.`);
                await showUnfinished();
              },
              { class: "ghost small", "aria-label": `Discard the unfinished upload of ${name}` },
            ),
          );
        }),
      ),
    );
  }

  // ---- files list ----
  const [allTags, allFields] = await Promise.all([
    workspaceTags(ws.id).catch(() => []),
    api.get(`/workspaces/${ws.id}/custom-fields`).then((page) => page.items, () => []),
  ]);
  const tagSelect = tagFilter(allTags, ctx.query.get("tag"));
  const kindFilter = select({ id: uid(), name: "kind" }, [["", "All files"], ["upload", "Uploads"], ["output", "Job outputs"]], ctx.query.get("kind") || "");
  const listBox = h("div", { class: "files-list" });
  const listError = h("p", { class: "form-error", role: "alert", hidden: true });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");

  async function load(fresh) {
    listError.hidden = true;
    let page;
    try {
      page = await api.get(`/workspaces/${ws.id}/files`, {
        limit: fresh ? Math.min(200, Math.max(50, rows.length)) : 50,
        cursor: fresh ? null : cursor,
        kind: kindFilter.value || undefined,
        tag: tagSelect.value || undefined,
      });
    } catch (error) {
      listError.textContent = describe(error);
      listError.hidden = false;
      return;
    }
    if (left) return;
    rows = fresh ? page.items : rows.concat(page.items.filter((item) => !rows.some((row) => row.id === item.id)));
    cursor = page.next_cursor;
    render();
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    await load(false);
    more.disabled = false;
  });
  for (const [filter, name] of [
    [kindFilter, "kind"],
    [tagSelect, "tag"],
  ]) {
    filter.addEventListener("change", () => {
      const params = new URLSearchParams(location.search);
      if (filter.value) params.set(name, filter.value);
      else params.delete(name);
      const search = params.toString();
      history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
      load(true);
    });
  }

  function focusRow(fileId, selector) {
    const target = listBox.querySelector(`tr[data-file="${CSS.escape(fileId)}"] ${selector}`);
    if (target) target.focus();
  }

  function nameCell(file) {
    const nameId = `file-name-${file.id}`;
    if (editing === file.id) {
      const input = h("input", { type: "text", value: file.filename, maxlength: 255, required: true, "aria-label": `New name for ${file.filename}` });
      const problem = h("p", { class: "form-error", role: "alert", hidden: true });
      const renameForm = h(
        "form",
        { class: "rename-form" },
        input,
        h("div", { class: "actions" }, h("button", { type: "submit", class: "small" }, "Save"), h("button", { type: "button", class: "ghost small", onclick: stopEditing }, "Cancel")),
        problem,
      );
      function stopEditing() {
        editing = null;
        render();
        focusRow(file.id, ".rename");
      }
      input.addEventListener("keydown", (event) => {
        if (event.key === "Escape") stopEditing();
      });
      renameForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        const name = input.value.trim();
        if (!name) {
          problem.textContent = "A name cannot be empty.";
          problem.hidden = false;
          return;
        }
        renameForm.setAttribute("aria-busy", "true");
        try {
          const updated = await api.patch(`/workspaces/${ws.id}/files/${file.id}`, { filename: name });
          rows = rows.map((row) => (row.id === file.id ? updated : row));
          notify(`Renamed to ${updated.filename}.`);
          stopEditing();
        } catch (error) {
          problem.textContent = describe(error);
          problem.hidden = false;
          renameForm.removeAttribute("aria-busy");
        }
      });
      queueMicrotask(() => {
        input.focus();
        input.select();
      });
      return renameForm;
    }
    return h(
      "div",
      {},
      h("span", { id: nameId, class: "file-name" }, file.filename),
      h("div", { class: "muted small" }, bytes(file.size_bytes), file.kind === "output" ? " · job output" : null),
      tagChips(file.tags, allTags),
      fieldValues(file.custom_fields, allFields),
      file.status === "rejected" && (file.reject_message || file.reject_reason)
        ? h("div", { class: "error-text small" }, file.reject_message || file.reject_reason)
        : null,
    );
  }

  function actionsCell(file) {
    const nameId = `file-name-${file.id}`;
    const ready = file.status === "ready";
    const parts = [];
    if (ready && file.media) {
      parts.push(
        button(
          "Transcribe",
          async () => {
            const job = await startJob(ws.id, { type: "transcribe", input: { file_id: file.id } });
            ctx.navigate(`/w/${ws.id}/jobs/${job.id}`);
          },
          { class: "small", "aria-describedby": nameId },
        ),
        link(`/w/${ws.id}/jobs/new?file=${encodeURIComponent(file.id)}`, "More jobs", { class: "button secondary small", "aria-describedby": nameId }),
      );
    }
    parts.push(
      h(
        "button",
        {
          type: "button",
          class: "secondary small rename",
          "aria-describedby": nameId,
          onclick: () => {
            editing = file.id;
            render();
          },
        },
        "Rename",
      ),
    );
    parts.push(
      tagButton(
        ws,
        "files",
        file,
        allTags,
        (tags) => {
          rows = rows.map((row) => (row.id === file.id ? { ...row, tags } : row));
          render();
        },
        { describedBy: nameId, label: file.filename },
      ),
    );
    if (allFields.length) {
      parts.push(
        fieldsButton(
          ws,
          "files",
          file,
          allFields,
          (values) => {
            rows = rows.map((row) => (row.id === file.id ? { ...row, custom_fields: values } : row));
            render();
          },
          { describedBy: nameId, label: file.filename },
        ),
      );
    }
    if (ready) parts.push(button("Download", () => download(ws, file), { class: "secondary small", "aria-describedby": nameId }));
    parts.push(
      button(
        "Delete",
        async () => {
          if (!(await confirmDialog(`Delete ${file.filename}? Its bytes are removed for good.`, { confirm: "Delete", danger: true }))) return;
          await api.del(`/workspaces/${ws.id}/files/${file.id}`);
          rows = rows.filter((row) => row.id !== file.id);
          render();
          notify(`${file.filename} is deleted.`);
        },
        { class: "danger small", "aria-describedby": nameId },
      ),
    );
    return h("div", { class: "actions file-actions" }, parts);
  }

  function render() {
    more.hidden = !cursor;
    if (!rows.length) {
      listBox.replaceChildren(
        h("p", { class: "empty" }, kindFilter.value || tagSelect.value ? "No files match these filters." : "No files yet: upload one above, then transcribe it."),
      );
      return;
    }
    listBox.replaceChildren(
      h(
        "div",
        { class: "table-wrap files-wrap", dataset: { label: "Your files" } },
        h(
          "table",
          { class: "files-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Name", "Duration", "Media", "Status", "Created"].map((text) => h("th", { scope: "col" }, text)),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
            ),
          ),
          h(
            "tbody",
            {},
            rows.map((file) =>
              h(
                "tr",
                { dataset: { file: file.id } },
                h("td", { class: "name-cell" }, nameCell(file)),
                h("td", { class: "num" }, file.media ? duration(file.media.duration_s) : "—"),
                h("td", { class: "media-cell" }, mediaFacts(file.media)),
                h("td", {}, badge(file.status)),
                h("td", { class: "when" }, shortWhen(file.created_at)),
                h("td", {}, actionsCell(file)),
              ),
            ),
          ),
        ),
      ),
    );
  }

  view.append(
    heading("Files", h("a", { href: `/w/${ws.id}/jobs/new`, class: "button secondary" }, "Start a job")),
    section("Upload", zone, uploadList, unfinished),
    h(
      "section",
      { class: "card" },
      h("div", { class: "files-head" }, h("h2", {}, "Your files"), h("div", { class: "files-filter" }, field("Show", {}, { control: kindFilter }), field("Tag", {}, { control: tagSelect }))),
      listError,
      listBox,
      more,
    ),
  );

  onUploaded = () => load(true);
  showUnfinished();
  await load(true);
  const unmark = focusableScrollers(view);

  return () => {
    unmark();
    left = true;
    onUploaded = null;
    document.removeEventListener("dragover", swallow);
    document.removeEventListener("drop", swallow);
    // Finished and failed rows are not worth showing again; running and paused ones are.
    for (const entry of [...uploads]) {
      if (entry.state === "done" || entry.state === "failed") uploads.splice(uploads.indexOf(entry), 1);
    }
  };
}
