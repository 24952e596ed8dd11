// The visualization editor: type, columns, series grouping, stacking, axis titles and legend,
// with a live preview on the current result.

import { post } from './api.js';
import { h, mount, action, toast } from './ui.js';
import { renderVisualization } from './charts.js';

/** The editor for visualization `vis` (null: a new one) of `query`, previewed on `result` (a
 * ResultData); `onSaved(vis)` after saving. */
export function visualizationEditor(query, result, vis, onSaved) {
  const cols = result.columns.map(c => c.name);
  const numeric = result.columns.filter(c => c.type === 'integer' || c.type === 'float').map(c => c.name);
  const o = vis ? JSON.parse(JSON.stringify(vis.options || {})) : {};
  const mapping = o.columnMapping || {};
  const xDefault = Object.keys(mapping).find(c => mapping[c] === 'x') || cols[0];
  const yDefault = Object.keys(mapping).filter(c => mapping[c] === 'y');
  const ys = new Set(yDefault.length ? yDefault : numeric.filter(c => c !== xDefault).slice(0, 1));
  const sel = (id, label, options, value) => {
    const el = h('select', { id, 'aria-label': label }, options.map(([v, t]) => h('option', { value: v }, t)));
    el.value = value;
    return h('span', {}, h('label', { for: id }, label), el);
  };
  const field = (id, label, value) => h('span', {}, h('label', { for: id }, label), h('input', { id, value: value || '' }));
  const form = h('div', { class: 'visform' },
    field('vis-name', 'Name', vis ? vis.name : 'Chart'),
    sel('vis-type', 'Visualization type', [['CHART', 'Chart'], ['COUNTER', 'Counter'], ['TABLE', 'Table']], vis ? vis.type : 'CHART'),
    sel('vis-chart', 'Chart type', [['line', 'Line'], ['column', 'Bar'], ['area', 'Area'], ['pie', 'Pie'], ['scatter', 'Scatter']], o.globalSeriesType || 'column'),
    sel('vis-x', 'X column', cols.map(c => [c, c]), xDefault),
    h('span', {}, h('label', {}, 'Y columns'), h('span', { class: 'row', id: 'vis-y' }, cols.map(c => h('label', { style: 'margin:0;color:inherit' },
      h('input', { type: 'checkbox', value: c, checked: ys.has(c), onchange: e => { e.target.checked ? ys.add(c) : ys.delete(c); preview(); } }), ' ', c)))),
    sel('vis-series', 'Group series by', [['', '(none)'], ...cols.map(c => [c, c])], Object.keys(mapping).find(c => mapping[c] === 'series') || ''),
    sel('vis-stacking', 'Bars and areas', [['', 'Side by side'], ['stack', 'Stacked']], (o.series && o.series.stacking) || ''),
    field('vis-xtitle', 'X axis label', o.xAxis && o.xAxis.title && o.xAxis.title.text),
    field('vis-ytitle', 'Y axis label', o.yAxis && o.yAxis[0] && o.yAxis[0].title && o.yAxis[0].title.text),
    sel('vis-legend', 'Legend', [['1', 'Shown'], ['0', 'Hidden']], o.legend && o.legend.enabled === false ? '0' : '1'),
    sel('vis-counter', 'Counter column', cols.map(c => [c, c]), o.counterColName || numeric[0] || cols[0]),
    field('vis-counter-label', 'Counter label', o.counterLabel));
  const val = id => form.querySelector('#' + id).value;
  const build = () => {
    const columnMapping = { [val('vis-x')]: 'x' };
    for (const y of ys) if (y !== val('vis-x')) columnMapping[y] = 'y';
    if (val('vis-series')) columnMapping[val('vis-series')] = 'series';
    return {
      type: val('vis-type'), name: val('vis-name') || 'Chart',
      options: { ...o, globalSeriesType: val('vis-chart'), columnMapping, series: { stacking: val('vis-stacking') || null },
        xAxis: { title: { text: val('vis-xtitle') } }, yAxis: [{ title: { text: val('vis-ytitle') } }],
        legend: { enabled: val('vis-legend') === '1' }, counterColName: val('vis-counter'), counterLabel: val('vis-counter-label') },
    };
  };
  const previewBox = h('div', { class: 'card', id: 'vis-preview' });
  const preview = () => { try { mount(previewBox, renderVisualization(build(), result)); } catch (e) { mount(previewBox, String(e)); } };
  form.addEventListener('change', preview);
  form.addEventListener('input', preview);
  preview();
  return h('div', { class: 'card' }, h('h2', {}, vis ? 'Edit visualization' : 'New visualization'), form, previewBox,
    h('button', { class: 'primary', id: 'save-vis', onclick: action(async () => {
      const b = build();
      const saved = await post(vis ? `/api/visualizations/${vis.id}` : '/api/visualizations', { ...b, query_id: query.id });
      toast('Visualization saved.');
      onSaved(saved);
    }) }, 'Save visualization'));
}
