// The console's only way to the server: the public JSON API with the session's bearer key.

const KEY = "gigawatt.apiKey";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function idempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Call the API; resolves to the decoded body, rejects with ApiError({status, code, message}). */
export async function api(path, options = {}) {
  return (await call(path, options)).data;
}

async function call(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  if (method === "POST") headers["Idempotency-Key"] = idempotencyKey();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "unreachable", `cannot reach the server (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) {
    const e = data && typeof data === "object" ? data.error : null;
    const message = e && e.message ? e.message : `HTTP ${response.status}`;
    throw new ApiError(response.status, e && e.code ? e.code : String(response.status), message);
  }
  return { data, next: response.headers.get("X-Next-Cursor") };
}

function rows(body) {
  return Array.isArray(body) ? body : body && Array.isArray(body.data) ? body.data : [];
}

/** A list endpoint's first page as an array (unwraps {data: [...]}). */
export async function list(path, params) {
  return rows(await api(path, { params }));
}

/** Every page of a list endpoint (following X-Next-Cursor), up to maxPages pages. */
export async function listAll(path, params, maxPages = 20) {
  let out = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await call(path, { params: { ...params, cursor } });
    out = out.concat(rows(page.data));
    cursor = page.next;
    if (!cursor) break;
  }
  return out;
}
