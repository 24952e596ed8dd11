// Data sources (admins): the list, and add/edit forms generated from each type's JSON Schema
// (`/api/data_sources/types`), with test connection and schema refresh.

import { get, post, del, waitJob, fetchSchema } from './api.js';
import { h, mount, empty, errorBox, loading, action, toast } from './ui.js';

const main = () => document.getElementById('main');

/** The data sources list page. */
export async function sourceList() {
  const list = await get('/api/data_sources');
  mount(main(), h('div', { class: 'row' }, h('h1', {}, 'Data sources'), h('span', { style: 'flex:1' }),
    h('a', { class: 'btn primary', href: '#/data_sources/new', id: 'new-source' }, 'New data source')),
  list.length ? h('table', { class: 'list', id: 'source-list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Type'), h('th', {}, 'State'))),
    h('tbody', {}, list.map(s => h('tr', {}, h('td', {}, h('a', { href: `#/data_sources/${s.id}` }, s.name)), h('td', {}, s.type),
      h('td', {}, s.paused ? `paused${s.pause_reason ? ': ' + s.pause_reason : ''}` : 'active')))))
    : empty('No data sources yet.', h('a', { class: 'btn primary', href: '#/data_sources/new' }, 'Add one')));
}

/** Form inputs for a JSON Schema's properties, in the schema's `order` when given. */
export function schemaFields(schema, values) {
  const props = schema.properties || {};
  const order = [...(schema.order || []), ...Object.keys(props).filter(k => !(schema.order || []).includes(k))];
  const required = new Set(schema.required || []);
  const secret = new Set(schema.secret || []);
  return order.filter(k => props[k]).map(k => {
    const p = props[k];
    const id = `opt-${k}`;
    const v = values[k] ?? p.default;
    let input;
    if (p.type === 'boolean') input = h('input', { id, type: 'checkbox', 'data-key': k, 'data-type': 'boolean', checked: !!v });
    else if (p.enum) { input = h('select', { id, 'data-key': k }, p.enum.map(e => h('option', { value: e }, e))); if (v !== undefined) input.value = v; }
    else input = h('input', { id, 'data-key': k, 'data-type': p.type, type: secret.has(k) ? 'password' : p.type === 'number' || p.type === 'integer' ? 'number' : 'text',
      value: v ?? '', required: required.has(k), autocomplete: 'off' });
    return h('div', {}, h('label', { for: id }, (p.title || k) + (required.has(k) ? ' *' : '')), input);
  });
}

function readFields(box) {
  const out = {};
  for (const el of box.querySelectorAll('[data-key]')) {
    const k = el.dataset.key;
    if (el.dataset.type === 'boolean') out[k] = el.checked;
    else if (el.value === '') continue;
    else if (el.dataset.type === 'number' || el.dataset.type === 'integer') out[k] = Number(el.value);
    else out[k] = el.value;
  }
  return out;
}

/** The add (`id` null) or edit form of a data source. */
export async function sourceForm(id) {
  mount(main(), loading());
  const types = await get('/api/data_sources/types');
  const ds = id ? await get(`/api/data_sources/${id}`) : { name: '', type: types[0] && types[0].type, options: {} };
  const name = h('input', { id: 'source-name', value: ds.name, required: true });
  const type = h('select', { id: 'source-type', disabled: !!id }, types.map(t => h('option', { value: t.type }, t.name)));
  type.value = ds.type;
  const fields = h('div', { id: 'source-options' });
  const result = h('div', { id: 'test-result', 'aria-live': 'polite' });
  const drawFields = () => {
    const t = types.find(x => x.type === type.value);
    mount(fields, t ? schemaFields(t.configuration_schema || {}, ds.type === type.value ? ds.options || {} : {}) : errorBox(new Error('Unknown type.')));
  };
  type.addEventListener('change', drawFields);
  const save = async () => {
    const body = { name: name.value.trim(), type: type.value, options: readFields(fields) };
    if (!body.name) throw new Error('Give the data source a name.');
    const saved = id ? await post(`/api/data_sources/${id}`, body) : await post('/api/data_sources', body);
    toast('Saved.');
    if (!id) location.hash = `#/data_sources/${saved.id}`;
  };
  const test = async () => {
    mount(result, h('p', { class: 'muted' }, 'Testing…'));
    try {
      let r = await post(`/api/data_sources/${id}/test`);
      if (r.job) { await waitJob(r.job); r = { ok: true, message: 'success' }; }
      mount(result, h('div', { class: r.ok ? 'ok' : 'error', role: 'status' }, r.ok ? `Connection works (${r.message}).` : `Connection failed: ${r.message}`));
    } catch (e) { mount(result, h('div', { class: 'error', role: 'status' }, `Connection failed: ${e.message}`)); }
  };
  const refreshSchema = async () => {
    mount(result, h('p', { class: 'muted' }, 'Refreshing schema…'));
    try {
      const s = await fetchSchema(id, true);
      mount(result, h('div', { class: 'ok' }, `Schema refreshed: ${s.length} tables.`));
    } catch (e) { mount(result, errorBox(e)); }
  };
  mount(main(), h('h1', {}, id ? `Data source: ${ds.name}` : 'New data source'),
    h('form', { class: 'card', style: 'max-width:560px', onsubmit: ev => { ev.preventDefault(); action(save)(); } },
      h('label', { for: 'source-type' }, 'Type'), type,
      h('label', { for: 'source-name' }, 'Name *'), name,
      fields,
      h('p', { class: 'row' }, h('button', { class: 'primary', type: 'submit', id: 'save-source' }, 'Save'),
        id ? h('button', { type: 'button', id: 'test-source', onclick: action(test) }, 'Test connection') : null,
        id ? h('button', { type: 'button', id: 'refresh-schema', onclick: action(refreshSchema) }, 'Refresh schema') : null,
        id ? h('button', { type: 'button', class: 'danger', onclick: action(async () => { if (!confirm('Delete this data source?')) return; await del(`/api/data_sources/${id}`); location.hash = '#/data_sources'; }) }, 'Delete') : null),
      result));
  drawFields();
  name.focus();
}
