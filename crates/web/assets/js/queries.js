// Queries: the list (search, tags, paging) and the editor (schema browser, parameters, run with
// Ctrl/Cmd+Enter, job state with elapsed time and cancel, results, visualizations, save, fork,
// archive, schedule).

import { get, post, del, followRun, jobStatusText, fetchSchema } from './api.js';
import { h, mount, empty, errorBox, loading, action, toast, pager, PAGE_SIZE } from './ui.js';
import { resultTable, downloadLinks, ResultData } from './results.js';
import { renderVisualization } from './charts.js';
import { visualizationEditor } from './visedit.js';

const main = () => document.getElementById('main');

/** The queries list page. */
export async function queryList() {
  const state = { q: '', tag: null, page: 1 };
  const search = h('input', { type: 'search', id: 'query-search', placeholder: 'Search queries…', 'aria-label': 'Search queries' });
  const tagBox = h('div', { class: 'row', 'aria-label': 'Tags' });
  const listBox = h('div', {}, loading());
  mount(main(), h('div', { class: 'row' }, h('h1', {}, 'Queries'), h('span', { style: 'flex:1' }),
    h('a', { class: 'btn primary', href: '#/queries/new', id: 'new-query' }, 'New query')),
  h('div', { class: 'row card' }, search, tagBox), listBox);
  const load = async () => {
    const params = new URLSearchParams({ page: state.page, page_size: PAGE_SIZE });
    if (state.q) params.set('q', state.q);
    if (state.tag) params.set('tags', state.tag);
    try {
      const data = await get('/api/queries?' + params);
      if (!data.results.length) {
        mount(listBox, empty(state.q || state.tag ? 'No query matches.' : 'No queries yet.',
          h('a', { class: 'btn primary', href: '#/queries/new' }, 'Write your first query')));
        return;
      }
      mount(listBox, h('table', { class: 'list', id: 'query-list' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Tags'), h('th', {}, 'Created by'), h('th', {}, 'Updated'), h('th', {}, 'Schedule'))),
        h('tbody', {}, data.results.map(q => h('tr', {},
          h('td', {}, h('a', { href: `#/queries/${q.id}` }, q.name), q.is_draft ? h('span', { class: 'muted' }, ' (draft)') : null),
          h('td', {}, q.tags.map(t => h('span', { class: 'tag' }, t))),
          h('td', {}, q.user ? q.user.name : ''),
          h('td', {}, new Date(q.updated_at).toLocaleString()),
          h('td', {}, scheduleText(q.schedule)))))),
      pager(data, p => { state.page = p; load(); }));
    } catch (e) { mount(listBox, errorBox(e)); }
  };
  let timer;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { state.q = search.value.trim(); state.page = 1; load(); }, 250); });
  const tags = (await get('/api/queries/tags')).tags;
  const drawTags = () => mount(tagBox, tags.map(t => h('button', { class: 'tag' + (state.tag === t.name ? ' on' : ''), 'aria-pressed': String(state.tag === t.name),
    onclick: () => { state.tag = state.tag === t.name ? null : t.name; state.page = 1; drawTags(); load(); } }, `${t.name} (${t.count})`)));
  drawTags();
  await load();
  search.focus();
}

/** `{{ name }}` placeholders in SQL text, in order of first use. */
export function parameterNames(text) {
  const names = [];
  for (const m of text.matchAll(/\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g)) if (!names.includes(m[1])) names.push(m[1]);
  return names;
}

const INTERVALS = [['', 'Never'], ['60', 'Every minute'], ['300', 'Every 5 minutes'], ['900', 'Every 15 minutes'],
  ['1800', 'Every 30 minutes'], ['3600', 'Every hour'], ['10800', 'Every 3 hours'], ['21600', 'Every 6 hours'],
  ['43200', 'Every 12 hours'], ['86400', 'Every day'], ['604800', 'Every week']];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const DAY = 86400, WEEK = 604800;

/** A schedule in words: "every 3600 s", "daily at 06:30 UTC", "weekly on Monday at ...", "until ...". */
export function scheduleText(s) {
  if (!s || !s.interval) return '—';
  const until = s.until ? ` until ${s.until}` : '';
  if (s.interval === WEEK) return `weekly on ${s.day_of_week || 'Monday'} at ${s.time || '00:00'} UTC${until}`;
  if (s.interval === DAY) return `daily at ${s.time || '00:00'} UTC${until}`;
  const label = INTERVALS.find(([v]) => +v === s.interval);
  return (label ? label[1].toLowerCase() : `every ${s.interval} s`) + until;
}

/** Redash's schedule controls: interval; time of day (UTC) for daily and weekly; day of week; until. */
function scheduleEditor(current) {
  const s = current || {};
  const interval = h('select', { id: 'schedule', 'aria-label': 'Refresh schedule' }, INTERVALS.map(([v, t]) => h('option', { value: v }, t)));
  if (s.interval && !INTERVALS.some(([v]) => +v === s.interval)) interval.append(h('option', { value: s.interval }, `Every ${s.interval} s`));
  interval.value = s.interval ? String(s.interval) : '';
  const time = h('input', { id: 'schedule-time', type: 'time', value: s.time || '00:00', 'aria-label': 'Time of day (UTC)' });
  const day = h('select', { id: 'schedule-day', 'aria-label': 'Day of week' }, DAYS.map(d => h('option', { value: d }, d)));
  day.value = s.day_of_week || 'Monday';
  const until = h('input', { id: 'schedule-until', type: 'date', value: s.until || '', 'aria-label': 'Stop refreshing after' });
  const timeBox = h('span', { class: 'row' }, h('label', { for: 'schedule-time', style: 'margin:0' }, 'at (UTC)'), time);
  const dayBox = h('span', { class: 'row' }, h('label', { for: 'schedule-day', style: 'margin:0' }, 'on'), day);
  const untilBox = h('span', { class: 'row' }, h('label', { for: 'schedule-until', style: 'margin:0' }, 'until'), until);
  const show = () => {
    const n = +interval.value;
    timeBox.hidden = !(n === DAY || n === WEEK);
    dayBox.hidden = n !== WEEK;
    untilBox.hidden = !n;
  };
  interval.addEventListener('change', show);
  show();
  const el = h('span', { class: 'row', id: 'schedule-editor' }, h('label', { for: 'schedule', style: 'margin:0' }, 'Refresh'), interval, dayBox, timeBox, untilBox);
  const value = () => {
    const n = +interval.value;
    if (!n) return null;
    return { interval: n, time: n === DAY || n === WEEK ? (time.value || '00:00') : null,
      day_of_week: n === WEEK ? day.value : null, until: until.value || null };
  };
  return { el, value };
}

async function schemaBrowser(box, dsId, refresh = false) {
  mount(box, loading());
  try {
    const schema = await fetchSchema(dsId, refresh);
    mount(box, h('div', { class: 'row' }, h('strong', {}, 'Schema'), h('button', { onclick: () => schemaBrowser(box, dsId, true), title: 'Refresh schema' }, '↻')),
      schema.length ? schema.map(t => h('details', {}, h('summary', {}, t.name),
        h('ul', {}, (t.columns || []).map(c => h('li', {}, typeof c === 'string' ? c : `${c.name}${c.type ? ' (' + c.type + ')' : ''}`)))))
        : h('p', { class: 'muted' }, 'No tables found.'));
  } catch (e) { mount(box, errorBox(e)); }
}

/** The query editor page; `id` null for a new query. */
export async function queryEditor(id) {
  mount(main(), loading());
  const sources = await get('/api/data_sources');
  if (!sources.length) {
    mount(main(), empty('Add a data source before writing queries.', h('a', { class: 'btn primary', href: '#/data_sources/new' }, 'New data source')));
    return;
  }
  let query = id ? await get(`/api/queries/${id}`) : { id: null, name: 'New Query', query: '', data_source_id: sources[0].id, options: { parameters: [] }, tags: [], schedule: null, visualizations: [] };
  let result = null;
  let running = null;
  let selectedTab = 'table';

  const name = h('input', { id: 'query-name', value: query.name, 'aria-label': 'Query name', size: 30 });
  const ds = h('select', { id: 'data-source', 'aria-label': 'Data source' }, sources.map(s => h('option', { value: s.id }, s.name)));
  ds.value = String(query.data_source_id);
  const sql = h('textarea', { id: 'sql', class: 'sql', spellcheck: 'false', 'aria-label': 'SQL' });
  sql.value = query.query;
  const tags = h('input', { id: 'query-tags', value: query.tags.join(', '), placeholder: 'tags, comma separated', 'aria-label': 'Tags' });
  const schedule = scheduleEditor(query.schedule);
  const paramBox = h('div', { class: 'row', id: 'parameters' });
  const schemaBox = h('div', { class: 'card schema' });
  const statusBox = h('div', { id: 'job-status', 'aria-live': 'polite' });
  const tabsBox = h('div', {});
  const paramValues = {};
  const paramTypes = {};
  for (const p of query.options.parameters || []) { paramValues[p.name] = p.value ?? ''; paramTypes[p.name] = p.type || 'text'; }

  const drawParams = () => {
    const names = parameterNames(sql.value);
    mount(paramBox, names.map(n => {
      const type = paramTypes[n] || 'text';
      const input = h('input', { 'aria-label': `Parameter ${n}`, 'data-param': n, value: paramValues[n] ?? '', type: type === 'number' ? 'number' : type === 'date' ? 'date' : 'text',
        oninput: e => { paramValues[n] = e.target.value; } });
      const kind = h('select', { 'aria-label': `Type of ${n}`, onchange: e => { paramTypes[n] = e.target.value; drawParams(); } },
        ['text', 'number', 'date', 'datetime-local'].map(t => h('option', { value: t }, t)));
      kind.value = type;
      return h('span', { class: 'card row' }, h('strong', {}, n), input, kind);
    }));
  };
  sql.addEventListener('input', drawParams);

  const specs = () => parameterNames(sql.value).map(n => ({ name: n, title: n, type: paramTypes[n] || 'text', value: paramValues[n] ?? '' }));
  const values = () => Object.fromEntries(parameterNames(sql.value).map(n => [n, paramTypes[n] === 'number' && paramValues[n] !== '' ? Number(paramValues[n]) : paramValues[n] ?? '']));

  const save = async () => {
    const body = { name: name.value.trim() || 'New Query', query: sql.value, data_source_id: +ds.value,
      options: { ...(query.options || {}), parameters: specs() },
      tags: tags.value.split(',').map(t => t.trim()).filter(Boolean),
      schedule: schedule.value() };
    if (query.id) {
      body.version = query.version;
      query = await post(`/api/queries/${query.id}`, body);
    } else {
      query = await post('/api/queries', { ...body, is_draft: false });
    }
    toast('Saved.');
    if (location.hash !== `#/queries/${query.id}`) history.replaceState(null, '', `#/queries/${query.id}`);
    drawActions();
    drawTabs();
  };

  const run = async () => {
    if (running) return;
    const names = parameterNames(sql.value);
    if (names.length && !query.id) { mount(statusBox, errorBox(new Error('Save the query before running it with parameters.'))); return; }
    if (names.length && JSON.stringify(specs().map(p => [p.name, p.type])) !== JSON.stringify((query.options.parameters || []).map(p => [p.name, p.type]))) await save();
    const started = Date.now();
    running = { job: null, cancelled: false };
    const cancelBtn = h('button', { id: 'cancel', class: 'danger', onclick: action(async () => {
      running.cancelled = true;
      if (running.job) await del(`/api/jobs/${running.job}`);
    }) }, 'Cancel');
    const show = job => {
      if (job) running.job = job.id;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      mount(statusBox, h('div', { class: 'status row' }, h('span', { id: 'job-state' }, job ? jobStatusText(job.status) : 'Starting'), h('span', { class: 'muted' }, `${secs} s`), cancelBtn));
    };
    show(null);
    const ticker = setInterval(() => running && show(running.job ? { id: running.job, status: running.status } : null), 500);
    try {
      const body = { query: sql.value, data_source_id: +ds.value, max_age: 0, parameters: values(), summary_only: true };
      if (query.id) body.query_id = query.id;
      const resp = await post('/api/query_results', body);
      result = await followRun(resp, job => { running.status = job.status; show(job); }, () => running.cancelled);
      mount(statusBox, h('p', { class: 'muted', id: 'run-info' }, `${result.rowCount} rows · ran in ${(+result.summary.runtime).toFixed(2)} s · `, downloadLinks(result)));
      drawTabs();
    } catch (e) {
      mount(statusBox, h('div', { class: 'error', role: 'alert', id: 'query-error' }, e.message));
    } finally {
      clearInterval(ticker);
      running = null;
    }
  };
  sql.addEventListener('keydown', e => { if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); run(); } });

  const actions = h('div', { class: 'row' });
  const drawActions = () => mount(actions,
    h('button', { id: 'run', class: 'primary', onclick: () => run(), title: 'Ctrl/Cmd+Enter' }, 'Run'),
    h('button', { id: 'save', onclick: action(save) }, 'Save'),
    query.id ? h('button', { id: 'fork', onclick: action(async () => { const f = await post(`/api/queries/${query.id}/fork`); location.hash = `#/queries/${f.id}`; }) }, 'Fork') : null,
    query.id ? h('button', { id: 'archive', class: 'danger', onclick: action(async () => {
      if (!confirm('Archive this query? It disappears from lists and its dashboards widgets stop refreshing.')) return;
      await del(`/api/queries/${query.id}`); toast('Archived.'); location.hash = '#/queries';
    }) }, 'Archive') : null,
    schedule.el);

  const drawTabs = () => {
    const vis = query.visualizations || [];
    const tab = (key, label) => h('button', { role: 'tab', 'aria-selected': String(selectedTab === key), 'data-tab': key, onclick: () => { selectedTab = key; drawTabs(); } }, label);
    let body;
    if (selectedTab === 'new' || (typeof selectedTab === 'number' && selectedTab < 0)) {
      body = result ? visualizationEditor(query, result, null, v => { query.visualizations = [...vis, v]; selectedTab = v.id; drawTabs(); })
        : h('div', { class: 'empty' }, 'Run the query first: the editor previews the chart on its result.');
    } else if (selectedTab === 'table') {
      body = result ? resultTable(result) : h('div', { class: 'empty' }, 'Run the query (Ctrl/Cmd+Enter) to see its results.');
    } else {
      const v = vis.find(x => x.id === selectedTab);
      body = !v ? h('div', {}) : !result ? h('div', { class: 'empty' }, 'Run the query to see this visualization.')
        : h('div', {}, renderVisualization(v, result), h('div', { class: 'row' },
          h('button', { onclick: () => mount(tabBody, visualizationEditor(query, result, v, nv => { Object.assign(v, nv); drawTabs(); })) }, 'Edit visualization'),
          h('button', { class: 'danger', onclick: action(async () => { await del(`/api/visualizations/${v.id}`); query.visualizations = vis.filter(x => x.id !== v.id); selectedTab = 'table'; drawTabs(); }) }, 'Delete')));
    }
    const tabBody = h('div', { role: 'tabpanel' }, body);
    mount(tabsBox, h('div', { class: 'tabs', role: 'tablist' }, tab('table', 'Table'),
      vis.filter(v => v.type !== 'TABLE').map(v => tab(v.id, v.name)),
      query.id ? tab('new', '+ New visualization') : null), tabBody);
  };

  ds.addEventListener('change', () => schemaBrowser(schemaBox, ds.value));
  mount(main(),
    h('div', { class: 'row' }, name, ds, tags), h('div', { style: 'height:8px' }),
    h('div', { class: 'editor' }, schemaBox, h('div', {}, sql, paramBox, actions, statusBox)),
    tabsBox);
  drawParams();
  drawActions();
  drawTabs();
  schemaBrowser(schemaBox, ds.value);
  if (query.latest_query_data_id) {
    try { result = await ResultData.load(query.latest_query_data_id); drawTabs();
      mount(statusBox, h('p', { class: 'muted', id: 'run-info' }, `${result.rowCount} rows · retrieved ${new Date(result.summary.retrieved_at).toLocaleString()} · `, downloadLinks(result)));
    } catch (e) { mount(statusBox, errorBox(e)); }
  }
  sql.focus();
}
