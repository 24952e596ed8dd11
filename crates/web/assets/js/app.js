// Entry point: the layout, the fragment router (`#/queries/5`), login/logout and the admin
// status page. The public dashboard page (`/public/dashboards/<token>`) needs no login.

import { get, post, hasSession, usePublicKey } from './api.js';
import { h, mount, errorBox, loading, action } from './ui.js';
import { queryList, queryEditor } from './queries.js';
import { dashboardList, dashboardPage, publicDashboard } from './dashboards.js';
import { sourceList, sourceForm } from './sources.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
let me = null;

function nav(route) {
  const link = (href, text) => h('a', { href, class: route.startsWith(href.slice(2).split('/')[0]) ? 'active' : null }, text);
  mount(top,
    h('a', { class: 'brand', href: '#/queries' }, 'Cairn'),
    link('#/queries', 'Queries'), link('#/dashboards', 'Dashboards'),
    me && me.is_admin ? [link('#/data_sources', 'Data sources'), link('#/status', 'Status')] : null,
    h('span', { class: 'spacer' }),
    me ? h('span', { class: 'muted' }, me.email) : null,
    me ? h('button', { id: 'logout', onclick: action(logout) }, 'Log out') : null);
}

async function logout() {
  await post('/api/session/logout');
  me = null;
  location.hash = '#/login';
}

function loginPage() {
  mount(top, h('span', { class: 'brand' }, 'Cairn'));
  const email = h('input', { id: 'email', type: 'email', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card login', onsubmit: async ev => {
    ev.preventDefault();
    mount(msg);
    try {
      const r = await post('/api/session/login', { email: email.value, password: password.value });
      me = r.user;
      location.hash = '#/queries';
    } catch (e) { mount(msg, errorBox(e)); }
  } },
  h('h1', {}, 'Log in to Cairn'),
  h('label', { for: 'email' }, 'Email'), email,
  h('label', { for: 'password' }, 'Password'), password,
  msg,
  h('p', {}, h('button', { class: 'primary', type: 'submit', id: 'login' }, 'Log in')));
  mount(main, form);
  email.focus();
}

async function statusPage() {
  mount(main, h('h1', {}, 'System status'), loading());
  const st = await get('/status.json');
  const rows = [
    ['Version', st.version], ['Started', st.manager.started_at], ['Queries', st.queries_count],
    ['Query results', st.query_results_count], ['Unused query results', st.unused_query_results_count],
    ['Dashboards', st.dashboards_count], ['Widgets', st.widgets_count],
    ['Workers', (st.workers || []).length || 'in-process'],
    ['Scheduler: outdated queries', st.manager.outdated_queries_count ?? '–'],
    ['Scheduler: last refresh', st.manager.last_refresh_at ?? '–'],
  ];
  const queues = Object.entries(st.manager.queues || {});
  mount(main, h('h1', {}, 'System status'),
    h('div', { class: 'card' }, h('h2', {}, 'Counts'), h('table', { class: 'list', id: 'status-counts' },
      h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, String(v))))))),
    h('div', { class: 'card' }, h('h2', {}, 'Queues'), queues.length
      ? h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Queue'), h('th', {}, 'Waiting jobs'))),
        h('tbody', {}, queues.map(([q, v]) => h('tr', {}, h('td', {}, q), h('td', {}, String(v.size))))))
      : h('p', { class: 'muted' }, 'No queues reported.')));
}

const routes = [
  [/^queries$/, () => queryList()],
  [/^queries\/new$/, () => queryEditor(null)],
  [/^queries\/(\d+)$/, m => queryEditor(+m[1])],
  [/^dashboards$/, () => dashboardList()],
  [/^dashboards\/([^/]+)$/, m => dashboardPage(decodeURIComponent(m[1]))],
  [/^data_sources$/, () => sourceList()],
  [/^data_sources\/new$/, () => sourceForm(null)],
  [/^data_sources\/(\d+)$/, m => sourceForm(+m[1])],
  [/^status$/, () => statusPage()],
];

async function route() {
  const path = location.hash.replace(/^#\/?/, '') || 'queries';
  if (path === 'login') return loginPage();
  if (!me) {
    if (!hasSession()) { location.hash = '#/login'; return; }
    try { me = (await get('/api/session')).user; } catch { return; }
  }
  nav(path);
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (m) {
      try { await page(m); } catch (e) { mount(main, errorBox(e)); }
      main.focus({ preventScroll: true });
      return;
    }
  }
  mount(main, errorBox(new Error('No such page.')));
}

const pub = location.pathname.match(/^\/public\/dashboards\/([^/]+)$/);
if (pub) {
  const token = decodeURIComponent(pub[1]);
  usePublicKey(token);
  mount(top, h('span', { class: 'brand' }, 'Cairn'));
  publicDashboard(token).catch(e => mount(main, errorBox(e)));
} else {
  window.addEventListener('hashchange', route);
  route();
}

export const currentUser = () => me;
