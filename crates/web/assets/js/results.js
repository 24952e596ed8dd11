// The results table: the JSON result is paged client-side, so only one page of rows is ever in
// the DOM and a result of any size stays fast to show. Downloads stream from the server.

import { h, mount } from './ui.js';
import { withKey } from './api.js';

const ROWS_PER_PAGE = 100;
const isNum = t => t === 'integer' || t === 'float';

/** A paged table of `result` ({data: {columns, rows}}). */
export function resultTable(result) {
  const { columns, rows } = result.data;
  if (!rows.length) return h('div', { class: 'empty' }, 'The query ran and returned no rows.');
  const wrap = h('div', { class: 'results' });
  const pages = Math.ceil(rows.length / ROWS_PER_PAGE);
  let page = 0;
  const render = () => {
    const slice = rows.slice(page * ROWS_PER_PAGE, (page + 1) * ROWS_PER_PAGE);
    const table = h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col', title: c.type || '' }, c.friendly_name || c.name)))),
      h('tbody', {}, slice.map(r => h('tr', {}, columns.map(c => {
        const v = r[c.name];
        return h('td', { class: isNum(c.type) ? 'num' : null }, v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
      })))));
    mount(wrap,
      h('div', { class: 'tablewrap' }, table),
      h('div', { class: 'row pager' },
        h('button', { disabled: page === 0, onclick: () => { page--; render(); } }, '‹ Previous'),
        h('span', { class: 'muted' }, `Rows ${page * ROWS_PER_PAGE + 1}–${page * ROWS_PER_PAGE + slice.length} of ${rows.length} · page ${page + 1} of ${pages}`),
        h('button', { disabled: page >= pages - 1, onclick: () => { page++; render(); } }, 'Next ›')));
  };
  render();
  return wrap;
}

/** Download links for a stored result. */
export function downloadLinks(resultId) {
  return h('span', { class: 'row downloads' }, 'Download:',
    ['csv', 'tsv', 'xlsx', 'json'].map(f => h('a', { class: 'btn', href: withKey(`/api/query_results/${resultId}.${f}`), download: true }, f.toUpperCase())));
}
