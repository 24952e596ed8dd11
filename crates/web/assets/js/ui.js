// Small DOM helpers: element building, messages, empty and error states.

/** Builds an element: h('button', {class: 'primary', onclick: f}, 'Save'). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A short message in the corner. */
export function toast(text) {
  const box = document.getElementById('toast');
  const item = h('div', {}, text);
  box.append(item);
  setTimeout(() => item.remove(), 3500);
}

export const empty = (text, ...extra) => h('div', { class: 'empty' }, h('p', {}, text), ...extra);
export const errorBox = err => h('div', { class: 'error', role: 'alert' }, err && err.message ? err.message : String(err));
export const loading = () => h('p', { class: 'muted' }, 'Loading…');

/** Runs an async action from a button: disables it meanwhile, shows failures as a toast. */
export function action(fn) {
  return async ev => {
    const btn = ev && ev.currentTarget;
    if (btn) btn.disabled = true;
    try { await fn(ev); } catch (e) { toast(e.message || String(e)); } finally { if (btn) btn.disabled = false; }
  };
}

/** Page size for paged lists. */
export const PAGE_SIZE = 20;

/** Previous/next controls for a `{count, page, page_size}` answer. */
export function pager(data, go) {
  const pages = Math.max(1, Math.ceil(data.count / data.page_size));
  return h('div', { class: 'row pager' },
    h('button', { disabled: data.page <= 1, onclick: () => go(data.page - 1) }, '‹ Previous'),
    h('span', { class: 'muted' }, `Page ${data.page} of ${pages} (${data.count})`),
    h('button', { disabled: data.page >= pages, onclick: () => go(data.page + 1) }, 'Next ›'));
}
