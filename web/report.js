// report.js: the report view: date range and filters, the KPI strip with
// the change against the previous period, the time-series charts, and the
// sortable drill-down table (campaigns → their traffic sources → their
// sub-ids by default; "View by" shows the rows of any report dimension at
// the current level, a click on a row filters on it and drills on), with CSV
// download. The view is kept in the URL hash. Every number comes from
// GET /api/v1/reports and is only formatted here (format.js), never
// recomputed.

import { get, listAll, request, query } from './api.js';
import { h, fill, announce } from './dom.js';
import { METRICS, formatMetric, formatChange } from './format.js';
import { PRESETS, presetRange, previousRange, rangeLabel, daysBetween, today } from './dates.js';
import { timeChart, TRAFFIC, MONEY } from './chart.js';

// The dimensions the page groups and filters by: the report API's
// group_by/filter names, and the row keys that carry their id and name. An
// entity (campaign, offer, creative…) has `<x>_id` and `<x>_name`; a text
// dimension (country, sub1…) is its own value, in the row key of its name.
function entity(key, label, plural) {
  return { label, plural, id: `${key}_id`, name: `${key}_name`, entity: true };
}
function text(key, label, plural) {
  return { label, plural, id: key, name: key, entity: false };
}
export const DIMS = {
  campaign: entity('campaign', 'Campaign', 'Campaigns'),
  traffic_source: entity('traffic_source', 'Traffic source', 'Traffic sources'),
  offer: entity('offer', 'Offer', 'Offers'),
  lander: entity('lander', 'Lander', 'Landers'),
  creative: entity('creative', 'Creative', 'Creatives'),
  partner: entity('partner', 'Partner', 'Partners'),
  country: text('country', 'Country', 'Countries'),
  region: text('region', 'Region', 'Regions'),
  device_type: text('device_type', 'Device type', 'Device types'),
  os: text('os', 'OS', 'Operating systems'),
  browser: text('browser', 'Browser', 'Browsers'),
  language: text('language', 'Language', 'Languages'),
  utm_source: text('utm_source', 'UTM source', 'UTM sources'),
  utm_medium: text('utm_medium', 'UTM medium', 'UTM media'),
  utm_campaign: text('utm_campaign', 'UTM campaign', 'UTM campaigns'),
  utm_content: text('utm_content', 'UTM content', 'UTM contents'),
  utm_term: text('utm_term', 'UTM term', 'UTM terms'),
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`sub${i + 1}`, text(`sub${i + 1}`, `Sub ID (sub${i + 1})`, `Sub IDs (sub${i + 1})`)])),
  conversion_type: text('conversion_type', 'Conversion type', 'Conversion types'),
};
// The "View by" menu: every dimension of DIMS, in groups.
export const VIEW_GROUPS = [
  ['Campaign setup', ['campaign', 'traffic_source', 'offer', 'lander', 'creative', 'partner']],
  ['Visitor', ['country', 'region', 'device_type', 'os', 'browser', 'language']],
  ['UTM', ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term']],
  ['Sub IDs', Array.from({ length: 10 }, (_, i) => `sub${i + 1}`)],
  ['Conversions', ['conversion_type']],
];
// The standard drill-down path.
export const LEVELS = ['campaign', 'traffic_source', 'sub1'];
// The toolbar's filter menus (entity lists from the admin API).
const MENU_DIMS = ['campaign', 'traffic_source', 'offer'];
// The report API takes at most 16 filters (PM__RQ_MAX_FILTERS): past that,
// rows no longer drill.
export const MAX_FILTERS = 16;

// Where a click on a row goes. On the standard path, the next dimension of
// it (a campaign → its traffic sources → their sub1); from a dimension off
// the path (a creative, a country, an OS…), the path from its start: "this
// creative's campaigns", then their sources, then sub-ids. Dimensions
// already filtered are skipped (they would show one row), and past the
// path's end (sub1, or every path dimension filtered) there is nothing to
// drill into, as at sub1 before; "View by" still shows any other dimension.
export function nextLevel(level, filtered) {
  const i = LEVELS.indexOf(level);
  const rest = i < 0 ? LEVELS : LEVELS.slice(i + 1);
  return rest.find((d) => d !== level && !filtered.has(d)) ?? null;
}

// One filter in the API's syntax; an empty value is "not set" (`dim:in:`,
// docs/reports.md), any other value is taken as is (`eq`: no list split).
export function filterParam(dim, value) {
  return value === '' ? `${dim}:in:` : `${dim}:eq:${value}`;
}

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
  return d.entity ? `#${id}` : String(id);
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
  level: 'campaign', // the table's dimension ("View by")
  path: [], // the drill-down filters, in the order chosen: { dim, value, label }; value '' = not set
  filters: {}, // the toolbar menus' filters not in `path`: dim → { value, label }
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
  const menus = Object.entries(s.filters).filter(([dim]) => !s.path.some((f) => f.dim === dim));
  const filter = [...s.path.map((f) => filterParam(f.dim, f.value)), ...menus.map(([dim, f]) => filterParam(dim, f.value))];
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
// The view in the URL (`#/report?by=…`), so a reload or a shared link shows
// the same table: the dimension, the range (a preset, which stays relative
// to today; custom adds from and to), the sort, and each filter as a JSON
// [dim, value, label] (`drill` for the breadcrumb's, `filter` for the
// menus'; the label is what the breadcrumb shows, kept rather than fetched
// again). The page writes it after every change (replaceState: no history
// entry per click); without a `?` the in-memory state of this visit stays.
export function stateToHash(s = state) {
  const q = new URLSearchParams();
  q.set('by', s.level);
  q.set('range', s.preset);
  if (s.preset === 'custom') {
    q.set('from', s.from);
    q.set('to', s.to);
  }
  for (const f of s.path) q.append('drill', JSON.stringify([f.dim, f.value, f.label]));
  for (const [dim, f] of Object.entries(s.filters)) q.append('filter', JSON.stringify([dim, f.value, f.label]));
  q.set('sort', (s.sort.dir === 'desc' ? '-' : '') + s.sort.key);
  return `#/report?${q}`;
}
function parseFilter(raw) {
  try {
    const [dim, value, label] = JSON.parse(raw);
    if (!DIMS[dim] || typeof value !== 'string' || typeof label !== 'string') return null;
    if (DIMS[dim].entity && !/^\d*$/.test(value)) return null;
    return { dim, value, label };
  } catch {
    return null;
  }
}
// Apply the hash's view to `s`; false (and `s` untouched) when the hash has
// none. Anything malformed is left at its default: a URL is input.
export function stateFromHash(hash, s = state) {
  const at = hash.indexOf('?');
  if (at < 0) return false;
  const q = new URLSearchParams(hash.slice(at + 1));
  s.level = DIMS[q.get('by')] ? q.get('by') : 'campaign';
  const range = q.get('range');
  const day = /^\d{4}-\d\d-\d\d$/;
  const [from, to] = [q.get('from') || '', q.get('to') || ''];
  if (range === 'custom' && day.test(from) && day.test(to) && from <= to) Object.assign(s, { preset: 'custom', from, to });
  else Object.assign(s, { preset: PRESETS.some((p) => p.id === range && p.id !== 'custom') ? range : '7d', from: null, to: null });
  s.path = [];
  for (const f of q.getAll('drill').map(parseFilter)) if (f && !s.path.some((p) => p.dim === f.dim)) s.path.push(f);
  s.filters = {};
  for (const f of q.getAll('filter').map(parseFilter))
    if (f && MENU_DIMS.includes(f.dim) && f.value !== '' && !s.path.some((p) => p.dim === f.dim)) s.filters[f.dim] = { value: f.value, label: f.label };
  s.path = s.path.slice(0, MAX_FILTERS - Object.keys(s.filters).length);
  const sort = /^(-?)(\w+)$/.exec(q.get('sort') || '');
  s.sort = sort && (sort[2] === 'dim' || TABLE_METRICS.includes(sort[2])) ? { key: sort[2], dir: sort[1] ? 'desc' : 'asc' } : { key: 'clicks', dir: 'desc' };
  return true;
}
// The dimensions a filter applies to now (path and menus).
function filteredDims(s = state) {
  return new Set([...s.path.map((f) => f.dim), ...Object.keys(s.filters)]);
}
// The dimension a click on a row of the table goes to, or null.
function drillTarget(s = state) {
  if (reportParams(s).filter.length >= MAX_FILTERS) return null;
  return nextLevel(s.level, filteredDims(s));
}
// What the breadcrumb and the title say of a filter: an entity by its name,
// a text value with its dimension ("Country: US").
function filterText(f, withDim) {
  return withDim || !DIMS[f.dim].entity ? `${DIMS[f.dim].label}: ${f.label}` : f.label;
}
// A menu's option for a "not set" filter (entity ids are digits: no clash).
const NONE_OPTION = 'none';

// A loss (negative profit or ROI) is shown in red.
function isNegative(key, v) {
  return (key === 'profit' || key === 'roi') && v !== null && v !== undefined && String(v).startsWith('-');
}
function unitOf(s) {
  return daysBetween(s.from, s.to) <= 2 ? 'hour' : 'day';
}

export function reportView(root, ctx) {
  const tz = ctx.settings.timezone || 'UTC';
  // A link or a reload with the view in the URL shows that view.
  stateFromHash(location.hash);
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
  for (const dim of MENU_DIMS) {
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
  // "View by": the table's dimension at the current drill-down level.
  const viewBy = h(
    'select',
    { id: 'view-by', name: 'view_by', 'aria-describedby': 'view-by-help', onchange: () => chooseView(viewBy.value) },
    VIEW_GROUPS.map(([group, dims]) => h('optgroup', { label: group }, dims.map((d) => h('option', { value: d }, DIMS[d].label)))),
  );
  const viewByField = h(
    'div',
    { class: 'view-by' },
    h('label', { for: 'view-by' }, 'View by'),
    viewBy,
    h('span', { class: 'visually-hidden', id: 'view-by-help' }, 'The table shows one row per value of this dimension, with the filters of the drill-down path.'),
  );
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
    h('div', { class: 'panel table-panel' }, h('div', { class: 'table-head' }, h('nav', { 'aria-label': 'Drill-down' }, crumbs), h('div', { class: 'table-tools' }, viewByField, columnsMenu)), tableTitle, tableWrap),
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

  // A menu names a filter of the drill-down path (the campaign drilled
  // into): changing it changes that step, "All" removes it; else it is the
  // menu's own filter.
  function chooseFilter(dim) {
    const sel = selects[dim];
    const value = sel.value === NONE_OPTION ? '' : sel.value;
    const label = sel.selectedOptions[0].textContent;
    const step = state.path.findIndex((f) => f.dim === dim);
    if (step >= 0) {
      if (sel.value === '') state.path.splice(step, 1);
      else state.path[step] = { dim, value, label };
    } else if (sel.value === '') delete state.filters[dim];
    else state.filters[dim] = { value, label };
    load();
  }

  function chooseView(dim) {
    if (!DIMS[dim] || dim === state.level) return;
    state.level = dim;
    load();
  }

  // The row's value becomes a filter at the end of the path (replacing any
  // other filter on its dimension), and the table moves to drillTarget().
  function drill(row) {
    const next = drillTarget();
    if (!next) return;
    const dim = state.level;
    delete state.filters[dim];
    state.path = state.path.filter((f) => f.dim !== dim);
    state.path.push({ dim, value: rowKey(row, dim), label: rowLabel(row, dim) });
    state.level = next;
    state.sort = { key: 'clicks', dir: 'desc' };
    load();
  }

  // Back to breadcrumb k: the first k filters of the path, viewed by the
  // dimension that was shown when the next one was clicked.
  function climb(k) {
    if (k >= state.path.length) return;
    state.level = state.path[k].dim;
    state.path = state.path.slice(0, k);
    load();
  }

  function sortBy(key) {
    state.sort = state.sort.key === key ? { key, dir: state.sort.dir === 'desc' ? 'asc' : 'desc' } : { key, dir: key === 'dim' ? 'asc' : 'desc' };
    // All rows at hand: sort them here. Else the API picks the top rows.
    if (lastTable && lastTable.rows.length >= (lastTable.total_rows ?? 0)) {
      renderTable(lastTable);
      writeHash();
    } else load();
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
      const f = state.path.find((p) => p.dim === dim) ?? state.filters[dim];
      const value = f ? f.value || NONE_OPTION : '';
      if (f && ![...sel.options].some((o) => o.value === value)) sel.append(h('option', { value }, f.label));
      sel.value = value;
    }
    viewBy.value = state.level;
    const steps = [{ text: 'All traffic' }, ...state.path.map((f) => ({ text: filterText(f, true) }))];
    fill(
      crumbs,
      steps.map((step, k) => {
        const last = k === steps.length - 1;
        return h('li', {}, last ? h('span', { 'aria-current': 'page' }, step.text) : h('button', { type: 'button', class: 'link', onclick: () => climb(k) }, step.text));
      }),
    );
    const parent = state.path[state.path.length - 1];
    tableTitle.textContent = parent ? `${DIMS[state.level].plural} of ${filterText(parent, false)}` : DIMS[state.level].plural;
    writeHash();
  }

  // The view into the URL, while the report is the page's view.
  function writeHash() {
    if (location.hash.split('?')[0] !== '#/report') return;
    const hash = stateToHash();
    if (location.hash !== hash) history.replaceState(history.state, '', hash);
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
    const target = drillTarget();
    const canDrill = target !== null;
    const next = canDrill ? DIMS[target].plural.toLowerCase() : '';
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
        const f = state.path.find((p) => p.dim === dim) ?? state.filters[dim];
        sel.value = f ? f.value || NONE_OPTION : '';
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
