// Operations, for superusers: the queues by state, workers and their heartbeats, running jobs and recent failures
// across every workspace, refreshed every few seconds while the page is open.

import { api } from "../lib/api.js";
import { focusableScrollers } from "./scrollable.js";
import { h, section, heading, table, when, button, badge, describe, duration } from "../lib/dom.js";

const REFRESH_MS = 5000;
const STATES = ["queued", "running", "succeeded", "failed", "canceled"];
// A running job whose worker has said nothing for this long may have lost its worker (the server's own staleness
// limit decides; this only draws the eye).
const QUIET_S = 60;

function ago(iso, now) {
  if (!iso) return "—";
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  const text = seconds < 90 ? `${Math.round(seconds)} s ago` : seconds < 5400 ? `${Math.round(seconds / 60)} min ago` : `${Math.round(seconds / 3600)} h ago`;
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString() }, text);
}

function shortId(id) {
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}

export async function operations(view, ctx) {
  const stamp = h("span", { class: "ops-updated muted" }, "Loading…");
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const tiles = h("div", { class: "ops-tiles" });
  const queues = h("div");
  const workers = h("div");
  const running = h("div");
  const failures = h("div");
  let timer = null;
  let stopped = false;

  const workspaceName = new Map(ctx.workspaces.map((ws) => [ws.id, ws.name]));
  // A superuser is not a member of every workspace: only jobs in their own ones link to the job's page.
  function jobCell(job) {
    const label = h("span", { class: "ops-job" }, h("strong", {}, job.type), " ", h("span", { class: "mono muted" }, shortId(job.id)));
    return workspaceName.has(job.workspace_id) ? h("a", { href: `/w/${job.workspace_id}/jobs/${job.id}`, "aria-label": `${job.type} job ${job.id}` }, label) : label;
  }
  function workspaceCell(job) {
    return workspaceName.get(job.workspace_id) || h("span", { class: "mono", title: job.workspace_id }, shortId(job.workspace_id));
  }

  // A table is redrawn only while focus is not inside it, so refreshing never pulls the keyboard away.
  function put(holder, content) {
    if (holder.contains(document.activeElement) && document.activeElement !== document.body) return;
    holder.replaceChildren(content);
  }

  function draw(overview, runningJobs, failedJobs) {
    const now = Date.now();
    const total = (state) => Object.values(overview.queues).reduce((sum, counts) => sum + (counts[state] || 0), 0);
    tiles.replaceChildren(
      ...[
        ["Queued", String(total("queued"))],
        ["Running", String(total("running"))],
        ["Oldest queued job waiting", overview.oldest_queued_age_s === null ? "none waiting" : duration(overview.oldest_queued_age_s)],
        ["Workers seen in the last minute", String(overview.workers_last_minute.length)],
      ].map(([label, value]) => h("div", { class: "ops-tile" }, h("span", { class: "ops-tile-label" }, label), h("strong", { class: "ops-tile-value" }, value))),
    );

    const names = [...new Set([...Object.values(overview.job_types), ...Object.keys(overview.queues)])].sort();
    put(
      queues,
      table(
        [
          ["Queue", (name) => h("strong", {}, name)],
          ...STATES.map((state) => [state[0].toUpperCase() + state.slice(1), (name) => String((overview.queues[name] || {})[state] || 0)]),
          ["Job types", (name) => Object.entries(overview.job_types).filter(([, queue]) => queue === name).map(([type]) => type).join(", ") || "—"],
        ],
        names,
        { empty: "No queues.", caption: "Jobs by queue and state, all workspaces" },
      ),
    );

    // The queue view names the workers seen lately; the running jobs say when each last sent a heartbeat.
    const byWorker = new Map(overview.workers_last_minute.map((id) => [id, []]));
    for (const job of runningJobs) {
      if (!job.worker_id) continue;
      if (!byWorker.has(job.worker_id)) byWorker.set(job.worker_id, []);
      byWorker.get(job.worker_id).push(job);
    }
    const lastBeat = (jobs) => jobs.map((job) => job.heartbeat_at).filter(Boolean).sort().pop() || null;
    put(
      workers,
      table(
        [
          ["Worker", ([id]) => h("span", { class: "mono" }, id)],
          ["Running", ([, jobs]) => String(jobs.length)],
          ["Last heartbeat", ([, jobs]) => (jobs.length ? ago(lastBeat(jobs), now) : h("span", { class: "muted" }, "idle, seen in the last minute"))],
        ],
        [...byWorker.entries()],
        { empty: "No worker has run or reported on a job in the last minute.", caption: "Workers seen in the last minute" },
      ),
    );

    put(
      running,
      table(
        [
          ["Job", jobCell],
          ["Workspace", workspaceCell],
          [
            "Progress",
            (job) =>
              h(
                "div",
                { class: "ops-progress" },
                h("progress", { max: 100, value: job.progress, "aria-label": `Progress of ${job.type} job ${shortId(job.id)}` }),
                h("span", {}, `${Math.round(job.progress)}%${job.stage ? ` · ${job.stage}` : ""}`),
              ),
          ],
          ["Worker", (job) => h("span", { class: "mono" }, job.worker_id || "—")],
          [
            "Last heartbeat",
            (job) => {
              const quiet = job.heartbeat_at && (now - new Date(job.heartbeat_at).getTime()) / 1000 > QUIET_S;
              return h("span", { class: quiet ? "ops-quiet" : "" }, ago(job.heartbeat_at, now), quiet ? " (quiet)" : "");
            },
          ],
          ["Started", (job) => ago(job.timings.started_at, now)],
          ["Attempt", (job) => `${job.attempts} of ${job.max_attempts}`],
        ],
        runningJobs,
        { empty: "No job is running.", caption: "Running jobs, newest first" },
      ),
    );

    put(
      failures,
      table(
        [
          ["Failed", (job) => when(job.timings.finished_at)],
          ["Job", jobCell],
          ["Workspace", workspaceCell],
          ["Error", (job) => (job.error ? h("span", {}, badge(job.error.code, "failed"), " ", job.error.message) : "—")],
          ["Attempts", (job) => String(job.attempts)],
          ["Worker", (job) => h("span", { class: "mono" }, job.worker_id || "—")],
        ],
        failedJobs,
        { empty: "No failed jobs.", caption: "The 20 most recent failures" },
      ),
    );
  }

  async function refresh() {
    try {
      // Someone who is not a superuser asks once, for the server's own refusal.
      if (!ctx.me.is_superuser) await api.get(`/admin/queue`);
      const [overview, runningPage, failedPage] = await Promise.all([
        api.get(`/admin/queue`),
        api.get(`/admin/jobs`, { status: "running", limit: 100 }),
        api.get(`/admin/jobs`, { status: "failed", limit: 20 }),
      ]);
      if (stopped) return;
      draw(overview, runningPage.items, failedPage.items);
      problem.hidden = true;
      const at = new Date();
      stamp.replaceChildren("Updated at ", h("time", { datetime: at.toISOString() }, at.toLocaleTimeString()));
    } catch (error) {
      if (stopped) return;
      if (error.status === 403) {
        // Not a superuser: say so once, and stop asking.
        stopped = true;
        view.replaceChildren(
          heading("Operations"),
          h(
            "section",
            { class: "card" },
            h("p", { class: "form-error", role: "alert" }, describe(error)),
            h("p", {}, "The operations page shows the jobs of every workspace on this server, so it needs a superuser's account."),
            h("p", {}, h("a", { href: "/" }, "Back to your workspaces")),
          ),
        );
        return;
      }
      problem.textContent = `Could not refresh: ${describe(error)}`;
      problem.hidden = false;
    }
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(async () => {
      // A hidden tab does not need the figures; it catches up when shown again.
      if (!document.hidden) await refresh();
      schedule();
    }, REFRESH_MS);
  }

  const refreshButton = button("Refresh now", () => refresh(), { class: "secondary" });
  view.classList.add("ops");
  view.append(
    heading("Operations", stamp, refreshButton),
    h("p", { class: "muted" }, `Every workspace's jobs on this server, refreshed every ${REFRESH_MS / 1000} seconds while this page is open.`),
    problem,
    tiles,
    section("Queues", queues),
    section("Workers", workers),
    section("Running jobs", running),
    section("Recent failures", failures),
  );
  const stopMarking = focusableScrollers(view);
  await refresh();
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
    stopMarking();
  };
}
