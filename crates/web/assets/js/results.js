// Query results without loading them whole: a result is its summary (columns, row count) plus
// rows read a page at a time from the server (`GET /api/query_results/<id>/rows`), so a result
// of any size costs the browser one page. The table pages through it; charts read at most
// CHART_MAX_ROWS rows and say so when the result has more. Downloads stream from the server.

import { h, mount, errorBox } from './ui.js';
import { get, withKey } from './api.js';

/** Rows one table page shows. */
export const ROWS_PER_PAGE = 100;
/** The most rows a chart draws (the first ones of the result). */
export const CHART_MAX_ROWS = 5000;
/** Pages of rows a ResultData keeps, so going back or redrawing fetches nothing. */
const PAGES_KEPT = 6;
const isNum = t => t === 'integer' || t === 'float';

// Every rows request, for the browser tests: [{offset, limit, rows}].
window.__cairnRowRequests = window.__cairnRowRequests || [];

/**
 * A stored result: `summary` is `{id, columns, row_count, retrieved_at, runtime}`; `access` is
 * the extra URL query (`query_id=..&p_..=..`) a shared dashboard's key needs to read it.
 */
export class ResultData {
  constructor(summary, access = '') {
    this.summary = summary;
    this.access = access;
    this.pages = new Map();
  }

  get id() { return this.summary.id; }
  get columns() { return this.summary.columns || []; }
  get rowCount() { return this.summary.row_count; }

  /** Loads the summary of result `id`. */
  static async load(id, access = '') {
    const r = await get(`/api/query_results/${id}/rows?limit=0${access ? '&' + access : ''}`);
    return new ResultData(r.query_result, access);
  }

  /** Rows `offset .. offset + limit`; the last few pages asked for are kept (a result never changes). */
  page(offset, limit) {
    const key = `${offset}:${limit}`;
    if (!this.pages.has(key)) {
      if (this.pages.size >= PAGES_KEPT) this.pages.delete(this.pages.keys().next().value);
      const fetched = get(`/api/query_results/${this.id}/rows?offset=${offset}&limit=${limit}${this.access ? '&' + this.access : ''}`)
        .then(r => { window.__cairnRowRequests.push({ offset, limit, rows: r.rows.length }); return r.rows; });
      fetched.catch(() => this.pages.delete(key));
      this.pages.set(key, fetched);
    }
    return this.pages.get(key);
  }

  /** The first CHART_MAX_ROWS rows. */
  chartRows() { return this.page(0, CHART_MAX_ROWS); }

  /** The download URL in format `f` (csv, tsv, xlsx, json). */
  downloadUrl(f) {
    return withKey(`/api/query_results/${this.id}.${f}${this.access ? '?' + this.access : ''}`);
  }
}

const cell = v => v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** A table over `data` (a ResultData), one server page at a time. */
export function resultTable(data) {
  const columns = data.columns;
  const total = data.rowCount;
  if (!total) return h('div', { class: 'empty' }, 'The query ran and returned no rows.');
  const wrap = h('div', { class: 'results' });
  const pages = Math.ceil(total / ROWS_PER_PAGE);
  let page = 0;
  let shown = 0;
  const go = async p => {
    page = Math.min(Math.max(0, p), pages - 1);
    const asked = page;
    let rows;
    try { rows = await data.page(page * ROWS_PER_PAGE, ROWS_PER_PAGE); } catch (e) { mount(wrap, errorBox(e)); return; }
    if (asked !== page) return;
    shown = rows.length;
    render(rows);
  };
  const nav = (label, text, target, disabled) => h('button', { 'aria-label': label, title: label, disabled, 'data-page': label.split(' ')[0].toLowerCase(), onclick: () => go(target) }, text);
  const render = rows => {
    const table = h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col', title: c.type || '' }, c.friendly_name || c.name)))),
      h('tbody', {}, rows.map(r => h('tr', {}, columns.map(c => h('td', { class: isNum(c.type) ? 'num' : null }, cell(r[c.name])))))));
    const first = page * ROWS_PER_PAGE + 1;
    mount(wrap,
      h('div', { class: 'tablewrap' }, table),
      h('div', { class: 'row pager' },
        nav('First page', '«', 0, page === 0),
        nav('Previous page', '‹ Previous', page - 1, page === 0),
        h('span', { class: 'muted', id: 'page-info' }, `Rows ${first}–${first + shown - 1} of ${total} · page ${page + 1} of ${pages}`),
        nav('Next page', 'Next ›', page + 1, page >= pages - 1),
        nav('Last page', '»', pages - 1, page >= pages - 1)));
  };
  mount(wrap, h('p', { class: 'muted' }, 'Loading rows…'));
  go(0);
  return wrap;
}

/** Download links for a stored result. */
export function downloadLinks(data) {
  return h('span', { class: 'row downloads' }, 'Download:',
    ['csv', 'tsv', 'xlsx', 'json'].map(f => h('a', { class: 'btn', href: data.downloadUrl(f), download: true }, f.toUpperCase())));
}
