// Signing up, in and back: the pages the mailed links open (verify email, reset password, accept an invitation) do
// their work themselves, so a link from a mail is one click.

import { api, signIn } from "../lib/api.js";
import { h, field, form, section, describe, link, notify } from "../lib/dom.js";

const PASSWORD_HINT = "At least 10 characters.";

function card(title, ...children) {
  return h("div", { class: "card" }, h("h1", { tabindex: "-1" }, title), children);
}

// Where to go after signing in: the `next` address when it is one of ours, else the start.
function nextPath(ctx) {
  const next = ctx.query.get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

async function enter(ctx, path) {
  history.replaceState(null, "", path);
  await ctx.reload();
}

export async function login(view, ctx) {
  if (ctx.me) return enter(ctx, nextPath(ctx));
  view.append(
    card(
      "Sign in to voxhub",
      form(
        {},
        [
          field("Email", { name: "email", type: "email", autocomplete: "email", required: true, autofocus: true }),
          field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
          h("button", { type: "submit", class: "primary wide" }, "Sign in"),
        ],
        async (values) => {
          await signIn(values.email, values.password);
          await enter(ctx, nextPath(ctx));
        },
      ),
      h("p", { class: "alt" }, link("/forgot-password", "Forgot your password?")),
    ),
    h("p", { class: "alt" }, "New here? ", link("/signup" + location.search, "Create an account")),
  );
}

export async function signup(view, ctx) {
  const invitation = ctx.query.get("invitation");
  let preview = null;
  if (invitation) {
    try {
      preview = await api.get(`/invitations/preview`, { token: invitation }, { anonymous: true });
    } catch (error) {
      view.append(card("Create an account", h("p", { class: "form-error", role: "alert" }, describe(error))));
    }
  }
  const done = h("div", { class: "success-box", role: "status", hidden: true });
  const signupForm = form(
    {},
    [
      field("Name", { name: "name", autocomplete: "name", required: true, maxlength: 200 }),
      field("Email", {
        name: "email",
        type: "email",
        autocomplete: "email",
        required: true,
        value: preview ? preview.email : "",
        readonly: Boolean(preview),
      }),
      field("Password", { name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 10 }, { hint: PASSWORD_HINT }),
      h("button", { type: "submit", class: "primary wide" }, "Create account"),
    ],
    async (values) => {
      await api.post(`/auth/signup`, { ...values, invitation_token: invitation || undefined }, { anonymous: true });
      if (preview) {
        // An invitation link proves the mailbox: the account is verified and in the workspace already.
        await signIn(values.email, values.password);
        await enter(ctx, `/w/${preview.workspace_id}/files`);
        return;
      }
      signupForm.hidden = true;
      done.replaceChildren(
        h("strong", {}, "Check your mail. "),
        `We sent a link to ${values.email} to verify the address. You can `,
        link("/login", "sign in"),
        " meanwhile; starting jobs waits for the verification.",
        h("small", { class: "hint" }, "Running voxhub yourself with no mail server? The mail is in its data folder: ", h("code", {}, "voxhub admin latest-mail --link"), " prints the link."),
      );
      done.hidden = false;
    },
  );
  view.append(
    card(
      preview ? `Join ${preview.workspace_name}` : "Create your voxhub account",
      preview ? h("p", {}, `You were invited as ${preview.role}. Create your account to join.`) : null,
      signupForm,
      done,
    ),
    h("p", { class: "alt" }, "Have an account? ", link("/login" + location.search, "Sign in")),
  );
}

export async function verifyEmail(view, ctx) {
  const token = ctx.query.get("token");
  const status = h("p", { role: "status" }, "Verifying your email…");
  view.append(card("Verify your email", status));
  if (!token) {
    status.replaceWith(h("p", { class: "form-error", role: "alert" }, "This link has no token. Open the link from the mail again."));
    return;
  }
  try {
    const user = await api.post(`/auth/verify-email`, { token }, { anonymous: true });
    status.replaceWith(
      h(
        "div",
        { class: "success-box", role: "status" },
        h("p", {}, `${user.email} is verified.`),
        ctx.me ? link("/", "Go to the console") : link("/login", "Sign in", { class: "button primary" }),
      ),
    );
    if (ctx.me) await ctx.reload();
  } catch (error) {
    status.replaceWith(
      h(
        "div",
        {},
        h("p", { class: "form-error", role: "alert" }, describe(error)),
        h("p", {}, "Links work once and expire. ", link("/login", "Sign in"), " to ask for a new one."),
      ),
    );
  }
}

export async function forgotPassword(view) {
  const done = h("p", { class: "success-box", role: "status", hidden: true });
  const resetForm = form(
    {},
    [
      field("Email", { name: "email", type: "email", autocomplete: "email", required: true }),
      h("button", { type: "submit", class: "primary wide" }, "Mail me a reset link"),
    ],
    async (values) => {
      const answer = await api.post(`/auth/password-reset`, { email: values.email }, { anonymous: true });
      resetForm.hidden = true;
      done.textContent = answer.message;
      done.hidden = false;
    },
  );
  view.append(card("Reset your password", resetForm, done), h("p", { class: "alt" }, link("/login", "Back to sign in")));
}

export async function resetPassword(view, ctx) {
  const token = ctx.query.get("token");
  const done = h("div", { class: "success-box", role: "status", hidden: true });
  const resetForm = form(
    {},
    [
      field("New password", { name: "new_password", type: "password", autocomplete: "new-password", required: true, minlength: 10 }, { hint: PASSWORD_HINT }),
      h("button", { type: "submit", class: "primary wide" }, "Set password"),
    ],
    async (values) => {
      await api.post(`/auth/password-reset/confirm`, { token, new_password: values.new_password }, { anonymous: true });
      resetForm.hidden = true;
      done.replaceChildren(h("p", {}, "Your password is changed and every session is signed out."), link("/login", "Sign in", { class: "button primary" }));
      done.hidden = false;
    },
  );
  view.append(card("Choose a new password", token ? resetForm : h("p", { class: "form-error" }, "This link has no token."), done));
}

export async function acceptInvitation(view, ctx) {
  const token = ctx.query.get("token");
  let preview;
  try {
    preview = await api.get(`/invitations/preview`, { token: token || "" }, { anonymous: true });
  } catch (error) {
    view.append(card("Invitation", h("p", { class: "form-error", role: "alert" }, describe(error)), h("p", {}, link("/", "Go to voxhub"))));
    return;
  }
  const what = h("p", {}, `You are invited to the workspace `, h("strong", {}, preview.workspace_name), ` as ${preview.role}, for ${preview.email}.`);
  if (!ctx.me) {
    const here = encodeURIComponent(location.pathname + location.search);
    view.append(
      card(
        `Join ${preview.workspace_name}`,
        what,
        h(
          "div",
          { class: "actions" },
          link(`/signup?invitation=${encodeURIComponent(token)}`, "Create an account", { class: "button primary" }),
          link(`/login?next=${here}`, "I have an account: sign in", { class: "button secondary" }),
        ),
      ),
    );
    return;
  }
  const mismatch = ctx.me.email !== preview.email;
  view.append(
    card(
      `Join ${preview.workspace_name}`,
      what,
      mismatch ? h("p", { class: "form-error" }, `You are signed in as ${ctx.me.email}; this invitation is for ${preview.email}. Sign out and sign in with that address.`) : null,
      form({}, [h("button", { type: "submit", class: "primary", disabled: mismatch }, "Accept invitation")], async () => {
        const workspace = await api.post(`/invitations/accept`, { token });
        await enter(ctx, `/w/${workspace.id}/files`);
      }),
    ),
  );
}

// Shown by the account page too.
export function passwordSection() {
  return section(
    "Change password",
    form(
      {},
      [
        field("Current password", { name: "current_password", type: "password", autocomplete: "current-password", required: true }),
        field("New password", { name: "new_password", type: "password", autocomplete: "new-password", required: true, minlength: 10 }, { hint: PASSWORD_HINT + " Your other sessions are signed out." }),
        h("button", { type: "submit" }, "Change password"),
      ],
      async (values, element) => {
        await api.post(`/me/password`, values);
        element.reset();
        notify("Password changed; your other sessions are signed out.", "success");
      },
    ),
  );
}
