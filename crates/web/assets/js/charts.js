// Visualizations drawn as SVG: line, bar (grouped or stacked), area, pie, scatter; plus the
// counter and the table (results.js). Options follow Redash's shape: `globalSeriesType`,
// `columnMapping` ({column: "x" | "y" | "series"}), `series.stacking`, `xAxis.title.text`,
// `yAxis[0].title.text`, `legend.enabled`; counters use `counterColName` and `counterLabel`.

import { h, mount, errorBox } from './ui.js';
import { resultTable } from './results.js';

const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#2f6fde', '#e8743b', '#19a979', '#ed4a7b', '#945ecf', '#13a4b4', '#6c8893', '#bf399e', '#d4a520', '#525df4'];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Round tick values covering [lo, hi]. */
function ticks(lo, hi, n = 5) {
  if (lo === hi) { hi = lo + 1; }
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(x => x >= raw) || raw;
  const out = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  if (out[out.length - 1] < hi) out.push(out[out.length - 1] + step);
  return out;
}

const fmt = v => (Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(1) + 'M' : Math.abs(v) >= 1e4 ? (v / 1e3).toFixed(0) + 'k' : String(+(+v).toFixed(2)));

/** Splits rows into series: per series-column value, or one per y column. */
export function buildSeries(rows, mapping) {
  const x = Object.keys(mapping).find(c => mapping[c] === 'x');
  const ys = Object.keys(mapping).filter(c => mapping[c] === 'y');
  const group = Object.keys(mapping).find(c => mapping[c] === 'series');
  const xs = [];
  const seen = new Map();
  for (const r of rows) {
    const key = String(r[x]);
    if (!seen.has(key)) { seen.set(key, xs.length); xs.push(r[x]); }
  }
  const series = new Map();
  for (const r of rows) {
    for (const y of ys) {
      const name = group ? (ys.length > 1 ? `${r[group]} · ${y}` : String(r[group])) : y;
      if (!series.has(name)) series.set(name, new Array(xs.length).fill(null));
      const v = Number(r[y]);
      if (r[y] !== null && !Number.isNaN(v)) {
        const arr = series.get(name);
        const i = seen.get(String(r[x]));
        arr[i] = (arr[i] || 0) + v;
      }
    }
  }
  return { x, ys, xs, series: [...series.entries()].map(([name, values]) => ({ name, values })) };
}

function legend(svg, names, W, top) {
  let lx = 60;
  names.forEach((n, i) => {
    const g = s('g', { class: 'legend-item' });
    g.append(s('rect', { x: lx, y: top, width: 10, height: 10, fill: COLORS[i % COLORS.length] }));
    const label = n.length > 24 ? n.slice(0, 23) + '…' : n;
    g.append(s('text', { x: lx + 14, y: top + 9, 'font-size': 11 }, label));
    svg.append(g);
    lx += 24 + label.length * 6.5;
    if (lx > W - 80) { lx = 60; top += 14; }
  });
}

function xyChart(result, options) {
  const type = options.globalSeriesType || 'line';
  const stacked = (options.series && options.series.stacking) === 'stack' && (type === 'column' || type === 'area');
  const data = buildSeries(result.data.rows, options.columnMapping || {});
  if (!data.x || data.ys.length === 0) return h('div', { class: 'empty' }, 'Choose an X column and at least one Y column.');
  const W = 640, H = 320, L = 56, R = 16, T = 16, B = 64;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${type} chart`, class: `chart-${type}` });
  const n = data.xs.length;
  const numericX = type === 'scatter' && data.xs.every(v => typeof v === 'number');
  let lo = 0, hi = 0;
  if (stacked) {
    for (let i = 0; i < n; i++) {
      let pos = 0, neg = 0;
      for (const se of data.series) { const v = se.values[i] || 0; if (v >= 0) pos += v; else neg += v; }
      hi = Math.max(hi, pos); lo = Math.min(lo, neg);
    }
  } else {
    for (const se of data.series) for (const v of se.values) if (v !== null) { hi = Math.max(hi, v); lo = Math.min(lo, v); }
  }
  const yt = ticks(lo, hi);
  const y0 = yt[0], y1 = yt[yt.length - 1];
  const py = v => T + (H - T - B) * (1 - (v - y0) / (y1 - y0 || 1));
  let px;
  if (numericX) {
    const xmin = Math.min(...data.xs), xmax = Math.max(...data.xs);
    px = i => L + (W - L - R) * ((data.xs[i] - xmin) / (xmax - xmin || 1));
  } else {
    const band = (W - L - R) / Math.max(n, 1);
    px = i => L + band * (i + 0.5);
  }
  for (const t of yt) {
    svg.append(s('line', { x1: L, x2: W - R, y1: py(t), y2: py(t), stroke: '#e3e8ee' }));
    svg.append(s('text', { x: L - 6, y: py(t) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#555' }, fmt(t)));
  }
  const every = Math.ceil(n / 12);
  data.xs.forEach((xv, i) => {
    if (i % every) return;
    const label = String(xv).length > 14 ? String(xv).slice(0, 13) + '…' : String(xv);
    svg.append(s('text', { x: px(i), y: H - B + 16, 'text-anchor': 'middle', 'font-size': 11, fill: '#555' }, label));
  });
  svg.append(s('line', { x1: L, x2: W - R, y1: py(Math.max(0, y0)), y2: py(Math.max(0, y0)), stroke: '#889' }));
  const band = (W - L - R) / Math.max(n, 1);
  const stackPos = new Array(n).fill(0), stackNeg = new Array(n).fill(0);
  data.series.forEach((se, k) => {
    const color = COLORS[k % COLORS.length];
    const g = s('g', { class: 'series', 'data-name': se.name });
    if (type === 'column') {
      const gw = band * 0.8, bw = stacked ? gw : gw / data.series.length;
      se.values.forEach((v, i) => {
        if (v === null) return;
        let from = 0, to = v;
        if (stacked) {
          const base = v >= 0 ? stackPos[i] : stackNeg[i];
          from = base; to = base + v;
          if (v >= 0) stackPos[i] = to; else stackNeg[i] = to;
        }
        const x = px(i) - gw / 2 + (stacked ? 0 : k * bw);
        const rect = s('rect', { x, y: Math.min(py(from), py(to)), width: Math.max(bw - 1, 1), height: Math.abs(py(from) - py(to)), fill: color });
        rect.append(s('title', {}, `${se.name} · ${data.xs[i]}: ${v}`));
        g.append(rect);
      });
    } else if (type === 'scatter') {
      se.values.forEach((v, i) => {
        if (v === null) return;
        const c = s('circle', { cx: px(i), cy: py(v), r: 4, fill: color, 'fill-opacity': 0.8 });
        c.append(s('title', {}, `${se.name} · ${data.xs[i]}: ${v}`));
        g.append(c);
      });
    } else {
      const pts = [], base = [];
      se.values.forEach((v, i) => {
        if (v === null && !stacked) return;
        let top = v || 0, bottom = 0;
        if (stacked) { bottom = stackPos[i]; top = bottom + (v || 0); stackPos[i] = top; }
        pts.push([px(i), py(top)]);
        base.push([px(i), py(bottom)]);
      });
      if (!pts.length) return;
      const line = pts.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ',' + p[1].toFixed(1)).join('');
      if (type === 'area') {
        const back = base.slice().reverse().map(p => 'L' + p[0].toFixed(1) + ',' + p[1].toFixed(1)).join('');
        g.append(s('path', { d: line + back + 'Z', fill: color, 'fill-opacity': 0.35, stroke: 'none' }));
      }
      g.append(s('path', { d: line, fill: 'none', stroke: color, 'stroke-width': 2 }));
    }
    svg.append(g);
  });
  const xTitle = options.xAxis && options.xAxis.title && options.xAxis.title.text;
  const yTitle = options.yAxis && options.yAxis[0] && options.yAxis[0].title && options.yAxis[0].title.text;
  if (xTitle) svg.append(s('text', { x: (W + L) / 2, y: H - B + 34, 'text-anchor': 'middle', 'font-size': 12, class: 'axis-title' }, xTitle));
  if (yTitle) svg.append(s('text', { x: 14, y: (H - B + T) / 2, 'text-anchor': 'middle', 'font-size': 12, transform: `rotate(-90 14 ${(H - B + T) / 2})`, class: 'axis-title' }, yTitle));
  if (!options.legend || options.legend.enabled !== false) legend(svg, data.series.map(x => x.name), W, H - 18);
  return svg;
}

function pieChart(result, options) {
  const data = buildSeries(result.data.rows, options.columnMapping || {});
  if (!data.x || !data.series.length) return h('div', { class: 'empty' }, 'Choose an X column (slices) and a Y column (sizes).');
  const values = data.series[0].values.map(v => Math.max(0, v || 0));
  const total = values.reduce((a, b) => a + b, 0);
  const W = 640, H = 320, cx = 200, cy = 150, r = 130;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'pie chart', class: 'chart-pie' });
  if (total <= 0) { svg.append(s('text', { x: cx, y: cy }, 'No positive values')); return svg; }
  let a = -Math.PI / 2;
  values.forEach((v, i) => {
    const frac = v / total;
    const b = a + frac * 2 * Math.PI;
    const large = b - a > Math.PI ? 1 : 0;
    const d = frac >= 0.9999
      ? `M${cx - r},${cy}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0`
      : `M${cx},${cy}L${cx + r * Math.cos(a)},${cy + r * Math.sin(a)}A${r},${r} 0 ${large} 1 ${cx + r * Math.cos(b)},${cy + r * Math.sin(b)}Z`;
    const p = s('path', { d, fill: COLORS[i % COLORS.length], stroke: '#fff' });
    p.append(s('title', {}, `${data.xs[i]}: ${v} (${(frac * 100).toFixed(1)}%)`));
    svg.append(p);
    a = b;
  });
  if (!options.legend || options.legend.enabled !== false) {
    data.xs.slice(0, 14).forEach((xv, i) => {
      svg.append(s('rect', { x: 370, y: 30 + i * 18, width: 10, height: 10, fill: COLORS[i % COLORS.length] }));
      svg.append(s('text', { x: 386, y: 39 + i * 18, 'font-size': 12 }, `${xv} (${(values[i] / total * 100).toFixed(1)}%)`));
    });
  }
  return svg;
}

function counter(result, options) {
  const rows = result.data.rows;
  const col = options.counterColName || (result.data.columns[0] && result.data.columns[0].name);
  const row = rows[Math.max(0, (options.rowNumber || 1) - 1)];
  const value = row ? row[col] : null;
  return h('div', {}, h('div', { class: 'counter' }, value === null || value === undefined ? '–' : String(value)),
    h('div', { class: 'counter-label' }, options.counterLabel || col || ''));
}

/**
 * The element showing visualization `vis` ({type, options}) of `data` (a ResultData): the table
 * pages through the result; charts and counters draw its first CHART_MAX_ROWS rows, with a note
 * when the result has more.
 */
export function renderVisualization(vis, data) {
  const options = vis.options || {};
  if (vis.type === 'TABLE') return resultTable(data);
  const box = h('div', { class: 'chart' }, h('p', { class: 'muted' }, 'Loading…'));
  data.chartRows().then(rows => {
    const result = { data: { columns: data.columns, rows } };
    if (vis.type === 'COUNTER') { mount(box, counter(result, options)); return; }
    if (!rows.length) { mount(box, h('div', { class: 'empty' }, 'The result has no rows to draw.')); return; }
    mount(box, options.globalSeriesType === 'pie' ? pieChart(result, options) : xyChart(result, options),
      data.rowCount > rows.length ? h('p', { class: 'muted chart-note' }, `Chart shows first ${rows.length} rows of ${data.rowCount}.`) : null);
  }, e => mount(box, errorBox(e)));
  return box;
}
