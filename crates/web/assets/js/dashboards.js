// Dashboards: the list, the dashboard page (a 6-column grid of visualization and text widgets
// that can be added, moved, resized and removed; dashboard parameters; auto-refresh; sharing)
// and the public page of a shared dashboard, which works without a login.

import { get, post, del, followRun, resultAccess } from './api.js';
import { h, mount, empty, errorBox, loading, action, toast, pager, PAGE_SIZE } from './ui.js';
import { renderVisualization } from './charts.js';

const main = () => document.getElementById('main');
const COLS = 6;
const ROW_HEIGHT = 60;
const GAP = 10;

/** The dashboards list page. */
export async function dashboardList(page = 1) {
  const data = await get(`/api/dashboards?page=${page}&page_size=${PAGE_SIZE}`);
  const nameInput = h('input', { id: 'dashboard-name', placeholder: 'New dashboard name', 'aria-label': 'New dashboard name' });
  const create = h('form', { class: 'row card', onsubmit: async ev => {
    ev.preventDefault();
    try {
      const d = await post('/api/dashboards', { name: nameInput.value.trim() || 'New Dashboard' });
      location.hash = `#/dashboards/${d.slug || d.id}`;
    } catch (e) { toast(e.message); }
  } }, nameInput, h('button', { class: 'primary', type: 'submit', id: 'create-dashboard' }, 'Create dashboard'));
  mount(main(), h('h1', {}, 'Dashboards'), create,
    data.results.length ? [h('table', { class: 'list', id: 'dashboard-list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Created by'), h('th', {}, 'Tags'))),
      h('tbody', {}, data.results.map(d => h('tr', {}, h('td', {}, h('a', { href: `#/dashboards/${d.slug || d.id}` }, d.name)),
        h('td', {}, d.user ? d.user.name : ''), h('td', {}, (d.tags || []).map(t => h('span', { class: 'tag' }, t))))))),
      pager(data, p => dashboardList(p))]
      : empty('No dashboards yet: name one above to create it.'));
}

/** Loads a widget's result (a ResultData): runs its query, answered from the cache when `maxAge` allows. */
async function widgetResult(query, values, maxAge) {
  const specs = (query.options && query.options.parameters) || [];
  const parameters = Object.fromEntries(specs.map(p => [p.name, values[p.name] ?? p.value ?? '']));
  const resp = await post(`/api/queries/${query.id}/results`, { parameters, max_age: maxAge, summary_only: true });
  return followRun(resp, null, undefined, resultAccess(query.id, parameters));
}

function position(w, i) {
  const p = (w.options && w.options.position) || {};
  return { col: p.col ?? (i % 2) * 3, row: p.row ?? Math.floor(i / 2) * 5, sizeX: p.sizeX ?? 3, sizeY: p.sizeY ?? 5 };
}

const overlaps = (a, b) => a.col < b.col + b.sizeX && b.col < a.col + a.sizeX && a.row < b.row + b.sizeY && b.row < a.row + a.sizeY;

/** Keeps `pos` inside the grid: at least 1 column and 2 rows, never past the right edge. */
function clamp(pos) {
  const sizeX = Math.min(COLS, Math.max(1, pos.sizeX));
  return { col: Math.min(Math.max(0, pos.col), COLS - sizeX), row: Math.max(0, pos.row), sizeX, sizeY: Math.max(2, pos.sizeY) };
}

/**
 * The layout after widget `movedId` takes position `pos`: it keeps that place and every widget it
 * would overlap is pushed down, top to bottom, below whatever it hits, so widgets never overlap.
 * `items` is [{id, pos}]; returns a Map id -> position.
 */
export function resolveLayout(items, movedId, pos) {
  const placed = [{ id: movedId, pos }];
  const others = items.filter(it => it.id !== movedId).sort((a, b) => a.pos.row - b.pos.row || a.pos.col - b.pos.col);
  for (const it of others) {
    const p = { ...it.pos };
    for (let hit = placed.filter(q => overlaps(q.pos, p)); hit.length; hit = placed.filter(q => overlaps(q.pos, p))) {
      p.row = Math.max(...hit.map(q => q.pos.row + q.pos.sizeY));
    }
    placed.push({ id: it.id, pos: p });
  }
  return new Map(placed.map(x => [x.id, x.pos]));
}

/** Moves or resizes widget `w` of `d` to `pos`, pushing overlapped widgets down; saves what changed. */
async function saveLayout(d, w, pos) {
  const widgets = d.widgets || [];
  const layout = resolveLayout(widgets.map((x, i) => ({ id: x.id, pos: position(x, i) })), w.id, clamp(pos));
  await Promise.all(widgets.map(async (x, i) => {
    const np = layout.get(x.id);
    if (JSON.stringify(np) === JSON.stringify(position(x, i)) && x.options && x.options.position) return;
    const options = { ...(x.options || {}), position: np };
    const updated = await post(`/api/widgets/${x.id}`, { options });
    x.options = updated.options || options;
  }));
}

/**
 * Pointer dragging on `handle`: moves (`kind` 'move') or resizes ('resize') widget element `el`
 * by whole grid cells, previewing as the pointer moves; `done(pos)` on release when it changed.
 */
function dragHandle(handle, el, start, kind, done) {
  handle.addEventListener('pointerdown', ev => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    const grid = el.parentElement.getBoundingClientRect();
    const colPitch = (grid.width + GAP) / COLS, rowPitch = ROW_HEIGHT + GAP;
    const x0 = ev.clientX, y0 = ev.clientY;
    let pos = start;
    handle.setPointerCapture(ev.pointerId);
    el.classList.add('dragging');
    const move = e => {
      const dc = Math.round((e.clientX - x0) / colPitch), dr = Math.round((e.clientY - y0) / rowPitch);
      pos = clamp(kind === 'move' ? { ...start, col: start.col + dc, row: start.row + dr } : { ...start, sizeX: start.sizeX + dc, sizeY: start.sizeY + dr });
      el.style.gridColumn = `${pos.col + 1} / span ${pos.sizeX}`;
      el.style.gridRow = `${pos.row + 1} / span ${pos.sizeY}`;
    };
    const up = () => {
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', up);
      handle.removeEventListener('pointercancel', up);
      el.classList.remove('dragging');
      if (JSON.stringify(pos) !== JSON.stringify(start)) done(pos);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
    handle.addEventListener('pointercancel', up);
  });
}

/** Renders dashboard `d` into `box`; `editable` shows the layout tools. */
function renderGrid(d, box, opts) {
  const { editable, values, maxAge } = opts;
  const widgets = d.widgets || [];
  if (!widgets.length) {
    mount(box, empty(editable ? 'This dashboard is empty: add a visualization or a text box.' : 'This dashboard has no widgets.'));
    return;
  }
  const grid = h('div', { class: 'grid' + (editable ? ' editing' : ''), id: 'dashboard-grid' });
  const relayout = (w, pos) => action(async () => {
    await saveLayout(d, w, pos);
    renderGrid(d, box, { ...opts, maxAge: -1 });
  })();
  widgets.forEach((w, i) => {
    const pos = position(w, i);
    const body = h('div', { class: 'body' });
    const vis = w.visualization;
    const title = vis ? `${vis.query ? vis.query.name : ''}${vis.type !== 'TABLE' && vis.name ? ' · ' + vis.name : ''}` : null;
    const move = (dc, dr, dx, dy) => () => relayout(w, { col: pos.col + dc, row: pos.row + dr, sizeX: pos.sizeX + dx, sizeY: pos.sizeY + dy });
    const tools = editable ? h('div', { class: 'tools', role: 'toolbar', 'aria-label': 'Widget layout' },
      h('button', { title: 'Move left', 'aria-label': 'Move left', onclick: move(-1, 0, 0, 0) }, '←'),
      h('button', { title: 'Move right', 'aria-label': 'Move right', onclick: move(1, 0, 0, 0) }, '→'),
      h('button', { title: 'Move up', 'aria-label': 'Move up', onclick: move(0, -1, 0, 0) }, '↑'),
      h('button', { title: 'Move down', 'aria-label': 'Move down', onclick: move(0, 1, 0, 0) }, '↓'),
      h('button', { title: 'Narrower', 'aria-label': 'Narrower', onclick: move(0, 0, -1, 0) }, '−W'),
      h('button', { title: 'Wider', 'aria-label': 'Wider', onclick: move(0, 0, 1, 0) }, '+W'),
      h('button', { title: 'Shorter', 'aria-label': 'Shorter', onclick: move(0, 0, 0, -1) }, '−H'),
      h('button', { title: 'Taller', 'aria-label': 'Taller', onclick: move(0, 0, 0, 1) }, '+H'),
      h('button', { class: 'danger remove-widget', title: 'Remove', 'aria-label': 'Remove widget', onclick: action(async () => {
        await del(`/api/widgets/${w.id}`);
        d.widgets = d.widgets.filter(x => x.id !== w.id);
        renderGrid(d, box, { ...opts, maxAge: -1 });
      }) }, '✕')) : null;
    const dragBar = editable ? h('div', { class: 'drag-handle', title: 'Drag to move (or use the arrow buttons)' }, '⠿ drag to move') : null;
    const resizer = editable ? h('div', { class: 'resize-handle', title: 'Drag to resize (or use the size buttons)' }) : null;
    const meta = h('div', { class: 'widget-meta muted' });
    const el = h('section', { class: 'widget', 'data-widget': w.id, style: `grid-column:${pos.col + 1} / span ${pos.sizeX}; grid-row:${pos.row + 1} / span ${pos.sizeY}` },
      dragBar, title ? h('h3', {}, title) : null, body, vis ? meta : null, tools, resizer);
    if (editable) {
      dragHandle(dragBar, el, pos, 'move', p => relayout(w, p));
      dragHandle(resizer, el, pos, 'resize', p => relayout(w, p));
    }
    grid.append(el);
    if (!vis) {
      mount(body, h('div', { class: 'text-widget' }, (w.text || '').split('\n').map(line => h('p', { style: 'margin:2px 0' }, line))));
    } else if (!vis.query) {
      mount(body, errorBox(new Error('The query of this widget is not available.')));
    } else {
      mount(body, loading());
      widgetResult(vis.query, values, maxAge).then(r => {
        mount(body, renderVisualization(vis, r));
        meta.dataset.retrieved = r.summary.retrieved_at;
        mount(meta, `Updated ${new Date(r.summary.retrieved_at).toLocaleString()}`);
      }, e => mount(body, errorBox(e)));
    }
  });
  mount(box, grid);
}

/**
 * The dashboard's parameter inputs (those of its widgets' queries, filled with their defaults
 * into `values`), or null when there are none; `apply()` redraws with the new values.
 */
function parameterForm(d, values, apply) {
  const params = dashboardParameters(d);
  for (const p of params) if (!(p.name in values)) values[p.name] = p.value ?? '';
  if (!params.length) return null;
  return h('form', { class: 'row card', id: 'dashboard-params', onsubmit: ev => { ev.preventDefault(); apply(); } },
    params.map(p => h('span', {}, h('label', { for: `dp-${p.name}` }, p.title || p.name),
      h('input', { id: `dp-${p.name}`, value: values[p.name], type: p.type === 'number' ? 'number' : p.type === 'date' ? 'date' : 'text', oninput: e => { values[p.name] = e.target.value; } }))),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'));
}

function dashboardParameters(d) {
  const out = new Map();
  for (const w of d.widgets || []) {
    const q = w.visualization && w.visualization.query;
    for (const p of (q && q.options && q.options.parameters) || []) if (!out.has(p.name)) out.set(p.name, p);
  }
  return [...out.values()];
}

async function addWidgetDialog(d, done) {
  const queries = (await get('/api/queries?page_size=250')).results;
  const qSel = h('select', { id: 'widget-query', 'aria-label': 'Query' }, h('option', { value: '' }, '(choose a query)'), queries.map(q => h('option', { value: q.id }, q.name)));
  const vSel = h('select', { id: 'widget-vis', 'aria-label': 'Visualization' });
  qSel.addEventListener('change', async () => {
    mount(vSel);
    if (!qSel.value) return;
    const q = await get(`/api/queries/${qSel.value}`);
    mount(vSel, q.visualizations.map(v => h('option', { value: v.id }, `${v.name} (${v.type})`)));
  });
  const text = h('textarea', { id: 'widget-text', rows: 3, 'aria-label': 'Text', style: 'width:100%' });
  const bottom = Math.max(0, ...(d.widgets || []).map((w, i) => { const p = position(w, i); return p.row + p.sizeY; }));
  const add = body => action(async () => {
    const w = await post('/api/widgets', { dashboard_id: d.id, width: 1, options: { position: { col: 0, row: bottom, sizeX: 3, sizeY: body.visualization_id ? 8 : 2 } }, ...body });
    dialog.close(); done(w);
  });
  const dialog = h('dialog', { id: 'add-widget' }, h('h2', {}, 'Add widget'),
    h('label', { for: 'widget-query' }, 'Visualization of a query'), h('div', { class: 'row' }, qSel, vSel,
      h('button', { class: 'primary', id: 'add-vis-widget', onclick: ev => { if (!vSel.value) { toast('Choose a query and a visualization.'); return; } return add({ visualization_id: +vSel.value, text: '' })(ev); } }, 'Add')),
    h('label', { for: 'widget-text' }, 'Or a text box'), text,
    h('div', { class: 'row' }, h('button', { id: 'add-text-widget', onclick: ev => add({ visualization_id: null, text: text.value })(ev) }, 'Add text'),
      h('button', { onclick: () => dialog.close() }, 'Close')));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  qSel.focus();
}

let refreshTimer = null;

/** The dashboard page for an id or slug. */
export async function dashboardPage(key) {
  clearInterval(refreshTimer);
  let d = await get(`/api/dashboards/${encodeURIComponent(key)}`);
  let editing = false;
  const values = {};
  const gridBox = h('div', {});
  const shareBox = h('div', { id: 'share-box' });
  const paramBar = h('div', {});
  const drawParams = () => mount(paramBar, parameterForm(d, values, () => draw(-1)));
  const draw = (maxAge = -1) => renderGrid(d, gridBox, { editable: editing, values, maxAge });
  const refresh = h('select', { id: 'auto-refresh', 'aria-label': 'Auto-refresh', onchange: e => {
    clearInterval(refreshTimer);
    const secs = +e.target.value;
    if (secs) refreshTimer = setInterval(() => { if (!document.getElementById('dashboard-grid') && !gridBox.isConnected) { clearInterval(refreshTimer); return; } draw(0); }, secs * 1000);
  } }, [['0', 'No auto-refresh'], ['10', 'Refresh every 10 s'], ['30', 'Every 30 s'], ['60', 'Every minute'], ['300', 'Every 5 minutes']].map(([v, t]) => h('option', { value: v }, t)));
  const drawShare = () => mount(shareBox, d.public_url
    ? h('div', { class: 'ok row' }, 'Public link: ', h('input', { id: 'public-url', readonly: true, value: d.public_url, size: 60, onfocus: e => e.target.select() }),
      h('a', { class: 'btn', href: d.public_url, target: '_blank', rel: 'noopener' }, 'Open'),
      h('button', { id: 'unshare', onclick: action(async () => { await del(`/api/dashboards/${d.id}/share`); d.public_url = null; drawShare(); }) }, 'Stop sharing'))
    : null);
  const toolbar = h('div', { class: 'row' });
  const drawToolbar = () => mount(toolbar,
    h('h1', { style: 'margin:0' }, d.name), h('span', { style: 'flex:1' }), refresh,
    h('button', { onclick: () => draw(0) }, 'Refresh now'),
    d.can_edit ? [
      h('button', { id: 'edit-dashboard', 'aria-pressed': String(editing), onclick: () => { editing = !editing; drawToolbar(); draw(-1); } }, editing ? 'Done editing' : 'Edit'),
      editing ? h('button', { id: 'add-widget-btn', class: 'primary', onclick: action(() => addWidgetDialog(d, async () => { d = await get(`/api/dashboards/${d.id}`); drawParams(); draw(-1); })) }, 'Add widget') : null,
      h('button', { id: 'share', onclick: action(async () => { const s = await post(`/api/dashboards/${d.id}/share`); d.public_url = s.public_url; drawShare(); }) }, 'Share'),
      h('button', { class: 'danger', onclick: action(async () => { if (!confirm('Archive this dashboard?')) return; await del(`/api/dashboards/${d.id}`); location.hash = '#/dashboards'; }) }, 'Archive'),
    ] : null);
  drawToolbar();
  drawShare();
  drawParams();
  mount(main(), toolbar, shareBox, paramBar, gridBox);
  draw(-1);
}

/**
 * The public page of a shared dashboard (no login): its share token runs the widgets' queries
 * with the dashboard's parameter values (their defaults until changed), answered from the cache
 * when it holds them, and reads the results.
 */
export async function publicDashboard(token) {
  mount(main(), loading());
  const d = await get(`/api/dashboards/public/${encodeURIComponent(token)}`);
  const gridBox = h('div', {});
  const values = {};
  const draw = () => renderGrid(d, gridBox, { editable: false, values, maxAge: -1 });
  mount(main(), h('h1', {}, d.name), parameterForm(d, values, draw), gridBox);
  draw();
}
