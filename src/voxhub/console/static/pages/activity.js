// A workspace's activity: what happened in it, newest first, in words ("Ana uploaded interview.mp3"). Each member
// sees only what they may read elsewhere (the API decides); a job or a file the entry is about is one click away.

import { api } from "../lib/api.js";
import { focusableScrollers } from "./scrollable.js";
import { h, heading, section, pagedTable, when } from "../lib/dom.js";

const PAGE = 50;

// Where an entry's subject can be opened in the console.
function subject(ws, item) {
  if (item.target_type === "job" && item.target_id) return `/w/${ws.id}/jobs/${item.target_id}`;
  if (item.target_type === "podcast" && item.target_id) return `/w/${ws.id}/podcasts/${item.target_id}`;
  if (item.target_type === "dub" && item.target_id) return `/w/${ws.id}/dubs/${item.target_id}`;
  if (item.target_type === "file") return `/w/${ws.id}/files`;
  return null;
}

export async function activity(view, ctx) {
  const ws = ctx.ws;
  view.append(heading("Activity"), h("p", { class: "muted" }, "What happened in this workspace, newest first. You see what your role lets you read; admins also see keys, webhooks and invitations."));
  const feed = pagedTable(
    [
      ["When", (item) => when(item.created_at)],
      [
        "What happened",
        (item) => {
          const href = subject(ws, item);
          return h("span", { class: "activity-text" }, href ? h("a", { href }, item.text) : item.text);
        },
      ],
    ],
    (cursor) => api.get(`/workspaces/${ws.id}/activity`, { limit: PAGE, cursor }),
    { empty: "Nothing has happened here yet.", caption: "Activity, newest first" },
  );
  view.append(section("Recent activity", feed));
  const stopMarking = focusableScrollers(view);
  await feed.ready;
  return stopMarking;
}
