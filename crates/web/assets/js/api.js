// The REST API client: the session cookie authenticates, the CSRF token (readable cookie
// `cairn_csrf`) is echoed on every state-changing request. A public dashboard page passes its
// share token as `api_key` instead.

import { ResultData } from './results.js';

let publicKey = null;

/** Makes every later request carry `?api_key=<token>` (public dashboard pages). */
export function usePublicKey(token) { publicKey = token; }

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)cairn_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : '';
}

/** Whether this browser holds a session (the CSRF cookie comes with it). */
export function hasSession() { return csrfToken() !== ''; }

/** An API failure with the server's message. */
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** Adds the public key to `path` when one is in use. */
export function withKey(path) {
  if (!publicKey) return path;
  return path + (path.includes('?') ? '&' : '?') + 'api_key=' + encodeURIComponent(publicKey);
}

/** Calls the API; resolves to the parsed JSON, rejects with an ApiError. */
export async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrfToken();
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(withKey(path), opts);
  } catch (e) {
    throw new ApiError(0, 'The server cannot be reached: ' + e.message);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (!resp.ok) {
    if (resp.status === 401 && !publicKey && location.hash !== '#/login') location.hash = '#/login';
    throw new ApiError(resp.status, (data && data.message) || resp.statusText);
  }
  return data;
}

export const get = path => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const del = path => api('DELETE', path);

const STATUS = { 1: 'Waiting in queue', 2: 'Running', 3: 'Done', 4: 'Failed', 5: 'Cancelled' };
export const jobStatusText = s => STATUS[s] || 'Unknown';

/** Polls job `job` until it is final; resolves to the finished job, rejects with its error. */
export async function waitJob(job) {
  while (job.status === 1 || job.status === 2) {
    await new Promise(r => setTimeout(r, 250));
    job = (await get('/api/jobs/' + job.id)).job;
  }
  if (job.status !== 3) throw new ApiError(200, job.error || 'The job failed.');
  return job;
}

/** The schema of data source `id` (`refresh`: read again from the database). */
export async function fetchSchema(id, refresh = false) {
  let r = await get(`/api/data_sources/${id}/schema${refresh ? '?refresh=true' : ''}`);
  if (r.job) {
    await waitJob(r.job);
    r = await get(`/api/data_sources/${id}/schema`);
  }
  return r.schema || [];
}

/**
 * Follows a run: `response` is `{query_result}` (a cache hit, as a summary when the run asked
 * `summary_only`) or `{job}`. Polls the job, calling `onJob(job)` on every change, until it is
 * final; resolves to the result's ResultData (`access`: see ResultData), rejects with an
 * ApiError holding the database's error text.
 */
export async function followRun(response, onJob, isCancelled = () => false, access = '') {
  if (response.query_result) {
    const r = response.query_result;
    return r.data ? ResultData.load(r.id, access) : new ResultData(r, access);
  }
  let job = response.job;
  const started = Date.now();
  while (true) {
    onJob && onJob(job, Date.now() - started);
    if (job.status === 3) break;
    if (job.status === 4 || job.status === 5) throw new ApiError(200, job.error || 'The query failed.');
    if (isCancelled()) throw new ApiError(0, 'Query cancelled by user.');
    await new Promise(r => setTimeout(r, 250));
    job = (await get('/api/jobs/' + job.id)).job;
  }
  return ResultData.load(job.query_result_id, access);
}

/** The URL query a shared dashboard's key adds to read the result of query `id` run with `values`. */
export function resultAccess(id, values = {}) {
  const p = new URLSearchParams({ query_id: id });
  for (const [k, v] of Object.entries(values)) p.set('p_' + k, v);
  return p.toString();
}
