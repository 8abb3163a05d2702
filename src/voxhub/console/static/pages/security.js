// Security for the signed-in person: where they are signed in (device and place of each session, signing one out)
// and their security events with places; and the page a sign-in alert's "this was not me" link opens, which signs
// that session out without signing in.

import { api } from "../lib/api.js";
import { h, section, heading, table, pagedTable, when, button, notify, badge, describe, link } from "../lib/dom.js";

const EVENTS = {
  "login.failed": "Failed sign-in",
  "login.locked_out": "Sign-ins locked",
  "login.unrecognized": "Sign-in from a new country or device",
  "session.revoked": "Session signed out",
  "session.revoked_from_alert": "Session signed out from an alert",
  "refresh_token.reused": "Refresh token reused: session ended",
  "password.changed": "Password changed",
  "password.reset": "Password reset",
  "password.reset_requested": "Password reset asked for",
  "api_key.created": "API key created",
  "api_key.revoked": "API key revoked",
};

// "Lisbon, Portugal", "Portugal", or a dash for private and unknown addresses.
export function place(p) {
  if (!p) return h("span", { class: "muted", title: "A private or unknown address" }, "—");
  return h("span", { title: p.country }, p.city ? `${p.city}, ${p.country_name}` : p.country_name);
}

export function sessionsSection() {
  const holder = h("div");
  async function load() {
    const page = await api.get(`/auth/sessions`);
    holder.replaceChildren(
      table(
        [
          ["Device", (s) => h("span", { title: s.user_agent }, s.device, s.current ? " " : "", s.current ? badge("this one", "active") : null)],
          ["Place", (s) => place(s.place)],
          ["IP", (s) => s.ip || "—"],
          ["Signed in", (s) => when(s.created_at)],
          ["Last used", (s) => when(s.last_used_at)],
          [
            "",
            (s) =>
              s.current
                ? ""
                : button(
                    "Sign out",
                    async () => {
                      await api.del(`/auth/sessions/${s.id}`);
                      notify("That session is signed out.", "success");
                      await load();
                    },
                    { class: "secondary small", "aria-label": `Sign out ${s.device} from ${s.place ? s.place.country_name : s.ip || "an unknown place"}` },
                  ),
          ],
        ],
        page.items,
        { empty: "No sessions.", caption: "Your sessions" },
      ),
    );
  }
  load().catch((error) => holder.replaceChildren(h("p", { class: "form-error" }, describe(error))));
  return section("Where you are signed in", h("p", { class: "muted" }, "A session you do not recognise? Sign it out, then change your password."), holder);
}

export function eventsSection() {
  return section(
    "Security events",
    h("p", { class: "muted" }, "Failed sign-ins, sign-ins from a new country or device, password changes, API keys and sessions ended, newest first."),
    pagedTable(
      [
        ["When", (e) => when(e.created_at)],
        ["Event", (e) => h("span", { title: e.kind }, EVENTS[e.kind] || e.kind)],
        ["Place", (e) => place(e.place)],
        ["IP", (e) => e.ip || "—"],
        ["Browser or app", (e) => (e.details && e.details.device) || e.user_agent || "—"],
      ],
      (cursor) => api.get(`/me/security-events`, { cursor, limit: 20 }),
      { empty: "No security events yet.", caption: "Your security events" },
    ),
  );
}

export async function security(view) {
  view.append(heading("Security"), sessionsSection(), eventsSection());
}

// Opened from a sign-in alert's link: one button, so a mail scanner following the link signs nothing out.
export async function revokeSession(view, ctx) {
  const token = ctx.query.get("token");
  const body = h("div", { class: "card" }, h("h1", { tabindex: "-1" }, "Was this not you?"));
  view.append(body);
  if (!token) {
    body.append(h("p", { class: "form-error", role: "alert" }, "This link has no token. Open the link from the mail again."));
    return;
  }
  const status = h("div", { role: "status" });
  body.append(
    h("p", {}, "Sign out the session the mail told you about. Nothing else of your account changes, and you do not need to sign in."),
    button(
      "Sign that session out",
      async (element) => {
        try {
          const done = await api.post(`/auth/sessions/revoke-from-alert`, { token }, { anonymous: true });
          element.remove();
          status.replaceChildren(
            h(
              "div",
              { class: "success-box" },
              h("p", {}, done.status === "revoked" ? "That session is signed out." : "That session was already signed out."),
              h("p", {}, "If you did not sign in, change your password now: ", link("/forgot-password", "reset your password"), "."),
            ),
          );
        } catch (error) {
          status.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error)));
        }
      },
      { class: "danger" },
    ),
    status,
  );
}
