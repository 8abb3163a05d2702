// The console's entry: which page each address shows, the frame around the pages, and who is signed in.
//
// A page is an async function `(view, ctx)` exported by a module in pages/: it fills `view` (an empty element) and
// may return a function to run when the page is left (to close an event stream, stop a player). `ctx` holds
// `params` (from the address pattern), `query` (URLSearchParams), `me` (the signed-in user or null), `workspaces`,
// `ws` (the workspace the address names), `preferredWorkspace` (the last used, else the personal one),
// `navigate(path)` and `reload()` (re-read me and workspaces, redraw).

import { api, all, onSignedOut, refresh, signOut } from "./lib/api.js";
import { h, append, notify, describe, select } from "./lib/dom.js";

const PUBLIC = true;
// [pattern, module, export, title, public?]
const ROUTES = [
  ["/login", "auth", "login", "Sign in", PUBLIC],
  ["/signup", "auth", "signup", "Create an account", PUBLIC],
  ["/forgot-password", "auth", "forgotPassword", "Reset your password", PUBLIC],
  ["/reset-password", "auth", "resetPassword", "Choose a new password", PUBLIC],
  ["/verify-email", "auth", "verifyEmail", "Verify your email", PUBLIC],
  ["/accept-invitation", "auth", "acceptInvitation", "Invitation", PUBLIC],
  ["/revoke-session", "security", "revokeSession", "Sign a session out", PUBLIC],
  ["/unsubscribe", "email", "unsubscribe", "Unsubscribe", PUBLIC],
  ["/", "home", "home", "voxhub"],
  ["/account", "account", "account", "Your account"],
  ["/security", "security", "security", "Security"],
  ["/email", "email", "preferences", "Email"],
  ["/admin", "admin", "operations", "Operations"],
  ["/admin/email", "email", "allEmail", "All mail"],
  ["/billing/success", "billing", "checkoutReturn", "Payment"],
  ["/billing/canceled", "billing", "checkoutReturn", "Payment"],
  ["/w/:ws", "home", "workspaceHome", "Workspace"],
  ["/w/:ws/files", "files", "files", "Files"],
  ["/w/:ws/jobs", "jobs", "jobs", "Jobs"],
  ["/w/:ws/jobs/new", "jobs", "newJob", "Start a job"],
  ["/w/:ws/jobs/:job", "jobs", "job", "Job"],
  ["/w/:ws/transcripts/:job", "transcript", "transcript", "Transcript"],
  ["/w/:ws/search", "search", "search", "Search"],
  ["/w/:ws/speak", "speak", "speak", "Speak"],
  ["/w/:ws/podcasts", "podcasts", "podcasts", "Podcasts"],
  ["/w/:ws/podcasts/:podcast", "podcasts", "podcast", "Podcast episode"],
  ["/w/:ws/dubs", "dubs", "dubs", "Dubbing"],
  ["/w/:ws/dubs/:dub", "dubs", "dub", "Dub"],
  ["/w/:ws/billing", "billing", "billing", "Billing"],
  ["/w/:ws/members", "workspace", "members", "Members"],
  ["/w/:ws/settings", "workspace", "settings", "Workspace settings"],
  ["/w/:ws/labels", "labels", "labels", "Tags and fields"],
  ["/w/:ws/api-keys", "keys", "apiKeys", "API keys"],
  ["/w/:ws/provider-keys", "keys", "providerKeys", "Provider keys"],
  ["/w/:ws/shares", "shares", "shares", "Shares"],
  ["/w/:ws/webhooks", "webhooks", "webhooks", "Webhooks"],
  ["/w/:ws/webhooks/:webhook", "webhooks", "webhook", "Webhook"],
  ["/w/:ws/activity", "activity", "activity", "Activity"],
  ["/w/:ws/audit", "audit", "audit", "Audit log"],
  ["/w/:ws/email-log", "email", "workspaceEmailLog", "Email log"],
];

// The workspace menu: [path under /w/:ws, label].
const WORKSPACE_NAV = [
  ["/files", "Files"],
  ["/jobs", "Jobs"],
  ["/search", "Search"],
  ["/speak", "Speak"],
  ["/podcasts", "Podcasts"],
  ["/dubs", "Dubbing"],
  ["/shares", "Shares"],
  ["/activity", "Activity"],
  ["/billing", "Billing"],
  ["/members", "Members"],
  ["/api-keys", "API keys"],
  ["/provider-keys", "Provider keys"],
  ["/webhooks", "Webhooks"],
  ["/labels", "Tags and fields"],
  ["/audit", "Audit log"],
  ["/email-log", "Email log"],
  ["/settings", "Settings"],
];

const state = { me: null, workspaces: [], cleanup: null, rendering: 0 };

function match(pathname) {
  const parts = pathname.replace(/\/+$/, "").split("/").filter(Boolean);
  for (const [pattern, module, name, title, isPublic] of ROUTES) {
    const want = pattern.split("/").filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    let ok = true;
    want.forEach((segment, index) => {
      if (segment.startsWith(":")) params[segment.slice(1)] = decodeURIComponent(parts[index]);
      else if (segment !== parts[index]) ok = false;
    });
    if (ok) return { module, name, title, isPublic: Boolean(isPublic), params };
  }
  return null;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

async function loadSession() {
  try {
    state.me = await api.get(`/me`);
    state.workspaces = await all(`/workspaces`);
  } catch {
    state.me = null;
    state.workspaces = [];
  }
}

function lastWorkspace() {
  let id = null;
  try {
    id = localStorage.getItem("voxhub.workspace");
  } catch {
    id = null;
  }
  return state.workspaces.find((ws) => ws.id === id) || state.workspaces.find((ws) => ws.personal) || state.workspaces[0];
}

function themeToggle() {
  const root = document.documentElement;
  const current = () => root.dataset.theme || "light";
  const button = h("button", { type: "button", class: "ghost theme-toggle" });
  const label = () => {
    const next = current() === "dark" ? "light" : "dark";
    button.textContent = next === "dark" ? "☾" : "☀";
    button.setAttribute("aria-label", `Use the ${next} theme`);
    button.title = `Use the ${next} theme`;
  };
  button.addEventListener("click", () => {
    const next = current() === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try {
      localStorage.setItem("voxhub.theme", next);
    } catch {
      /* storage disabled: the choice lasts this page */
    }
    label();
  });
  label();
  return button;
}

function frame(route, ws) {
  const app = document.getElementById("app");
  const view = h("div", { id: "view" });
  const notices = h("div", { id: "notices", class: "notices", "aria-live": "polite" });
  if (route.isPublic || !state.me) {
    app.replaceChildren(
      h(
        "div",
        { class: "public-shell" },
        h("header", { class: "public-head" }, h("a", { href: "/", class: "brand" }, h("img", { src: "/console/icon.svg", alt: "" }), "voxhub"), themeToggle()),
        h("main", { id: "main", tabindex: "-1", class: "public-main" }, view),
      ),
      notices,
    );
    return view;
  }
  const workspace = ws || lastWorkspace();
  const switcher = select(
    { id: "workspace-switch", "aria-label": "Workspace" },
    state.workspaces.map((item) => [item.id, item.personal ? `${item.name} (personal)` : item.name]),
    workspace && workspace.id,
  );
  switcher.addEventListener("change", () => {
    const rest = ws ? location.pathname.split("/").slice(3, 4).join("/") : "files";
    navigate(`/w/${switcher.value}/${rest || "files"}`);
  });
  const here = location.pathname;
  const leave = async () => {
    await signOut();
    state.me = null;
    navigate("/login");
  };
  const navLink = (href, label) =>
    h("a", { href, "aria-current": here === href || here.startsWith(href + "/") ? "page" : false }, label);
  const nav = h(
    "nav",
    { class: "sidebar", id: "sidebar", "aria-label": "Main" },
    workspace ? h("ul", {}, WORKSPACE_NAV.map(([path, label]) => h("li", {}, navLink(`/w/${workspace.id}${path}`, label)))) : null,
    h(
      "ul",
      { class: "nav-foot" },
      h("li", {}, navLink("/account", "Your account")),
      h("li", {}, navLink("/security", "Security")),
      h("li", {}, navLink("/email", "Email")),
      state.me.is_superuser ? h("li", {}, navLink("/admin", "Operations")) : null,
      h("li", {}, h("a", { href: "/docs" }, "API docs")),
      h("li", { class: "signout-nav" }, h("button", { type: "button", class: "ghost", onclick: leave }, "Sign out")),
    ),
  );
  const menu = h("button", { type: "button", class: "ghost menu-toggle", "aria-controls": "sidebar", "aria-expanded": "false" }, "Menu");
  menu.addEventListener("click", () => {
    const open = menu.getAttribute("aria-expanded") !== "true";
    menu.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
  const signOutButton = h("button", { type: "button", class: "ghost signout-top", onclick: leave }, "Sign out");
  const banner = state.me.email_verified
    ? null
    : h(
        "div",
        { class: "banner", role: "status" },
        `Verify ${state.me.email} to start jobs: open the link we mailed you. `,
        h(
          "button",
          {
            type: "button",
            class: "link",
            onclick: async () => {
              await api.post(`/auth/resend-verification`, { email: state.me.email }, { anonymous: true });
              notify("A new verification link is on its way.");
            },
          },
          "Send it again",
        ),
      );
  app.replaceChildren();
  append(app, [
    h(
      "header",
      { class: "topbar" },
      menu,
      h("a", { href: workspace ? `/w/${workspace.id}/files` : "/", class: "brand" }, h("img", { src: "/console/icon.svg", alt: "" }), "voxhub"),
      state.workspaces.length ? switcher : null,
      h("div", { class: "spacer" }),
      themeToggle(),
      h("a", { href: "/account", class: "who" }, state.me.name || state.me.email),
      signOutButton,
    ),
    banner,
    h("div", { class: "shell" }, nav, h("main", { id: "main", tabindex: "-1" }, view)),
    notices,
  ]);
  return view;
}

async function render() {
  const ticket = ++state.rendering;
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch {
      /* a page's cleanup must not stop the next page */
    }
    state.cleanup = null;
  }
  const route = match(location.pathname);
  if (!route) {
    const view = frame({ isPublic: !state.me }, null);
    view.append(h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, "Nothing lives at this address. ", h("a", { href: "/" }, "Go to the start")));
    document.title = "Not found — voxhub";
    return;
  }
  if (!route.isPublic && !state.me) {
    const next = location.pathname + location.search;
    navigate(`/login?next=${encodeURIComponent(next)}`, { replace: true });
    return;
  }
  let ws = null;
  if (route.params.ws) {
    ws = state.workspaces.find((item) => item.id === route.params.ws) || null;
    if (!ws) {
      const view = frame(route, null);
      view.append(h("h1", { tabindex: "-1" }, "Workspace not found"), h("p", {}, "It does not exist or you are not a member. ", h("a", { href: "/" }, "Go to your workspaces")));
      return;
    }
    try {
      localStorage.setItem("voxhub.workspace", ws.id);
    } catch {
      /* storage disabled */
    }
  }
  const view = frame(route, ws);
  document.title = `${route.title} — voxhub`;
  const ctx = {
    params: route.params,
    query: new URLSearchParams(location.search),
    me: state.me,
    workspaces: state.workspaces,
    ws,
    preferredWorkspace: lastWorkspace(),
    navigate,
    reload: async () => {
      await loadSession();
      render();
    },
  };
  try {
    const module = await import(`./pages/${route.module}.js`);
    if (ticket !== state.rendering) return;
    const cleanup = await module[route.name](view, ctx);
    if (ticket !== state.rendering) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    state.cleanup = typeof cleanup === "function" ? cleanup : null;
  } catch (error) {
    view.append(h("h1", { tabindex: "-1" }, route.title), h("p", { class: "form-error", role: "alert" }, describe(error)));
  }
  const title = view.querySelector("h1");
  if (title && document.activeElement === document.body) title.focus({ preventScroll: true });
  else if (title && !view.contains(document.activeElement)) title.focus({ preventScroll: true });
}

// Links inside the console change the page without reloading it.
document.addEventListener("click", (event) => {
  const anchor = event.target.closest && event.target.closest("a[href]");
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  if (anchor.target || anchor.hasAttribute("download")) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || !match(url.pathname)) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener("popstate", render);

// Called by pages after signing in or out, creating or leaving a workspace.
export async function reloadSession() {
  await loadSession();
}

onSignedOut(() => {
  if (state.me) {
    state.me = null;
    notify("You have been signed out.", "error");
    navigate(`/login?next=${encodeURIComponent(location.pathname)}`, { replace: true });
  }
});

async function boot() {
  if (await refresh()) await loadSession();
  render();
}

boot();
