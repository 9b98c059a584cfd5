// cohorts.js: the lifetime-value view. Visitors grouped by the month of
// their first approved conversion (GET /api/v1/clv): CLV after 30, 90 and
// 365 days as a grouped bar chart, and a table with the cohort's visitors,
// conversions and revenue. A window that is still open is marked, since its
// figure is a floor. Numbers come from the API and are only formatted here.

import { get } from './api.js';
import { h, fill, announce } from './dom.js';
import { formatCount, formatMoney } from './format.js';

const WINDOWS = [30, 90, 365];
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f'];
const state = { months: '6' };
let loadsDone = 0;

// "YYYY-MM" of the month `back` months before this one in zone `tz`.
export function monthBefore(tz, back, now = new Date()) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit' }).formatToParts(now);
  const y = Number(parts.find((p) => p.type === 'year').value);
  const m = Number(parts.find((p) => p.type === 'month').value) - 1 - back;
  const yy = y + Math.floor(m / 12);
  const mm = ((m % 12) + 12) % 12;
  return `${String(yy).padStart(4, '0')}-${String(mm + 1).padStart(2, '0')}`;
}

function chartData(doc) {
  const xs = [];
  const ys = WINDOWS.map(() => []);
  doc.cohorts.forEach((k, g) => {
    WINDOWS.forEach((w, i) => {
      xs.push(g * (WINDOWS.length + 1) + i);
      WINDOWS.forEach((_, j) => ys[j].push(j === i && k[`clv_${w}d`] !== null ? Number(k[`clv_${w}d`]) : null));
    });
  });
  return [xs, ...ys];
}

function drawChart(el, doc) {
  el.replaceChildren();
  if (!window.uPlot) {
    el.textContent = 'The chart library did not load.';
    return null;
  }
  if (!doc.cohorts.some((k) => k.visitors > 0)) {
    el.textContent = 'No converting visitors in these months.';
    return null;
  }
  const n = WINDOWS.length + 1;
  const centers = doc.cohorts.map((_, g) => g * n + (n - 2) / 2);
  const bars = window.uPlot.paths.bars({ size: [0.9, 40], align: 0 });
  return new window.uPlot(
    {
      width: Math.max(320, el.clientWidth),
      height: 260,
      scales: { x: { time: false, range: () => [-1, doc.cohorts.length * n - 1] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      series: [
        { label: 'Cohort', value: (u, x) => (x === null || x === undefined ? '' : (doc.cohorts[Math.floor(x / n)] || {}).cohort || '') },
        ...WINDOWS.map((w, k) => ({
          label: `CLV ${w} days`,
          fill: COLORS[k],
          stroke: COLORS[k],
          paths: bars,
          points: { show: false },
          value: (u, v) => (v === null || v === undefined ? '–' : formatMoney(v, doc.currency)),
        })),
      ],
      axes: [
        { splits: () => centers, values: (u, ticks) => ticks.map((t) => (doc.cohorts[Math.round((t - (n - 2) / 2) / n)] || {}).cohort || ''), grid: { show: false } },
        { size: 70, grid: { stroke: '#eee' } },
      ],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    },
    chartData(doc),
    el,
  );
}

function clvCell(k, w, currency) {
  const v = k[`clv_${w}d`];
  const open = v !== null && !k[`complete_${w}d`];
  return h('td', { class: 'num', 'data-key': `clv_${w}d`, 'data-value': v === null ? '' : v, title: open ? 'window still open: a floor' : null }, formatMoney(v, currency) + (open ? ' …' : ''));
}

function table(doc) {
  const cur = doc.currency;
  const cols = ['Cohort', 'Visitors', 'Conversions', 'Revenue', ...WINDOWS.map((w) => `CLV ${w}d`)];
  const row = (k, label) =>
    h(
      'tr',
      { 'data-cohort': label },
      h('th', { scope: 'row' }, label),
      h('td', { class: 'num', 'data-key': 'visitors', 'data-value': String(k.visitors) }, formatCount(k.visitors)),
      h('td', { class: 'num', 'data-key': 'conversions', 'data-value': String(k.conversions) }, formatCount(k.conversions)),
      h('td', { class: 'num', 'data-key': 'revenue', 'data-value': k.revenue }, formatMoney(k.revenue, cur)),
      WINDOWS.map((w) => clvCell(k, w, cur)),
    );
  return h(
    'table',
    { class: 'data', id: 'cohort-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, doc.cohorts.map((k) => row(k, k.cohort))),
    h('tfoot', {}, row(doc.totals, 'Total')),
  );
}

export function cohortsView(root, ctx) {
  const tz = ctx.settings.timezone || 'UTC';
  let plot = null;
  let seq = 0;
  const chartEl = h('div', { class: 'chart', id: 'chart-cohorts', role: 'img', 'aria-label': 'Lifetime value by cohort' });
  const tableEl = h('div', { class: 'table-wrap' });
  const info = h('p', { class: 'hint', id: 'cohorts-info' });
  const section = h(
    'section',
    { class: 'cohorts', 'data-loads': '0' },
    h('h1', {}, 'Lifetime value'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'cohort-months' }, 'Cohorts'),
      h(
        'select',
        { id: 'cohort-months', name: 'months', onchange: (ev) => ((state.months = ev.target.value), load()) },
        [['6', 'Last 6 months'], ['12', 'Last 12 months'], ['24', 'Last 24 months']].map(([v, l]) => h('option', { value: v, selected: state.months === v }, l)),
      ),
    ),
    chartEl,
    info,
    tableEl,
  );
  fill(root, section);

  async function load() {
    const mine = ++seq;
    const params = { from: monthBefore(tz, Number(state.months) - 1), to: monthBefore(tz, 0) };
    try {
      const doc = await get('/clv', params);
      if (mine !== seq) return;
      if (plot) plot.destroy();
      plot = drawChart(chartEl, doc);
      fill(tableEl, table(doc));
      info.textContent =
        `Visitors by the month (${doc.tz}) of their first approved conversion; CLV = approved revenue within N days of it, per visitor. ` +
        '“…” marks a window still open.' + (doc.excluded_conversions ? ` ${doc.excluded_conversions} conversions in other currencies left out.` : '');
      section.dataset.params = JSON.stringify(params);
    } catch (e) {
      if (mine !== seq) return;
      announce(`Could not load lifetime value: ${e.message}`, 'error');
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
