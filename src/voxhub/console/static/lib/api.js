// The console's only way to the server: the public /api/v1, as any client would call it.
//
// Paths are written as template literals starting with "/" right after `api.get(`, `api.post(` and the rest
// (tests/console/test_api_calls.py checks every one of them against /openapi.json, so the console cannot call
// what the API does not document). The access token lives in this module's memory only; the refresh token is an
// httpOnly cookie this script never sees, spent through /auth/browser/refresh with the CSRF cookie's value echoed
// in a header. Tabs share that cookie, so refreshes are serialised across tabs with the Web Locks API: a refresh
// token presented twice would sign the login out.

const BASE = "/api/v1";
const CSRF_COOKIE = "vx_csrf";

let accessToken = null;
let expiresAt = 0;
const signedOutListeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || "http_" + status;
    this.details = error.details || {};
  }

  // "field: message" lines for a 422's field errors, else the message.
  describe() {
    const fields = this.details && this.details.fields;
    if (Array.isArray(fields) && fields.length) {
      return fields.map((f) => (f.field ? `${f.field}: ${f.message}` : f.message)).join("\n");
    }
    return this.message;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

function keep(body) {
  accessToken = body.access_token;
  expiresAt = Date.now() + body.expires_in * 1000;
}

async function refreshNow() {
  const csrf = cookie(CSRF_COOKIE);
  if (!csrf) return false;
  const response = await fetch(`${BASE}/auth/browser/refresh`, {
    method: "POST",
    headers: { "X-CSRF-Token": csrf },
    credentials: "same-origin",
  });
  if (!response.ok) {
    accessToken = null;
    return false;
  }
  keep(await response.json());
  return true;
}

let refreshing = null;

// A fresh access token from the cookie; false when this browser is not signed in.
export function refresh() {
  if (!refreshing) {
    const run = () => refreshNow();
    const locked = navigator.locks ? navigator.locks.request("voxhub-refresh", run) : run();
    refreshing = locked.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// The access token, refreshed when it is about to expire; null when signed out.
export async function currentToken() {
  if (!accessToken || Date.now() > expiresAt - 30_000) await refresh();
  return accessToken;
}

export function onSignedOut(listener) {
  signedOutListeners.add(listener);
}

function query(params) {
  if (!params) return "";
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => search.append(key, item));
    else search.append(key, String(value));
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

async function request(method, path, { body, params, anonymous = false, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let refreshed = false;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (!anonymous) {
      const token = await currentToken();
      if (token) init.headers.Authorization = `Bearer ${token}`;
    }
    const response = await fetch(BASE + path + query(params), init);
    if (response.status === 401 && !anonymous && !refreshed) {
      refreshed = true;
      if (await refresh()) continue;
    }
    // Past the plan's requests a minute nothing was done, so waiting as told and asking again is safe for any
    // method; a long wait is left to the person.
    const wait = Number(response.headers.get("retry-after"));
    if (response.status === 429 && attempt < 3 && wait > 0 && wait <= 15) {
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    if (response.status === 401 && !anonymous) signedOutListeners.forEach((listener) => listener());
    if (!response.ok) {
      let payload = null;
      try {
        payload = await response.json();
      } catch {
        payload = null;
      }
      throw new ApiError(response.status, payload);
    }
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }
  return null;
}

export const api = {
  get: (path, params, options) => request("GET", path, { ...options, params }),
  post: (path, body, options) => request("POST", path, { ...options, body }),
  put: (path, body, options) => request("PUT", path, { ...options, body }),
  patch: (path, body, options) => request("PATCH", path, { ...options, body }),
  del: (path, body, options) => request("DELETE", path, { ...options, body }),
};

// Every page of a `{items, next_cursor}` list, up to `limit` items.
export async function all(path, params = {}, limit = 1000) {
  const items = [];
  let cursor = null;
  do {
    const page = await api.get(path, { ...params, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < limit);
  return items;
}

export async function signIn(email, password) {
  const response = await fetch(`${BASE}/auth/browser/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
    credentials: "same-origin",
  });
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload);
  keep(payload);
}

export async function signOut() {
  const csrf = cookie(CSRF_COOKIE);
  accessToken = null;
  if (csrf) {
    await fetch(`${BASE}/auth/browser/logout`, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf },
      credentials: "same-origin",
    }).catch(() => null);
  }
}
