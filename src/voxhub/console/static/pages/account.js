// The signed-in person: profile, password, their workspaces, where they are signed in and their security events (the
// Security page's own sections), and deleting the account.

import { api, signOut } from "../lib/api.js";
import { h, field, form, section, heading, table, notify, confirmDialog, link, select } from "../lib/dom.js";
import { passwordSection } from "./auth.js";
import { sessionsSection, eventsSection } from "./security.js";

function profileSection(ctx) {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  if (!zones.includes("UTC")) zones.unshift("UTC");
  if (!zones.includes(ctx.me.timezone)) zones.unshift(ctx.me.timezone);
  return section(
    "Profile",
    form(
      {},
      [
        field("Name", { name: "name", value: ctx.me.name, required: true, maxlength: 200, autocomplete: "name" }),
        field("Email", { name: "email_shown", value: ctx.me.email, readonly: true, disabled: true }, { hint: ctx.me.email_verified ? "Verified." : "Not verified yet." }),
        field("Time zone", {}, { control: select({ name: "timezone" }, zones.map((zone) => [zone, zone]), ctx.me.timezone) }),
        h("button", { type: "submit" }, "Save profile"),
      ],
      async (values) => {
        await api.patch(`/me`, { name: values.name, timezone: values.timezone });
        notify("Profile saved.", "success");
        await ctx.reload();
      },
    ),
  );
}

function workspacesSection(ctx) {
  return section(
    "Your workspaces",
    table(
      [
        ["Name", (ws) => link(`/w/${ws.id}/files`, ws.name)],
        ["Your role", (ws) => ws.role],
        ["Kind", (ws) => (ws.personal ? "personal" : "shared")],
      ],
      ctx.workspaces,
    ),
    h("h3", {}, "Create a workspace"),
    form(
      { class: "row" },
      [field("Workspace name", { name: "name", required: true, maxlength: 200 }), h("div", { class: "field" }, h("button", { type: "submit" }, "Create workspace"))],
      async (values) => {
        const workspace = await api.post(`/workspaces`, { name: values.name });
        history.pushState(null, "", `/w/${workspace.id}/members`);
        await ctx.reload();
      },
    ),
  );
}

function deleteSection(ctx) {
  return section(
    "Delete your account",
    h("p", {}, "Your personal workspace and its files go with it. If you are the only owner of a shared workspace, hand it over first."),
    form(
      {},
      [
        field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }, { hint: "To confirm it is you." }),
        h("button", { type: "submit", class: "danger" }, "Delete my account"),
      ],
      async (values) => {
        if (!(await confirmDialog("Delete your account for good? This cannot be undone.", { confirm: "Delete account", danger: true }))) return;
        await api.del(`/me`, { password: values.password });
        await signOut();
        history.pushState(null, "", "/login");
        await ctx.reload();
      },
    ),
  );
}

export async function account(view, ctx) {
  view.append(
    heading("Your account"),
    h("div", { class: "grid" }, profileSection(ctx), passwordSection()),
    workspacesSection(ctx),
    sessionsSection(),
    eventsSection(),
    deleteSection(ctx),
  );
}
