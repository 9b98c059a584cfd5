// api.js: calls to perfmark's admin API (/api/v1) with the API key the user
// logged in with. The key lives in sessionStorage: it is gone when the tab
// closes and is never put in a URL.

const KEY = 'perfmark.apiKey';

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || 'http_error';
    this.field = e.field || null;
  }
}

export const auth = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set(key) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

// Build a query string; arrays repeat the parameter (filter=a&filter=b),
// empty values are left out.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// request('GET', '/reports', {params, body, as: 'json'|'text'|'blob', key})
// → the parsed answer (null for 204). Throws ApiError for any non-2xx; a
// 401 also fires a 'perfmark:unauthorized' event so the page logs out.
export async function request(method, path, opts = {}) {
  const key = opts.key ?? auth.key;
  const headers = { Accept: opts.as === 'text' || opts.as === 'blob' ? 'text/csv, */*' : 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch('/api/v1' + path + query(opts.params), { method, headers, body, cache: 'no-store' });
  if (!res.ok) {
    let parsed = null;
    try {
      parsed = await res.json();
    } catch {
      parsed = null;
    }
    const err = new ApiError(res.status, parsed);
    if (res.status === 401 && !opts.key) window.dispatchEvent(new CustomEvent('perfmark:unauthorized'));
    throw err;
  }
  if (res.status === 204) return null;
  if (opts.as === 'text') return res.text();
  if (opts.as === 'blob') return res.blob();
  return res.json();
}

export const get = (path, params, opts) => request('GET', path, { ...opts, params });

// Every row of a paged list (limit/after/next), up to `max` rows.
export async function listAll(path, max = 5000) {
  const rows = [];
  let after;
  do {
    const page = await get(path, { limit: 1000, after });
    rows.push(...page.rows);
    after = page.next;
  } while (after !== null && after !== undefined && rows.length < max);
  return rows;
}
