// A workspace's people (members, roles, invitations) and its settings (name, retention, leaving, deleting).

import { api } from "../lib/api.js";
import { h, field, form, section, heading, table, when, button, notify, confirmDialog, badge, select } from "../lib/dom.js";

const ROLES = ["viewer", "member", "admin", "owner"];
const RANK = Object.fromEntries(ROLES.map((role, index) => [role, index]));

function isAdmin(ws) {
  return RANK[ws.role] >= RANK.admin;
}

export async function members(view, ctx) {
  const ws = ctx.ws;
  const memberList = h("div");
  const invitationList = h("div");

  async function loadMembers() {
    const page = await api.get(`/workspaces/${ws.id}/members`);
    memberList.replaceChildren(
      table(
        [
          ["Name", (m) => h("span", {}, m.name, m.user_id === ctx.me.id ? " (you)" : "")],
          ["Email", (m) => m.email],
          [
            "Role",
            (m) => {
              if (!isAdmin(ws) || m.user_id === ctx.me.id) return m.role;
              const choice = select({ "aria-label": `Role of ${m.email}` }, ROLES.map((role) => [role, role]), m.role);
              choice.addEventListener("change", async () => {
                try {
                  await api.patch(`/workspaces/${ws.id}/members/${m.user_id}`, { role: choice.value });
                  notify(`${m.email} is now ${choice.value}.`, "success");
                } catch (error) {
                  choice.value = m.role;
                  notify(error.message, "error");
                }
              });
              return choice;
            },
          ],
          ["Joined", (m) => when(m.joined_at)],
          [
            "",
            (m) =>
              isAdmin(ws) && m.user_id !== ctx.me.id
                ? button(
                    "Remove",
                    async () => {
                      if (!(await confirmDialog(`Remove ${m.email} from ${ws.name}?`, { confirm: "Remove", danger: true }))) return;
                      await api.del(`/workspaces/${ws.id}/members/${m.user_id}`);
                      notify(`${m.email} is removed.`, "success");
                      await loadMembers();
                    },
                    { class: "danger small", "aria-label": `Remove ${m.email}` },
                  )
                : "",
          ],
        ],
        page.items,
      ),
    );
  }

  async function loadInvitations() {
    const page = await api.get(`/workspaces/${ws.id}/invitations`);
    invitationList.replaceChildren(
      table(
        [
          ["Email", (i) => i.email],
          ["Role", (i) => i.role],
          ["State", (i) => badge(i.status)],
          ["Sent", (i) => when(i.created_at)],
          ["Expires", (i) => when(i.expires_at)],
          [
            "",
            (i) =>
              i.status === "pending"
                ? h(
                    "div",
                    { class: "actions" },
                    button(
                      "Resend",
                      async () => {
                        await api.post(`/workspaces/${ws.id}/invitations/${i.id}/resend`);
                        notify(`A fresh link is on its way to ${i.email}.`, "success");
                        await loadInvitations();
                      },
                      { class: "secondary small", "aria-label": `Resend the invitation to ${i.email}` },
                    ),
                    button(
                      "Revoke",
                      async () => {
                        await api.del(`/workspaces/${ws.id}/invitations/${i.id}`);
                        notify(`The invitation to ${i.email} is revoked.`, "success");
                        await loadInvitations();
                      },
                      { class: "danger small", "aria-label": `Revoke the invitation to ${i.email}` },
                    ),
                  )
                : "",
          ],
        ],
        page.items,
        { empty: "No invitations." },
      ),
    );
  }

  view.append(heading("Members", h("span", { class: "muted" }, `${ws.name} · you are ${ws.role}`)));
  if (isAdmin(ws)) {
    view.append(
      section(
        "Invite someone",
        form(
          { class: "row" },
          [
            field("Email", { name: "email", type: "email", required: true, autocomplete: "off" }),
            field("Role", {}, { control: select({ name: "role" }, ROLES.filter((role) => role !== "owner" || ws.role === "owner").map((role) => [role, role]), "member") }),
            h("div", { class: "field" }, h("button", { type: "submit" }, "Invite")),
          ],
          async (values, element) => {
            await api.post(`/workspaces/${ws.id}/invitations`, { email: values.email, role: values.role });
            element.reset();
            notify(`Invitation mailed to ${values.email}.`, "success");
            await loadInvitations();
          },
        ),
        h("p", { class: "hint" }, "The link works once, for 7 days. Viewers look; members upload and start jobs; admins manage keys, members and webhooks; owners also billing and deletion."),
      ),
    );
  }
  view.append(section("Members", memberList));
  if (isAdmin(ws)) view.append(section("Invitations", invitationList));
  await loadMembers();
  if (isAdmin(ws)) await loadInvitations();
}

export async function settings(view, ctx) {
  const ws = ctx.ws;
  view.append(heading("Workspace settings"));
  if (isAdmin(ws)) {
    view.append(
      section(
        "General",
        form(
          {},
          [
            field("Name", { name: "name", value: ws.name, required: true, maxlength: 200 }),
            field("Keep files for (days)", { name: "retention_days", type: "number", min: 1, max: 3650, value: ws.retention_days ?? "" }, { hint: "Files older than this are deleted. Leave empty to keep them." }),
            h("button", { type: "submit" }, "Save"),
          ],
          async (values) => {
            await api.patch(`/workspaces/${ws.id}`, { name: values.name, retention_days: values.retention_days ?? null });
            notify("Workspace saved.", "success");
            await ctx.reload();
          },
        ),
      ),
    );
  } else {
    view.append(section("General", h("dl", { class: "facts" }, h("dt", {}, "Name"), h("dd", {}, ws.name), h("dt", {}, "Your role"), h("dd", {}, ws.role))));
  }
  if (!ws.personal) {
    view.append(
      section(
        "Leave this workspace",
        h("p", {}, "You lose access to its files and jobs. The last owner must hand over ownership first."),
        button(
          "Leave workspace",
          async () => {
            if (!(await confirmDialog(`Leave ${ws.name}?`, { confirm: "Leave", danger: true }))) return;
            await api.post(`/workspaces/${ws.id}/leave`);
            history.pushState(null, "", "/");
            await ctx.reload();
          },
          { class: "danger" },
        ),
      ),
    );
  }
  if (ws.role === "owner" && !ws.personal) {
    view.append(
      section(
        "Delete this workspace",
        h("p", {}, "Its files, jobs, keys and webhooks are deleted for everyone."),
        button(
          "Delete workspace",
          async () => {
            if (!(await confirmDialog(`Delete ${ws.name} and everything in it?`, { confirm: "Delete workspace", danger: true }))) return;
            await api.del(`/workspaces/${ws.id}`);
            history.pushState(null, "", "/");
            await ctx.reload();
          },
          { class: "danger" },
        ),
      ),
    );
  }
}
