// attribution.js: the attribution view. For the dashboard's selected date
// range (the report's), every model of GET /api/v1/attribution?model=all side
// by side: a grouped bar chart (uPlot's bar path builder, one series per
// model, one group per channel or campaign) and a table with the same
// numbers. Numbers come from the API and are only formatted here.

import { get } from './api.js';
import { h, fill, announce } from './dom.js';
import { formatMoney } from './format.js';
import { rangeLabel } from './dates.js';
import { selectedRange } from './report.js';

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#9c755f'];

const state = { by: 'channel', impressions: 'include', metric: 'conversions' };
let loadsDone = 0;

// The row's label: a channel name, or a campaign's name (#id when unnamed).
export function attributionLabel(row) {
  if (row.channel !== undefined) return row.channel;
  return row.campaign_name ? row.campaign_name : `#${row.campaign_id}`;
}

// What a cell shows: conversions with 2 decimals, value as money.
function cellText(metric, v, currency) {
  return metric === 'value' ? formatMoney(v, currency) : Number(v).toFixed(2);
}

// The chart's data: x positions model by model inside each group, with a
// gap of one slot between groups; a series is null outside its own slots.
function chartData(doc, metric) {
  const m = doc.models.length;
  const xs = [];
  const ys = doc.models.map(() => []);
  doc.rows.forEach((row, g) => {
    doc.models.forEach((model, k) => {
      xs.push(g * (m + 1) + k);
      doc.models.forEach((_, j) => ys[j].push(j === k ? Number(row[metric][model]) : null));
    });
  });
  return [xs, ...ys];
}

function drawChart(el, doc, metric, currency) {
  el.replaceChildren();
  if (!window.uPlot) {
    el.textContent = 'The chart library did not load.';
    return null;
  }
  if (!doc.rows.length) {
    el.textContent = 'No journeys in this range.';
    return null;
  }
  const m = doc.models.length;
  const centers = doc.rows.map((_, g) => g * (m + 1) + (m - 1) / 2);
  const bars = window.uPlot.paths.bars({ size: [0.9, 40], align: 0 });
  const opts = {
    width: Math.max(320, el.clientWidth),
    height: 280,
    scales: { x: { time: false, range: () => [-1, doc.rows.length * (m + 1) - 1] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
    series: [
      { label: doc.by === 'campaign' ? 'Campaign' : 'Channel', value: (u, x) => (x === null || x === undefined ? '' : attributionLabel(doc.rows[Math.floor(x / (m + 1))] || {})) },
      ...doc.models.map((model, k) => ({
        label: model,
        fill: COLORS[k % COLORS.length],
        stroke: COLORS[k % COLORS.length],
        paths: bars,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? '–' : cellText(metric, v, currency)),
      })),
    ],
    axes: [
      { splits: () => centers, values: (u, ticks) => ticks.map((t) => attributionLabel(doc.rows[Math.round((t - (m - 1) / 2) / (m + 1))] || {})), grid: { show: false } },
      { size: 60, grid: { stroke: '#eee' } },
    ],
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
  };
  return new window.uPlot(opts, chartData(doc, metric), el);
}

function table(doc, metric, currency) {
  const head = h('tr', {}, h('th', { scope: 'col' }, doc.by === 'campaign' ? 'Campaign' : 'Channel'), doc.models.map((mo) => h('th', { scope: 'col', 'data-model': mo }, mo)));
  const body = doc.rows.map((row) =>
    h(
      'tr',
      { 'data-label': attributionLabel(row) },
      h('th', { scope: 'row' }, attributionLabel(row)),
      doc.models.map((mo) => h('td', { class: 'num', 'data-model': mo, 'data-value': String(row[metric][mo]) }, cellText(metric, row[metric][mo], currency))),
    ),
  );
  const total = metric === 'value' ? formatMoney(doc.totals.value, currency) : String(doc.totals.conversions);
  const foot = h('tr', {}, h('th', { scope: 'row' }, 'Total'), doc.models.map(() => h('td', { class: 'num' }, total)));
  return h('table', { class: 'data', id: 'attribution-table', 'data-metric': metric }, h('thead', {}, head), h('tbody', {}, body), h('tfoot', {}, foot));
}

export function attributionView(root, ctx) {
  const tz = ctx.settings.timezone || 'UTC';
  const currency = ctx.settings.currency || 'USD';
  let plot = null;
  let seq = 0;
  const chartEl = h('div', { class: 'chart', id: 'chart-attribution', role: 'img', 'aria-label': 'Attributed conversions by model' });
  const tableEl = h('div', { class: 'table-wrap', id: 'attribution-table-wrap' });
  const info = h('p', { class: 'hint', id: 'attribution-info' });
  const select = (id, key, options) =>
    h('select', { id, name: key, onchange: (ev) => ((state[key] = ev.target.value), load()) }, options.map(([v, label]) => h('option', { value: v, selected: state[key] === v }, label)));
  const section = h(
    'section',
    { class: 'attribution', 'data-loads': '0' },
    h('h1', {}, 'Attribution'),
    h(
      'div',
      { class: 'toolbar' },
      h('span', { class: 'range-label', id: 'attribution-range' }),
      h('label', { for: 'attr-by' }, 'By'),
      select('attr-by', 'by', [['channel', 'Traffic source'], ['campaign', 'Campaign']]),
      h('label', { for: 'attr-metric' }, 'Show'),
      select('attr-metric', 'metric', [['conversions', 'Conversions'], ['value', 'Value']]),
      h('label', { for: 'attr-impressions' }, 'Impressions'),
      select('attr-impressions', 'impressions', [['include', 'Include'], ['exclude', 'Exclude']]),
    ),
    chartEl,
    info,
    tableEl,
  );
  fill(root, section);

  async function load() {
    const mine = ++seq;
    const { from, to } = selectedRange(tz);
    section.querySelector('#attribution-range').textContent = rangeLabel(from, to);
    try {
      const doc = await get('/attribution', { model: 'all', from, to, by: state.by, impressions: state.impressions });
      if (mine !== seq) return;
      if (plot) plot.destroy();
      plot = drawChart(chartEl, doc, state.metric, currency);
      fill(tableEl, table(doc, state.metric, currency));
      info.textContent = `${doc.journeys} journeys, ${doc.totals.conversions} conversions worth ${formatMoney(doc.totals.value, currency)}` + (doc.warnings.length ? ` · ${doc.warnings.join(' · ')}` : '');
      section.dataset.params = JSON.stringify({ model: 'all', from, to, by: state.by, impressions: state.impressions });
    } catch (e) {
      if (mine !== seq) return;
      announce(`Could not load attribution: ${e.message}`, 'error');
    }
    section.dataset.loads = String(++loadsDone);
  }
  load();
  return {
    destroy() {
      seq++;
      if (plot) plot.destroy();
      plot = null;
    },
  };
}
