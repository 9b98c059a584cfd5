// chart.js: the time-series charts, drawn by uPlot (loaded by index.html
// from /ui/vendor/uplot.min.js, embedded in the binary at build time).
//
// Two charts share one time axis: traffic (clicks on the left axis,
// conversions on the right: they differ by orders of magnitude) and money
// (cost, revenue, profit on one axis). Legends show the API's own values
// for the hovered bucket, formatted like the table.

import { formatCount, formatMoney } from './format.js';
import { addDays, daysBetween } from './dates.js';

const COLORS = { clicks: '#1c6dd0', conversions: '#2b8a3e', cost: '#c92a2a', revenue: '#1c6dd0', profit: '#2b8a3e' };

// The start (seconds since the epoch, as if the workspace's wall clock were
// UTC) of a row's time bucket, or null. Accepts day "YYYY-MM-DD" and hour
// "YYYY-MM-DDTHH[:MM[:SS]]" (or with a space), with or without a zone.
export function bucketStart(row, unit) {
  const v = row[unit];
  if (v === null || v === undefined) return null;
  const s = String(v);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}))?/.exec(s);
  if (!m) return null;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], m[4] ? +m[4] : 0) / 1000;
}

// Every bucket of [from, to] (days inclusive), so days without traffic show as 0.
function buckets(from, to, unit) {
  const out = [];
  const n = daysBetween(from, to);
  for (let i = 0; i < n; i++) {
    const day = Date.parse(addDays(from, i) + 'T00:00:00Z') / 1000;
    if (unit === 'hour') for (let hr = 0; hr < 24; hr++) out.push(day + hr * 3600);
    else out.push(day);
  }
  return out;
}

// Columns for uPlot: x, then one array per metric (numbers for drawing),
// plus the API's raw values by bucket for the legend.
function columns(rows, from, to, unit, metrics) {
  const xs = buckets(from, to, unit);
  const index = new Map(xs.map((x, i) => [x, i]));
  const raw = metrics.map(() => xs.map(() => null));
  for (const row of rows) {
    const i = index.get(bucketStart(row, unit));
    if (i === undefined) continue;
    metrics.forEach((m, k) => {
      raw[k][i] = row[m];
    });
  }
  const nums = raw.map((col) => col.map((v) => (v === null || v === undefined ? 0 : Number(v))));
  return { xs, nums, raw };
}

function pad(n) {
  return String(n).padStart(2, '0');
}

function bucketLabel(ts, unit) {
  if (ts === null || ts === undefined) return '';
  const d = new Date(ts * 1000);
  const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return unit === 'hour' ? `${day} ${pad(d.getUTCHours())}:00` : day;
}

function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, '') + 'B';
  if (a >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
  return String(Math.round(v * 100) / 100);
}

// One uPlot chart in `el`. spec: { metrics: [{key, label, scale, money}],
// scales: {name: {side, label}} }. Returns { update(rows, from, to, unit, currency), destroy() }.
export function timeChart(el, spec) {
  let plot = null;
  let observer = null;
  let state = null;

  function options(unit, currency) {
    const series = [{ label: unit === 'hour' ? 'Hour' : 'Day', value: (u, ts) => bucketLabel(ts, unit) }];
    spec.metrics.forEach((m, k) => {
      series.push({
        label: m.label,
        scale: m.scale,
        stroke: COLORS[m.key],
        width: 2,
        points: { show: unit === 'day' },
        value: (u, v, si, idx) => {
          if (idx === null || idx === undefined || !state) return '–';
          const raw = state.raw[k][idx];
          return m.money ? formatMoney(raw ?? '0', currency) : formatCount(raw ?? 0);
        },
      });
    });
    const axes = [{ stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' } }];
    for (const [name, s] of Object.entries(spec.scales)) {
      axes.push({
        scale: name,
        side: s.side,
        stroke: '#555',
        grid: { show: s.side === 3, stroke: '#eee' },
        ticks: { stroke: '#ddd' },
        size: 56,
        values: (u, ticks) => ticks.map(compact),
      });
    }
    const scales = { x: { time: true } };
    for (const name of Object.keys(spec.scales)) scales[name] = { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] };
    return {
      width: Math.max(280, el.clientWidth),
      height: 240,
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales,
      series,
      axes,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
  }

  return {
    update(rows, from, to, unit, currency) {
      state = columns(rows, from, to, unit, spec.metrics.map((m) => m.key));
      if (plot) plot.destroy();
      el.replaceChildren();
      if (!window.uPlot) {
        el.textContent = 'The chart library did not load.';
        return;
      }
      plot = new window.uPlot(options(unit, currency), [state.xs, ...state.nums], el);
      if (!observer && window.ResizeObserver) {
        observer = new ResizeObserver(() => {
          if (plot && el.clientWidth > 0 && Math.abs(plot.width - el.clientWidth) > 2) plot.setSize({ width: el.clientWidth, height: 240 });
        });
        observer.observe(el);
      }
    },
    destroy() {
      if (observer) observer.disconnect();
      if (plot) plot.destroy();
      plot = null;
      observer = null;
    },
  };
}

export const TRAFFIC = {
  metrics: [
    { key: 'clicks', label: 'Clicks', scale: 'n' },
    { key: 'conversions', label: 'Conversions', scale: 'k' },
  ],
  scales: { n: { side: 3 }, k: { side: 1 } },
};

export const MONEY = {
  metrics: [
    { key: 'cost', label: 'Cost', scale: 'm', money: true },
    { key: 'revenue', label: 'Revenue', scale: 'm', money: true },
    { key: 'profit', label: 'Profit', scale: 'm', money: true },
  ],
  scales: { m: { side: 3, money: true } },
};
