// report.js: the report view: date range and filters, the KPI strip with
// the change against the previous period, the time-series charts, and the
// sortable drill-down table (campaigns → their traffic sources → their
// sub-ids), with CSV download. Every number comes from GET /api/v1/reports
// and is only formatted here (format.js), never recomputed.

import { get, listAll, request, query } from './api.js';
import { h, fill, announce } from './dom.js';
import { METRICS, formatMetric, formatChange } from './format.js';
import { PRESETS, presetRange, previousRange, rangeLabel, daysBetween, today } from './dates.js';
import { timeChart, TRAFFIC, MONEY } from './chart.js';

// The dimensions the page groups and filters by: the report API's
// group_by/filter names, and the row keys that carry their id and name.
export const DIMS = {
  campaign: { label: 'Campaign', plural: 'Campaigns', id: 'campaign_id', name: 'campaign_name' },
  traffic_source: { label: 'Traffic source', plural: 'Traffic sources', id: 'traffic_source_id', name: 'traffic_source_name' },
  offer: { label: 'Offer', plural: 'Offers', id: 'offer_id', name: 'offer_name' },
  sub1: { label: 'Sub ID (sub1)', plural: 'Sub IDs (sub1)', id: 'sub1', name: 'sub1' },
};
// The drill-down path.
export const LEVELS = ['campaign', 'traffic_source', 'sub1'];
// Every metric the table asks for; the columns shown are the chosen ones
// (the column menu, kept in localStorage), by default the API's default
// set: METRICS without `extra`.
export const TABLE_METRICS = Object.keys(METRICS);
export const DEFAULT_COLUMNS = TABLE_METRICS.filter((k) => !METRICS[k].extra);
const COLUMNS_KEY = 'perfmark.reportColumns';
function loadColumns() {
  try {
    const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY));
    if (Array.isArray(saved)) {
      const known = saved.filter((k) => TABLE_METRICS.includes(k));
      if (known.length) return TABLE_METRICS.filter((k) => known.includes(k));
    }
  } catch {
    /* no storage, or not ours: the default */
  }
  return [...DEFAULT_COLUMNS];
}
export const KPI_METRICS = ['clicks', 'conversions', 'cvr', 'cost', 'revenue', 'profit', 'roi', 'epc'];
const SERIES_METRICS = ['clicks', 'conversions', 'cost', 'revenue', 'profit'];
// Rows the table asks for (the API's default is 100; a sub-id level can
// have thousands): past this, the page says how many it is not showing.
export const TABLE_LIMIT = 1000;

// A row's or total's value of `key` in the previous period, and its
// relative change, as compare=previous gives them ("previous": {...},
// "change": {...}); undefined without a comparison.
export function previousOf(obj, key) {
  return obj && obj.previous ? obj.previous[key] : undefined;
}
export function changeOf(obj, key) {
  return obj && obj.change ? obj.change[key] : undefined;
}

// What a table row shows for its dimension, and the value to filter on.
export function rowLabel(row, dim) {
  const d = DIMS[dim];
  const name = row[d.name];
  if (name !== null && name !== undefined && name !== '') return String(name);
  const id = row[d.id];
  if (id === null || id === undefined || id === '') return '(none)';
  return dim === 'sub1' ? String(id) : `#${id}`;
}
function rowKey(row, dim) {
  const v = row[DIMS[dim].id];
  return v === null || v === undefined ? '' : String(v);
}

// Reports shown so far (a data attribute the browser test waits on).
let loadsDone = 0;

// The report state, kept while the user moves between views.
const state = {
  preset: '7d',
  from: null,
  to: null,
  level: 'campaign',
  filters: {}, // dim → { value, label }
  sort: { key: 'clicks', dir: 'desc' },
  columns: null, // metric keys shown in the table, in TABLE_METRICS order
};

// The dashboard's selected date range (YYYY-MM-DD, both inclusive), shared
// with the other views that follow it (attribution.js).
export function selectedRange(tz) {
  if (!state.from || state.preset !== 'custom') Object.assign(state, presetRange(state.preset, tz));
  return { from: state.from, to: state.to };
}

// The API parameters of the current state. Exported for the test's sake
// of reading the same thing the page asks for (see tests/browser/).
export function reportParams(s = state) {
  const filter = Object.entries(s.filters).map(([dim, f]) => `${dim}:eq:${f.value}`);
  return { from: s.from, to: s.to, filter };
}
// The table's query: KPIs (totals), rows, the previous period.
export function tableParams(s = state) {
  const sort = s.sort.key === 'dim' ? s.level : s.sort.key;
  return {
    ...reportParams(s),
    group_by: s.level,
    metrics: TABLE_METRICS.join(','),
    compare: 'previous',
    sort: (s.sort.dir === 'desc' ? '-' : '') + sort,
    limit: TABLE_LIMIT,
  };
}
// The CSV download: the table's question, up to the API's row cap.
export const CSV_LIMIT = 10000;
export function csvParams(s = state) {
  return { ...tableParams(s), limit: CSV_LIMIT, format: 'csv' };
}
// A loss (negative profit or ROI) is shown in red.
function isNegative(key, v) {
  return (key === 'profit' || key === 'roi') && v !== null && v !== undefined && String(v).startsWith('-');
}
function unitOf(s) {
  return daysBetween(s.from, s.to) <= 2 ? 'hour' : 'day';
}

export function reportView(root, ctx) {
  const tz = ctx.settings.timezone || 'UTC';
  let currency = ctx.settings.currency || 'USD'; // then the report's own
  // A preset means "relative to today": recompute it on every visit.
  if (!state.from || state.preset !== 'custom') Object.assign(state, presetRange(state.preset, tz));
  if (!state.columns) state.columns = loadColumns();
  let seq = 0;
  let lastTable = null;
  const entities = { campaign: [], traffic_source: [], offer: [] };

  // --- toolbar: dates, filters, CSV ---------------------------------------
  const presetButtons = PRESETS.map((p) =>
    h('button', { type: 'button', class: 'seg', 'data-preset': p.id, 'aria-pressed': String(state.preset === p.id), onclick: () => choosePreset(p.id) }, p.label),
  );
  const fromInput = h('input', { type: 'date', id: 'range-from', name: 'from', required: true, value: state.from });
  const toInput = h('input', { type: 'date', id: 'range-to', name: 'to', required: true, value: state.to });
  const rangeError = h('p', { class: 'field-error', id: 'range-error', role: 'alert' });
  const customForm = h(
    'form',
    { class: 'custom-range', hidden: state.preset !== 'custom', onsubmit: applyCustom, 'aria-label': 'Custom date range' },
    h('label', { for: 'range-from' }, 'From'),
    fromInput,
    h('label', { for: 'range-to' }, 'To'),
    toInput,
    h('button', { type: 'submit', class: 'btn' }, 'Apply'),
    rangeError,
  );
  const rangeText = h('span', { class: 'range-label', id: 'range-label' });
  const selects = {};
  for (const dim of ['campaign', 'traffic_source', 'offer']) {
    selects[dim] = h('select', { id: `filter-${dim}`, name: dim, onchange: () => chooseFilter(dim) }, h('option', { value: '' }, `All ${DIMS[dim].plural.toLowerCase()}`));
  }
  const csvButton = h('button', { type: 'button', class: 'btn', id: 'download-csv', onclick: downloadCsv }, 'Download CSV');
  const refreshButton = h('button', { type: 'button', class: 'btn', id: 'refresh', onclick: () => load() }, 'Refresh');
  // The column menu: one checkbox per metric; every metric is in the
  // table's answer already, so a change only redraws the table.
  const columnBoxes = TABLE_METRICS.map((k) =>
    h('label', { class: 'column-choice' },
      h('input', { type: 'checkbox', name: 'column', value: k, 'data-metric': k, checked: state.columns.includes(k), onchange: chooseColumns }),
      ' ', METRICS[k].label),
  );
  const columnsMenu = h(
    'details',
    {
      class: 'columns-menu',
      id: 'columns-menu',
      onkeydown: (ev) => {
        if (ev.key !== 'Escape' || !ev.currentTarget.open) return;
        ev.currentTarget.open = false;
        ev.currentTarget.querySelector('summary').focus();
      },
    },
    h('summary', { class: 'btn' }, 'Columns'),
    h('fieldset', { class: 'columns-list' }, h('legend', { class: 'visually-hidden' }, 'Columns of the table'), columnBoxes,
      h('button', { type: 'button', class: 'btn small', id: 'columns-default', onclick: () => setColumns(DEFAULT_COLUMNS) }, 'Default columns')),
  );

  const toolbar = h(
    'div',
    { class: 'toolbar' },
    h('div', { class: 'range', role: 'group', 'aria-label': 'Date range' }, h('div', { class: 'segmented' }, presetButtons), rangeText, customForm),
    h(
      'div',
      { class: 'filters', role: 'group', 'aria-label': 'Filters' },
      Object.entries(selects).map(([dim, sel]) => h('div', { class: 'filter' }, h('label', { for: sel.id }, DIMS[dim].label), sel)),
      refreshButton,
      csvButton,
    ),
  );

  // --- KPI strip, charts, table --------------------------------------------
  const kpis = h('ul', { class: 'kpis', id: 'kpis', 'aria-label': 'Key figures' });
  const notes = h('div', { class: 'notes', 'aria-live': 'polite' });
  const trafficEl = h('div', { class: 'chart', id: 'chart-traffic', role: 'img' });
  const moneyEl = h('div', { class: 'chart', id: 'chart-money', role: 'img' });
  const charts = h(
    'div',
    { class: 'charts' },
    h('figure', { class: 'panel' }, h('figcaption', {}, 'Traffic'), trafficEl),
    h('figure', { class: 'panel' }, h('figcaption', {}, 'Money'), moneyEl),
  );
  const trafficChart = timeChart(trafficEl, TRAFFIC);
  const moneyChart = timeChart(moneyEl, MONEY);
  const crumbs = h('ol', { class: 'crumbs' });
  const tableTitle = h('h2', { id: 'table-title' });
  const table = h('table', { class: 'data', id: 'report-table', 'aria-labelledby': 'table-title' });
  const tableWrap = h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'table-title' }, table);
  const section = h(
    'section',
    { class: 'report', 'aria-busy': 'true' },
    h('h1', { class: 'visually-hidden' }, 'Report'),
    toolbar,
    kpis,
    notes,
    charts,
    h('div', { class: 'panel table-panel' }, h('div', { class: 'table-head' }, h('nav', { 'aria-label': 'Drill-down' }, crumbs), columnsMenu), tableTitle, tableWrap),
  );
  fill(root, section);

  // --- actions ---------------------------------------------------------------
  function choosePreset(id) {
    state.preset = id;
    for (const b of presetButtons) b.setAttribute('aria-pressed', String(b.dataset.preset === id));
    customForm.hidden = id !== 'custom';
    if (id === 'custom') {
      fromInput.value = state.from;
      toInput.value = state.to;
      fromInput.focus();
      return;
    }
    Object.assign(state, presetRange(id, tz));
    load();
  }

  function applyCustom(ev) {
    ev.preventDefault();
    const from = fromInput.value;
    const to = toInput.value;
    rangeError.textContent = '';
    fromInput.removeAttribute('aria-invalid');
    if (!from || !to || from > to) {
      rangeError.textContent = 'Choose a start date on or before the end date.';
      fromInput.setAttribute('aria-invalid', 'true');
      fromInput.setAttribute('aria-describedby', 'range-error');
      return;
    }
    Object.assign(state, { from, to });
    load();
  }

  function setColumns(keys) {
    state.columns = TABLE_METRICS.filter((k) => keys.includes(k));
    for (const box of columnBoxes) box.querySelector('input').checked = state.columns.includes(box.querySelector('input').value);
    try {
      localStorage.setItem(COLUMNS_KEY, JSON.stringify(state.columns));
    } catch {
      /* not kept: fine for this visit */
    }
    if (lastTable) renderTable(lastTable);
  }
  function chooseColumns() {
    const keys = columnBoxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (keys.length === 0) {
      // At least one column: keep the last one checked.
      const last = columnBoxes.find((b) => b.querySelector('input').value === state.columns[0]);
      if (last) last.querySelector('input').checked = true;
      announce('The table keeps at least one metric column.');
      return;
    }
    setColumns(keys);
  }

  function chooseFilter(dim) {
    const sel = selects[dim];
    if (sel.value === '') delete state.filters[dim];
    else state.filters[dim] = { value: sel.value, label: sel.selectedOptions[0].textContent };
    load();
  }

  function drill(row) {
    const i = LEVELS.indexOf(state.level);
    if (i < 0 || i + 1 >= LEVELS.length) return;
    state.filters[state.level] = { value: rowKey(row, state.level), label: rowLabel(row, state.level) };
    state.level = LEVELS[i + 1];
    state.sort = { key: 'clicks', dir: 'desc' };
    load();
  }

  function climb(level) {
    const i = LEVELS.indexOf(level);
    for (const dim of LEVELS.slice(i)) delete state.filters[dim];
    state.level = level;
    load();
  }

  function sortBy(key) {
    state.sort = state.sort.key === key ? { key, dir: state.sort.dir === 'desc' ? 'asc' : 'desc' } : { key, dir: key === 'dim' ? 'asc' : 'desc' };
    // All rows at hand: sort them here. Else the API picks the top rows.
    if (lastTable && lastTable.rows.length >= (lastTable.total_rows ?? 0)) renderTable(lastTable);
    else load();
  }

  async function downloadCsv() {
    csvButton.disabled = true;
    try {
      const blob = await request('GET', '/reports', {
        params: csvParams(),
        as: 'blob',
      });
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `perfmark-${state.level}-${state.from}-${state.to}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      announce('CSV downloaded.');
    } catch (e) {
      announce(`CSV download failed: ${e.message}`, 'error');
    } finally {
      csvButton.disabled = false;
    }
  }

  // --- rendering -------------------------------------------------------------
  function syncControls() {
    rangeText.textContent = rangeLabel(state.from, state.to);
    for (const [dim, sel] of Object.entries(selects)) {
      const f = state.filters[dim];
      if (f && ![...sel.options].some((o) => o.value === f.value)) sel.append(h('option', { value: f.value }, f.label));
      sel.value = f ? f.value : '';
    }
    fill(
      crumbs,
      LEVELS.slice(0, LEVELS.indexOf(state.level) + 1).map((level, i, all) => {
        const label = i === 0 ? 'All campaigns' : state.filters[LEVELS[i - 1]]?.label ?? DIMS[LEVELS[i - 1]].label;
        const last = i === all.length - 1;
        return h('li', {}, last ? h('span', { 'aria-current': 'page' }, label) : h('button', { type: 'button', class: 'link', onclick: () => climb(level) }, label));
      }),
    );
    const parent = LEVELS.indexOf(state.level) > 0 ? state.filters[LEVELS[LEVELS.indexOf(state.level) - 1]] : null;
    tableTitle.textContent = parent ? `${DIMS[state.level].plural} of ${parent.label}` : DIMS[state.level].plural;
  }

  function renderKpis(totals) {
    fill(
      kpis,
      KPI_METRICS.map((key) => {
        const value = totals ? totals[key] : null;
        const prev = previousOf(totals, key);
        const change = formatChange(key, changeOf(totals, key), value, prev);
        const prevText = prev === undefined ? '' : `previous period: ${formatMetric(key, prev, currency)}`;
        return h(
          'li',
          {
            class: 'kpi',
            'data-metric': key,
            'data-value': value === undefined ? '' : String(value),
            'data-previous': prev === undefined ? '' : String(prev),
            'data-change': changeOf(totals, key) === undefined ? '' : String(changeOf(totals, key)),
          },
          h('span', { class: 'kpi-label' }, METRICS[key].label),
          h('span', { class: `kpi-value${isNegative(key, value) ? ' negative' : ''}` }, formatMetric(key, value, currency)),
          change
            ? h(
                'span',
                { class: `kpi-change ${change.good === null ? 'flat' : change.good ? 'good' : 'bad'}`, title: prevText },
                h('span', { 'aria-hidden': 'true' }, change.dir === 'up' ? '▲ ' : change.dir === 'down' ? '▼ ' : ''),
                h('span', { class: 'kpi-change-text' }, change.text),
                h('span', { class: 'visually-hidden' }, ` vs previous period (${prevText})`),
              )
            : h('span', { class: 'kpi-change flat' }, prev === undefined ? '' : h('span', { class: 'kpi-change-text', title: prevText }, '— vs previous')),
        );
      }),
    );
  }

  function compare(a, b) {
    const { key, dir } = state.sort;
    let r;
    if (key === 'dim') r = rowLabel(a, state.level).localeCompare(rowLabel(b, state.level), undefined, { numeric: true });
    else {
      const x = a[key] === null || a[key] === undefined ? null : Number(a[key]);
      const y = b[key] === null || b[key] === undefined ? null : Number(b[key]);
      if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1; // nulls last either way
      r = x - y;
    }
    return dir === 'asc' ? r : -r;
  }

  function headerCell(key, label) {
    const sorted = state.sort.key === key;
    const aria = sorted ? (state.sort.dir === 'asc' ? 'ascending' : 'descending') : null;
    return h(
      'th',
      { scope: 'col', 'aria-sort': aria, 'data-key': key, class: key === 'dim' ? 'dim' : 'num' },
      h('button', { type: 'button', class: 'sort', onclick: () => sortBy(key) }, label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, sorted ? (state.sort.dir === 'asc' ? ' ↑' : ' ↓') : '')),
    );
  }

  function metricCells(obj) {
    return state.columns.map((key) => {
      const v = obj ? obj[key] : null;
      const prev = previousOf(obj, key);
      return h(
        'td',
        { class: `num${isNegative(key, v) ? ' negative' : ''}`, 'data-metric': key, 'data-value': v === undefined ? '' : String(v), title: prev === undefined ? null : `previous period: ${formatMetric(key, prev, currency)}` },
        formatMetric(key, v, currency),
      );
    });
  }

  function renderTable(report) {
    const level = state.level;
    const canDrill = LEVELS.indexOf(level) + 1 < LEVELS.length;
    const next = canDrill ? DIMS[LEVELS[LEVELS.indexOf(level) + 1]].plural.toLowerCase() : '';
    const rows = [...(report.rows || [])].sort(compare);
    const head = h('thead', {}, h('tr', {}, headerCell('dim', DIMS[level].label), state.columns.map((k) => headerCell(k, METRICS[k].label))));
    const body = h(
      'tbody',
      {},
      rows.length === 0
        ? h('tr', {}, h('td', { colspan: state.columns.length + 1, class: 'empty' }, 'No traffic in this period.'))
        : rows.map((row) => {
            const label = rowLabel(row, level);
            const cell = canDrill
              ? h('button', { type: 'button', class: 'link drill', onclick: () => drill(row), 'aria-label': `${label}: show its ${next}` }, label)
              : label;
            return h('tr', { 'data-key': rowKey(row, level) }, h('th', { scope: 'row', class: 'dim' }, cell), metricCells(row));
          }),
    );
    const foot = h('tfoot', {}, h('tr', { 'data-key': 'totals' }, h('th', { scope: 'row', class: 'dim' }, 'Totals'), metricCells(report.totals)));
    fill(table, head, body, foot);
    section.dataset.csvQuery = query(csvParams()).slice(1); // follows the sort
  }

  function renderNotes(report) {
    const items = [];
    // The API's previous period: [previous_from, previous_to) as instants.
    const prev = report.previous_from && report.previous_to
      ? { from: today(tz, new Date(report.previous_from)), to: today(tz, new Date(Date.parse(report.previous_to) - 1)) }
      : previousRange(state.from, state.to);
    items.push(`Compared with ${rangeLabel(prev.from, prev.to)}. Times in ${report.timezone || tz}.`);
    if (report.source) items.push(`Source: ${typeof report.source === 'string' ? report.source : JSON.stringify(report.source)}.`);
    const total = report.total_rows ?? (report.rows || []).length;
    if (total > (report.rows || []).length)
      items.push(`The table shows the first ${(report.rows || []).length} of ${total} rows (the totals cover them all); the CSV has up to ${CSV_LIMIT}.`);
    for (const w of report.warnings || []) items.push(typeof w === 'string' ? w : w.message || JSON.stringify(w));
    fill(notes, items.map((t) => h('p', {}, t)));
  }

  async function load() {
    const my = ++seq;
    syncControls();
    section.setAttribute('aria-busy', 'true');
    const unit = unitOf(state);
    const base = reportParams();
    const table = tableParams();
    const buckets = daysBetween(state.from, state.to) * (unit === 'hour' ? 24 : 1);
    try {
      const [report, series] = await Promise.all([
        get('/reports', table),
        get('/reports', { ...base, group_by: unit, metrics: SERIES_METRICS.join(','), limit: Math.min(10000, buckets + 50) }),
      ]);
      if (my !== seq) return;
      lastTable = report;
      if (report.currency) currency = report.currency;
      renderKpis(report.totals);
      renderNotes(report);
      renderTable(report);
      const what = `${unit === 'hour' ? 'per hour' : 'per day'}, ${rangeLabel(state.from, state.to)}`;
      trafficEl.setAttribute('aria-label', `Clicks and conversions ${what}`);
      moneyEl.setAttribute('aria-label', `Cost, revenue and profit ${what}`);
      trafficChart.update(series.rows || [], state.from, state.to, unit, currency);
      moneyChart.update(series.rows || [], state.from, state.to, unit, currency);
      section.dataset.loaded = `${state.level}|${state.from}|${state.to}|${base.filter.join(',')}`;
      section.dataset.query = query(table).slice(1);
      section.dataset.seq = String(++loadsDone);
      announce(`Report for ${rangeLabel(state.from, state.to)} loaded.`, 'quiet');
    } catch (e) {
      if (my !== seq) return;
      fill(notes, h('p', { class: 'error', role: 'alert' }, e.status === 404 ? 'This server has no reports API yet.' : `The report could not be loaded: ${e.message}`));
      announce(`The report could not be loaded: ${e.message}`, 'error');
    } finally {
      if (my === seq) section.setAttribute('aria-busy', 'false');
    }
  }

  // Entity names for the filter menus; the report loads meanwhile.
  (async () => {
    const kinds = { campaign: '/campaigns', traffic_source: '/traffic-sources', offer: '/offers' };
    await Promise.all(
      Object.entries(kinds).map(async ([dim, path]) => {
        try {
          entities[dim] = await listAll(path);
        } catch {
          entities[dim] = [];
        }
        const sel = selects[dim];
        for (const e of entities[dim]) if (![...sel.options].some((o) => o.value === String(e.id))) sel.append(h('option', { value: String(e.id) }, e.name));
        const f = state.filters[dim];
        sel.value = f ? f.value : '';
      }),
    );
  })();

  fromInput.max = today(tz);
  toInput.max = today(tz);
  load();
  return {
    destroy() {
      seq++;
      trafficChart.destroy();
      moneyChart.destroy();
    },
  };
}
