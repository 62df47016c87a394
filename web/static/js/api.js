// api.js: the JSON API client shared by the dashboard and the review page.
// Same-origin fetch only (the CSP's default-src 'self'); the owner's CSRF
// token rides in X-CSRF-Token on every state-changing request (the browser
// adds Origin itself). Errors become ApiError with the server's client-safe
// message, the status and Retry-After (429/503).

let csrfToken = null;
export function setCsrf(t) { csrfToken = t; }

// Server clock skew in ms (server - client), from the Date header: the page
// schedules URL refreshes against the server's clock, not the visitor's.
export let serverSkewMs = 0;

export class ApiError extends Error {
  constructor(status, message, body, retryAfter) {
    super(message);
    this.status = status;
    this.body = body || {};
    this.retryAfter = retryAfter;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let r;
  try {
    r = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'the server cannot be reached: check your connection and try again');
  }
  const date = Date.parse(r.headers.get('Date') || '');
  if (Number.isFinite(date)) serverSkewMs = date - Date.now();
  let json = null;
  const text = await r.text();
  if (text) { try { json = JSON.parse(text); } catch { json = null; } }
  if (!r.ok) {
    const ra = Number(r.headers.get('Retry-After')) || 0;
    let msg = (json && json.error) || `${r.status} ${r.statusText}`;
    if (r.status === 429 && ra && !/try again/.test(msg)) msg += `: try again in ${ra} s`;
    throw new ApiError(r.status, msg, json, ra);
  }
  return json;
}

export const get = (p) => api('GET', p);
export const post = (p, b = {}) => api('POST', p, b);
export const put = (p, b = {}) => api('PUT', p, b);
export const patch = (p, b = {}) => api('PATCH', p, b);
export const del = (p, b) => api('DELETE', p, b);

// Now on the server's clock, in seconds.
export const serverNowS = () => (Date.now() + serverSkewMs) / 1000;
