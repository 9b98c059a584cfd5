// dashboard.test.mjs: the dashboard in a real browser (Debian's chromium,
// headless, driven by playwright-core) against the real perfmark binary.
//
//   PERFMARK_BIN=build-asan/perfmark node --test tests/browser/
//
// It starts `perfmark demo` on a free port with a fresh data directory,
// sends traffic itself when the demo workspace has none, logs in with the
// printed admin key, and checks that every number the page shows (KPI
// strip, drill-down table at three levels, after changing the date range)
// is the report API's own value for the same question, formatted by
// web/format.js. Then the CSV download, the "View by" menu (creatives of a
// campaign, countries, a "not set" row; drill, breadcrumb, CSV, reload),
// the management forms (API errors shown at their field, create, links,
// pause, delete), the report's column menu (the non-default metrics
// against the API), Partners (create, edit, on a campaign, delete),
// Postbacks (every page against the API's list, attempts, Retry as viewer
// and admin on a second server) and the static files' headers. Screenshots
// go to test-output/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { formatMetric, formatChange } from '../../web/format.js';
import { KPI_METRICS, TABLE_METRICS, DEFAULT_COLUMNS, DIMS, previousOf, changeOf, rowLabel } from '../../web/report.js';
import { today as todayIn, addDays } from '../../web/dates.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.PERFMARK_BIN || path.join(REPO, 'build-asan', 'perfmark');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.join(REPO, 'test-output');
const CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let tmp;
let proc;
let stderrText = '';
let base; // what the browser talks to
let key;
let context;
let page;
const pageErrors = [];

// --- helpers ----------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(fn, what, timeoutMs = 20000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

async function api(method, p, body) {
  const res = await fetch(base + '/api/v1' + p, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined && one !== '') q.append(k, one);
  return '?' + q.toString();
}

let timezone = 'UTC'; // the workspace's, read at start
const today = () => todayIn(timezone);

// A click as an ad network sends it; returns the click id from the cookie.
async function click(token, params) {
  const res = await fetch(`${base}/c/${token}${qs(params)}`, { redirect: 'manual', headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) test' } });
  assert.equal(res.status, 302);
  const m = /pmc=([^;]+)/.exec(res.headers.get('set-cookie') || '');
  assert.ok(m, 'a click sets the pmc cookie');
  return m[1];
}

// The demo workspace without the simulator has no traffic: send some.
async function ensureTraffic() {
  const clicks = await api('GET', '/events?type=click&limit=1');
  assert.equal(clicks.status, 200);
  if (clicks.body.rows.length > 0) return false;
  const src = await api('POST', '/traffic-sources', { name: 'Social (test)', postback_url: '' });
  const offers = await api('GET', '/offers');
  const camp = await api('POST', '/campaigns', {
    name: 'Social push (test)',
    token: 'social-test',
    traffic_source_id: src.body.id,
    destination: { offer_id: offers.body.rows[0].id },
    cost: { model: 'cpc', amount: '0.25', currency: 'USD' },
  });
  assert.equal(camp.status, 201, JSON.stringify(camp.body));
  let n = 0;
  const plan = [
    ['demo', 'kw-shoes', 6, ['25.00', '25.00', null]],
    ['demo', 'kw-boots', 4, ['9.90']],
    ['demo', '', 2, []],
    ['social-test', 'fb-1', 5, ['12.50']],
  ];
  for (const [token, sub1, count, payouts] of plan) {
    for (let i = 0; i < count; i++) {
      const cid = await click(token, { sub1: sub1 || undefined, external_id: `x${n++}` });
      if (i < payouts.length) {
        const pb = await fetch(`${base}/pb${qs({ clickid: cid, txid: `t-${n}`, payout: payouts[i] ?? undefined })}`);
        assert.equal(pb.status, 200, await pb.text());
      }
    }
  }
  for (let i = 0; i < 20; i++) assert.ok((await fetch(`${base}/i/demo?fmt=204`)).status < 300);
  await waitFor(async () => (await api('GET', '/events?type=click&limit=1000')).body.rows.length === 17, 'the clicks in the store');
  await waitFor(async () => (await api('GET', '/events?type=conversion&limit=1000')).body.rows.length === 5, 'the conversions in the store');
  return true;
}

// The page's current report: level, range and filters, as data-loaded
// says, and the exact query strings it sent for the table and the CSV.
async function pageState() {
  const loaded = await page.getAttribute('section.report', 'data-loaded');
  const [level, from, to, filters] = loaded.split('|');
  const query = await page.getAttribute('section.report', 'data-query');
  const csvQuery = await page.getAttribute('section.report', 'data-csv-query');
  return { level, from, to, filter: filters ? filters.split(',') : [], query, csvQuery };
}

async function settled(afterSeq) {
  await page.waitForFunction(
    (seq) => {
      const s = document.querySelector('section.report');
      return s && s.getAttribute('aria-busy') === 'false' && Number(s.dataset.seq || 0) > seq;
    },
    afterSeq,
    { timeout: 20000 },
  );
}
async function currentSeq() {
  return Number((await page.getAttribute('section.report', 'data-seq')) || 0);
}
// Do `action` and wait for the report it triggers.
async function andWait(action) {
  const seq = await currentSeq();
  await action();
  await settled(seq);
}

// The metric columns the table shows now (the column menu's choice).
async function shownColumns() {
  return page.$$eval('#report-table thead th[data-key]', (ths) => ths.map((th) => th.dataset.key).filter((k) => k !== 'dim'));
}

// What the page shows: KPI values and every table cell, raw and formatted.
async function scrape() {
  return page.evaluate(() => {
    const kpis = {};
    for (const li of document.querySelectorAll('#kpis .kpi'))
      kpis[li.dataset.metric] = {
        value: li.dataset.value,
        previous: li.dataset.previous,
        change: li.dataset.change,
        text: li.querySelector('.kpi-value').textContent,
        changeText: li.querySelector('.kpi-change-text')?.textContent ?? '',
      };
    const rows = {};
    for (const tr of document.querySelectorAll('#report-table tbody tr[data-key], #report-table tfoot tr')) {
      const cells = {};
      for (const td of tr.querySelectorAll('td[data-metric]')) cells[td.dataset.metric] = { value: td.dataset.value, text: td.textContent };
      rows[tr.dataset.key] = { label: tr.querySelector('th').textContent, cells };
    }
    return { kpis, rows };
  });
}

function expectCell(where, shown, key, value, currency) {
  assert.ok(shown, `${where}: ${key} shown`);
  assert.equal(shown.value, value === undefined ? '' : String(value), `${where}: ${key} value`);
  assert.equal(shown.text, formatMetric(key, value, currency), `${where}: ${key} text`);
}

// Fetch the report the page shows, from the API, and compare every number.
async function compareWithApi(currency) {
  const s = await pageState();
  const q = new URLSearchParams(s.query);
  assert.equal(q.get('group_by'), s.level);
  assert.deepEqual(q.getAll('filter'), s.filter);
  assert.equal(q.get('compare'), 'previous');
  const res = await api('GET', '/reports?' + s.query);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const report = res.body;
  if (report.currency) currency = report.currency;
  const shown = await scrape();
  const columns = await shownColumns();
  assert.ok(columns.length > 0 && columns.every((k) => TABLE_METRICS.includes(k)), `columns ${columns}`);
  for (const key of TABLE_METRICS) assert.ok(key in report.totals, `the table's query asks for ${key}`);
  for (const key of KPI_METRICS) {
    expectCell('KPI', shown.kpis[key], key, report.totals[key], currency);
    const prev = previousOf(report.totals, key);
    const change = changeOf(report.totals, key);
    assert.notEqual(prev, undefined, `the API gives the previous ${key}`);
    assert.equal(shown.kpis[key].previous, String(prev), `KPI ${key} previous`);
    assert.equal(shown.kpis[key].change, change === undefined ? '' : String(change), `KPI ${key} change`);
    const c = formatChange(key, change, report.totals[key], prev);
    assert.equal(shown.kpis[key].changeText, c ? c.text : '— vs previous', `KPI ${key} change text`);
  }
  const idKey = DIMS[s.level].id;
  const apiRows = report.rows;
  assert.equal(Object.keys(shown.rows).length, apiRows.length + 1, 'as many table rows as the API gave, plus totals');
  for (const row of apiRows) {
    const k = row[idKey] === null || row[idKey] === undefined ? '' : String(row[idKey]);
    const tr = shown.rows[k];
    assert.ok(tr, `row ${k} shown at level ${s.level}`);
    assert.equal(tr.label, rowLabel(row, s.level), `row ${k} label`);
    for (const key of columns) expectCell(`row ${k}`, tr.cells[key], key, row[key], currency);
    assert.equal(Object.keys(tr.cells).length, columns.length, `row ${k}: one cell per column`);
  }
  for (const key of columns) expectCell('totals', shown.rows.totals.cells[key], key, report.totals[key], currency);
  return { state: s, report };
}

// Compare, and when live traffic moved the numbers between the page's load
// and ours (the simulator may still be sending), refresh and compare again.
async function checkNumbers(currency, what) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await compareWithApi(currency);
    } catch (e) {
      if (attempt >= 4 || !(e instanceof assert.AssertionError)) throw new Error(`${what}: ${e.message}`);
      await andWait(() => page.click('#refresh'));
    }
  }
}

// --- setup ------------------------------------------------------------------

before(async () => {
  mkdirSync(OUT, { recursive: true });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'pm-browser-'));
  const port = await freePort();
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1' };
  // PM_BROWSER_DEMO_ARGS: extra demo flags by hand, e.g. "--days 7" for a quicker start.
  const extra = (process.env.PM_BROWSER_DEMO_ARGS || '').split(/\s+/).filter(Boolean);
  proc = spawn(BIN, ['demo', '--data', path.join(tmp, 'data'), '--listen', `127.0.0.1:${port}`, ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderrText += d));
  key = await waitFor(() => (/admin API key:\s+(pm_\w+)/.exec(stdout) || [])[1], 'the admin key line of `perfmark demo`', 120000);
  base = `http://127.0.0.1:${port}`;
  // The first start stores the simulated days (journal replay): minutes under ASan.
  await waitFor(async () => (await fetch(base + '/healthz')).ok, '/healthz', 600000, 500);
  timezone = (await api('GET', '/settings')).body.timezone || 'UTC';
  const seeded = await ensureTraffic();
  console.log(`# perfmark demo on ${base}; ${seeded ? 'sent test traffic (the demo workspace had none)' : 'demo traffic present'}`);
  await waitFor(async () => (await (await fetch(base + '/healthz')).json()).materializer_lag_bytes === 0, 'the store to catch up', 120000, 200);

  const profile = mkdtempSync(path.join(tmp, 'chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROME_ARGS, acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
  });
});

after(async () => {
  if (context) await context.close().catch(() => {});
  if (receiver) receiver.close();
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        proc.kill('SIGKILL');
        r();
      }, 15000);
      proc.on('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  writeFileSync(path.join(OUT, 'perfmark-browser.stderr.log'), stderrText);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  assert.ok(!/AddressSanitizer|runtime error:/.test(stderrText), 'no sanitizer report from perfmark');
});

// --- tests --------------------------------------------------------------------

test('static files: content types, validators, 404, no traversal', async () => {
  const page1 = await fetch(base + '/ui');
  assert.equal(page1.status, 200);
  assert.match(page1.headers.get('content-type'), /^text\/html/);
  assert.match(page1.headers.get('etag'), /^"[0-9a-f]{16}"$/);
  assert.equal(page1.headers.get('cache-control'), 'no-cache');
  assert.match(page1.headers.get('content-security-policy'), /default-src 'self'/);
  assert.equal(await (await fetch(base + '/ui/')).text(), await page1.text());
  const lib = await fetch(base + '/ui/vendor/uplot.min.js');
  assert.equal(lib.status, 200);
  assert.match(lib.headers.get('content-type'), /^text\/javascript/);
  assert.deepEqual(Buffer.from(await lib.arrayBuffer()), readFileSync(path.join(REPO, 'node_modules/uplot/dist/uPlot.iife.min.js')));
  for (const [p, type] of [['/ui/app.js', /^text\/javascript/], ['/ui/style.css', /^text\/css/], ['/ui/vendor/uplot.min.css', /^text\/css/], ['/ui/favicon.svg', /^image\/svg/]]) {
    const r = await fetch(base + p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers.get('content-type'), type, p);
  }
  assert.equal((await fetch(base + '/ui/nope.js')).status, 404);
  assert.equal((await fetch(base + '/ui/app.js', { method: 'POST' })).status, 405);
  // A raw path with dot segments (fetch would normalise it away).
  const raw = await new Promise((resolve, reject) => {
    const u = new URL(base);
    http.get({ host: u.hostname, port: u.port, path: '/ui/../../etc/passwd' }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject);
  });
  assert.equal(raw, 404);
});

test('log in, read the report, drill down two levels, change the date range', async () => {
  const settings = (await api('GET', '/settings')).body;
  const currency = settings.currency;
  await page.goto(base + '/ui');
  await page.fill('#api-key', 'pm_not_a_real_key');
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#login-error:text("unknown or revoked")');
  await page.fill('#api-key', key);
  await page.click('#login-form button[type=submit]');
  await settled(0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('perfmark.apiKey')), key, 'the key is kept in sessionStorage');
  assert.deepEqual(await shownColumns(), DEFAULT_COLUMNS, 'the default columns are the API\'s default metric set');

  // Last 30 days, so the demo's history (or the test's traffic) is in view.
  await andWait(() => page.click('button[data-preset="30d"]'));
  let { state, report } = await checkNumbers(currency, 'campaigns, last 30 days');
  assert.equal(state.level, 'campaign');
  assert.ok(Number(report.totals.clicks) > 0, 'the report has clicks');
  assert.ok(await page.$('#chart-traffic canvas'), 'the traffic chart is drawn');
  assert.ok(await page.$('#chart-money canvas'), 'the money chart is drawn');

  // Sort by clicks, ascending then descending: the page's order follows.
  await page.click('#report-table th[data-key="clicks"] button');
  const order = async () => page.$$eval('#report-table tbody td[data-metric="clicks"]', (tds) => tds.map((td) => Number(td.dataset.value)));
  const asc = await order();
  assert.deepEqual(asc, [...asc].sort((a, b) => a - b));
  assert.equal(await page.getAttribute('#report-table th[data-key="clicks"]', 'aria-sort'), 'ascending');
  await page.click('#report-table th[data-key="clicks"] button');
  const desc = await order();
  assert.deepEqual(desc, [...desc].sort((a, b) => b - a));

  // Level 1: the busiest campaign's traffic sources.
  const campaign = [...report.rows].sort((a, b) => Number(b.clicks) - Number(a.clicks))[0];
  await andWait(() => page.click(`#report-table tbody tr[data-key="${campaign.campaign_id}"] button.drill`));
  ({ state, report } = await checkNumbers(currency, 'traffic sources of a campaign'));
  assert.equal(state.level, 'traffic_source');
  assert.deepEqual(state.filter, [`campaign:eq:${campaign.campaign_id}`]);
  assert.match(await page.textContent('#table-title'), new RegExp(`of ${campaign.campaign_name.replace(/[()]/g, '.')}`));

  // Level 2: that source's sub-ids.
  const source = [...report.rows].sort((a, b) => Number(b.clicks) - Number(a.clicks))[0];
  await andWait(() => page.click(`#report-table tbody tr[data-key="${source.traffic_source_id}"] button.drill`));
  ({ state, report } = await checkNumbers(currency, 'sub-ids of a source'));
  assert.equal(state.level, 'sub1');
  assert.deepEqual(state.filter.sort(), [`campaign:eq:${campaign.campaign_id}`, `traffic_source:eq:${source.traffic_source_id}`].sort());
  assert.ok(report.rows.length >= 1);
  assert.equal(await page.locator('.crumbs li').count(), 3);
  await page.screenshot({ path: path.join(OUT, 'dashboard-drilldown.png'), fullPage: true });

  // Change the date range: today, then a custom range; the drill-down stays.
  await andWait(() => page.click('button[data-preset="today"]'));
  ({ state } = await checkNumbers(currency, 'sub-ids, today'));
  assert.equal(state.from, today());
  assert.equal(state.to, today());
  await page.click('button[data-preset="custom"]');
  await page.fill('#range-from', today());
  await page.fill('#range-to', addDays(today(), -3));
  await page.click('.custom-range button[type=submit]');
  await page.waitForSelector('#range-error:text("on or before")');
  await page.fill('#range-from', addDays(today(), -9));
  await page.fill('#range-to', today());
  await andWait(() => page.click('.custom-range button[type=submit]'));
  ({ state } = await checkNumbers(currency, 'sub-ids, custom range'));
  assert.equal(state.from, addDays(today(), -9));

  // Back to all campaigns through the breadcrumb.
  await andWait(() => page.click('.crumbs li:first-child button'));
  ({ state } = await checkNumbers(currency, 'campaigns, custom range'));
  assert.equal(state.level, 'campaign');
  assert.deepEqual(state.filter, []);
  await andWait(() => page.click('button[data-preset="30d"]'));
  await checkNumbers(currency, 'campaigns, last 30 days again');
  await page.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
});

test('CSV download is the API\'s CSV', async () => {
  const s = await pageState();
  const q = new URLSearchParams(s.csvQuery);
  assert.equal(q.get('format'), 'csv');
  assert.equal(q.get('group_by'), s.level);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const file = path.join(tmp, 'report.csv');
  await download.saveAs(file);
  const res = await fetch(base + '/api/v1/reports?' + s.csvQuery, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/csv/);
  assert.equal(readFileSync(file, 'utf8'), await res.text());
  assert.match(download.suggestedFilename(), /^perfmark-campaign-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
});

// The page's table as rows of raw values: data-key → { label, clicks, revenue, cost }.
async function tableValues() {
  const shown = await scrape();
  const out = {};
  for (const [k, r] of Object.entries(shown.rows)) if (k !== 'totals') out[k] = { label: r.label, clicks: r.cells.clicks?.value, revenue: r.cells.revenue?.value, cost: r.cells.cost?.value };
  return out;
}

// The page's table against a report question written out here (not read
// from the page), for the same range: same rows, same numbers. Retried after
// a Refresh when live traffic moved them in between.
async function expectTableIs(params, what) {
  const dim = params.group_by;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await api('GET', '/reports' + qs({ metrics: TABLE_METRICS.join(','), compare: 'previous', limit: '1000', ...params }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const want = {};
      for (const row of res.body.rows) {
        const id = row[DIMS[dim].id];
        want[id === null || id === undefined ? '' : String(id)] = { label: rowLabel(row, dim), clicks: String(row.clicks), revenue: String(row.revenue), cost: String(row.cost) };
      }
      assert.deepEqual(await tableValues(), want, `${what}: the table is GET /reports${qs(params)}`);
      return res.body;
    } catch (e) {
      if (attempt >= 4 || !(e instanceof assert.AssertionError)) throw e;
      await andWait(() => page.click('#refresh'));
    }
  }
}

async function crumbTexts() {
  return page.$$eval('.crumbs li', (lis) => lis.map((li) => li.textContent));
}

test('view by: the creatives of a campaign, countries, "not set"; drill, breadcrumb, CSV, reload', async () => {
  const currency = (await api('GET', '/settings')).body.currency;
  // Where the first test left the page: all campaigns, the last 30 days.
  let { state, report } = await checkNumbers(currency, 'campaigns before View by');
  assert.equal(state.level, 'campaign');
  assert.deepEqual(state.filter, []);
  assert.equal(state.from, addDays(today(), -29));
  assert.equal(await page.inputValue('#view-by'), 'campaign');
  const range = { from: state.from, to: state.to };

  // The busiest campaign with creatives (the demo's simulator makes them
  // per campaign; the test's own traffic, without it, has none).
  const creatives = (await api('GET', '/creatives?limit=1000')).body.rows;
  const byClicks = [...report.rows].sort((a, b) => Number(b.clicks) - Number(a.clicks));
  const campaign = byClicks.find((r) => creatives.some((c) => c.campaign_id === r.campaign_id)) ?? byClicks[0];
  const ours = creatives.filter((c) => c.campaign_id === campaign.campaign_id);
  await andWait(() => page.click(`#report-table tbody tr[data-key="${campaign.campaign_id}"] button.drill`));
  await andWait(() => page.selectOption('#view-by', 'creative'));
  ({ state, report } = await checkNumbers(currency, 'creatives of a campaign'));
  assert.equal(state.level, 'creative');
  assert.deepEqual(state.filter, [`campaign:eq:${campaign.campaign_id}`]);
  report = await expectTableIs({ group_by: 'creative', filter: `campaign:eq:${campaign.campaign_id}`, ...range }, 'creatives of a campaign');
  // Named rows are the campaign's creative entities, by their names.
  const named = report.rows.filter((r) => r.creative_id !== null);
  if (ours.length > 0) assert.ok(named.length > 0, 'the demo campaign\'s traffic names its creatives');
  for (const r of named) {
    const c = ours.find((x) => x.id === r.creative_id);
    assert.ok(c, `creative ${r.creative_id} is one of campaign ${campaign.campaign_id}'s`);
    assert.equal(await page.textContent(`#report-table tbody tr[data-key="${r.creative_id}"] th`), c.name);
  }
  assert.deepEqual(await crumbTexts(), ['All traffic', `Campaign: ${campaign.campaign_name}`]);
  assert.equal(await page.getAttribute('.crumbs li:last-child span', 'aria-current'), 'page');
  assert.equal(await page.textContent('#table-title'), `Creatives of ${campaign.campaign_name}`);
  assert.equal(await page.inputValue('#filter-campaign'), String(campaign.campaign_id), 'the campaign menu shows the drilled campaign');
  await page.screenshot({ path: path.join(OUT, 'dashboard-view-by.png'), fullPage: true });

  // The CSV follows the dimension.
  const csvQuery = new URLSearchParams(state.csvQuery);
  assert.equal(csvQuery.get('group_by'), 'creative');
  assert.deepEqual(csvQuery.getAll('filter'), [`campaign:eq:${campaign.campaign_id}`]);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const file = path.join(tmp, 'creatives.csv');
  await download.saveAs(file);
  const csv = await fetch(base + '/api/v1/reports?' + state.csvQuery, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(readFileSync(file, 'utf8'), await csv.text());
  assert.match(download.suggestedFilename(), /^perfmark-creative-/);

  // A reload keeps the view (it is in the URL).
  assert.match(await page.evaluate(() => location.hash), /^#\/report\?by=creative&/);
  await page.reload();
  await settled(0);
  assert.equal(await page.inputValue('#view-by'), 'creative');
  assert.equal((await pageState()).query, state.query, 'the same question after a reload');
  assert.deepEqual(await crumbTexts(), ['All traffic', `Campaign: ${campaign.campaign_name}`]);

  // A creative's row drills on: off the standard path, to its start, past
  // the campaign already filtered: the creative's traffic sources.
  const creative = [...(named.length ? named : report.rows)].sort((a, b) => Number(b.clicks) - Number(a.clicks))[0];
  const creativeKey = creative.creative_id === null ? '' : String(creative.creative_id);
  await andWait(() => page.click(`#report-table tbody tr[data-key="${creativeKey}"] button.drill`));
  ({ state } = await checkNumbers(currency, 'traffic sources of a creative'));
  assert.equal(state.level, 'traffic_source');
  const creativeFilter = creativeKey === '' ? 'creative:in:' : `creative:eq:${creativeKey}`;
  assert.deepEqual(state.filter, [`campaign:eq:${campaign.campaign_id}`, creativeFilter]);
  assert.deepEqual(await crumbTexts(), ['All traffic', `Campaign: ${campaign.campaign_name}`, `Creative: ${rowLabel(creative, 'creative')}`]);
  // Back one step: the creatives again (the dimension shown when it was clicked).
  await andWait(() => page.click('.crumbs li:nth-child(2) button'));
  ({ state } = await checkNumbers(currency, 'creatives again'));
  assert.equal(state.level, 'creative');
  assert.deepEqual(state.filter, [`campaign:eq:${campaign.campaign_id}`]);

  // A text dimension: countries of all traffic, then a country's campaigns.
  await andWait(() => page.click('.crumbs li:first-child button'));
  ({ state } = await checkNumbers(currency, 'campaigns from the breadcrumb'));
  assert.equal(state.level, 'campaign');
  assert.deepEqual(state.filter, []);
  await andWait(() => page.selectOption('#view-by', 'country'));
  ({ state, report } = await checkNumbers(currency, 'countries'));
  assert.equal(state.level, 'country');
  report = await expectTableIs({ group_by: 'country', ...range }, 'countries');
  const country = [...report.rows].sort((a, b) => Number(b.clicks) - Number(a.clicks))[0];
  const countryKey = country.country ?? '';
  await andWait(() => page.click(`#report-table tbody tr[data-key="${countryKey}"] button.drill`));
  ({ state } = await checkNumbers(currency, 'campaigns of a country'));
  assert.equal(state.level, 'campaign');
  const countryFilter = countryKey === '' ? 'country:in:' : `country:eq:${countryKey}`;
  assert.deepEqual(state.filter, [countryFilter]);
  await expectTableIs({ group_by: 'campaign', filter: countryFilter, ...range }, 'campaigns of a country');
  assert.deepEqual(await crumbTexts(), ['All traffic', `Country: ${rowLabel(country, 'country')}`]);
  assert.equal(await page.textContent('#table-title'), `Campaigns of Country: ${rowLabel(country, 'country')}`);

  // "Not set": no traffic has a sub10, so all of it is the one row without;
  // clicking it filters on sub10:in: (docs/reports.md).
  await andWait(() => page.click('.crumbs li:first-child button'));
  assert.equal((await pageState()).level, 'country');
  await andWait(() => page.selectOption('#view-by', 'sub10'));
  ({ state, report } = await checkNumbers(currency, 'sub10'));
  assert.ok(report.rows.some((r) => r.sub10 === null), 'traffic without a sub10');
  assert.equal(await page.textContent('#report-table tbody tr[data-key=""] th'), '(none)');
  await andWait(() => page.click('#report-table tbody tr[data-key=""] button.drill'));
  ({ state } = await checkNumbers(currency, 'campaigns without a sub10'));
  assert.equal(state.level, 'campaign');
  assert.deepEqual(state.filter, ['sub10:in:']);
  assert.deepEqual(await crumbTexts(), ['All traffic', 'Sub ID (sub10): (none)']);

  // Back to all campaigns for the tests after this one.
  await andWait(() => page.click('.crumbs li:first-child button'));
  await andWait(() => page.selectOption('#view-by', 'campaign'));
  ({ state } = await checkNumbers(currency, 'campaigns again'));
  assert.equal(state.level, 'campaign');
  assert.deepEqual(state.filter, []);
});

test('attribution: models side by side, the table equals the API', async () => {
  await page.goto(base + '/ui/#/attribution');
  const section = page.locator('section.attribution');
  await page.waitForFunction(() => Number(document.querySelector('section.attribution')?.dataset.loads || 0) > 0, null, { timeout: 30000 });
  const params = JSON.parse(await section.getAttribute('data-params'));
  assert.equal(params.model, 'all');
  const doc = (await api('GET', '/attribution?' + new URLSearchParams(params))).body;
  assert.ok(doc.rows.length > 0, 'the range holds journeys');
  assert.ok(await page.$('#chart-attribution canvas'), 'the bar chart is drawn');
  const cells = await page.$$eval('#attribution-table tbody tr', (trs) =>
    trs.map((tr) => [tr.dataset.label, Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.model, Number(td.dataset.value)]))]));
  assert.equal(cells.length, doc.rows.length);
  doc.rows.forEach((row, i) => {
    assert.equal(cells[i][0], row.channel);
    for (const m of doc.models) assert.equal(cells[i][1][m], Number(row.conversions[m]), `${row.channel} ${m}`);
  });
  // Value view: the cells follow the API's money strings.
  const before = Number(await section.getAttribute('data-loads'));
  await page.selectOption('#attr-metric', 'value');
  await page.waitForFunction((n) => Number(document.querySelector('section.attribution').dataset.loads) > n, before);
  const values = await page.$$eval('#attribution-table tbody tr:first-child td', (tds) => tds.map((td) => td.dataset.value));
  assert.deepEqual(values, doc.models.map((m) => doc.rows[0].value[m]));
  await page.screenshot({ path: path.join(OUT, 'dashboard-attribution.png'), fullPage: true });
});

test('lifetime value: cohorts chart and table equal the API', async () => {
  await page.goto(base + '/ui/#/cohorts');
  const section = page.locator('section.cohorts');
  await page.waitForFunction(() => Number(document.querySelector('section.cohorts')?.dataset.loads || 0) > 0, null, { timeout: 30000 });
  const params = JSON.parse(await section.getAttribute('data-params'));
  assert.match(params.from, /^\d{4}-\d\d$/);
  const doc = (await api('GET', '/clv?' + new URLSearchParams(params))).body;
  assert.ok(doc.cohorts.some((k) => k.visitors > 0), 'the demo has converting visitors');
  assert.ok(await page.$('#chart-cohorts canvas'), 'the bar chart is drawn');
  const rows = await page.$$eval('#cohort-table tbody tr', (trs) =>
    trs.map((tr) => [tr.dataset.cohort, Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.key, td.dataset.value]))]));
  assert.equal(rows.length, doc.cohorts.length);
  doc.cohorts.forEach((k, i) => {
    assert.equal(rows[i][0], k.cohort);
    assert.equal(rows[i][1].visitors, String(k.visitors));
    assert.equal(rows[i][1].revenue, k.revenue);
    for (const w of [30, 90, 365]) assert.equal(rows[i][1][`clv_${w}d`], k[`clv_${w}d`] === null ? '' : k[`clv_${w}d`], `${k.cohort} ${w}`);
  });
  await page.screenshot({ path: path.join(OUT, 'dashboard-cohorts.png'), fullPage: true });
});

test('management: API errors at their field, create, links, pause, delete', async () => {
  await page.click('nav a[href="#/campaigns"]');
  await page.waitForSelector('section.manage[data-kind="campaigns"] table');
  const sources = (await api('GET', '/traffic-sources')).body.rows;
  const offers = (await api('GET', '/offers')).body.rows;

  await page.click('#new-entity');
  await page.fill('#f-name', 'Browser test campaign');
  await page.selectOption('#f-traffic_source_id', String(sources[0].id));
  await page.selectOption('#f-destination-offer_id', String(offers[0].id));
  await page.fill('#f-cost-amount', '-1');
  await page.fill('#f-token', 'browser-test');
  await page.click('.entity-form button[type=submit]');
  // The API's own message for the same body, shown at cost.amount.
  const bad = await api('POST', '/campaigns', { name: 'x', traffic_source_id: sources[0].id, destination: { offer_id: offers[0].id }, cost: { model: 'cpc', amount: '-1', currency: 'USD' } });
  assert.equal(bad.status, 422);
  assert.equal(bad.body.error.field, 'cost.amount');
  await page.waitForSelector('.field[data-field="cost.amount"] .field-error:not(:empty)');
  assert.equal(await page.textContent('.field[data-field="cost.amount"] .field-error'), bad.body.error.message);
  assert.equal(await page.getAttribute('#f-cost-amount', 'aria-invalid'), 'true');

  await page.fill('#f-cost-amount', '0.35');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.form-dialog', { state: 'hidden' });
  const created = (await api('GET', '/campaigns?limit=1000')).body.rows.find((c) => c.token === 'browser-test');
  assert.ok(created, 'the campaign was created');
  assert.equal(created.cost.amount, '0.35');
  const row = page.locator(`tr[data-id="${created.id}"]`);
  await row.waitFor();
  await row.locator('button:text("Links")').click();
  for (const k of ['tracking_url', 'impression_url', 'postback_url']) assert.equal(await page.inputValue(`#${k}-${created.id}`), created[k]);
  await page.screenshot({ path: path.join(OUT, 'dashboard-campaigns.png'), fullPage: true });

  await row.locator('button:text("Pause")').click();
  await page.waitForSelector(`tr[data-id="${created.id}"] .badge.paused`);
  assert.equal((await api('GET', `/campaigns/${created.id}`)).body.status, 'paused');

  // Edit: a token another campaign has is a 409 shown at the token field.
  await page.locator(`tr[data-id="${created.id}"] button:text("Edit")`).click();
  await page.fill('#f-token', 'demo');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.field[data-field="token"] .field-error:not(:empty)');
  assert.match(await page.textContent('.field[data-field="token"] .field-error'), /already used/);
  await page.click('.entity-form button:text("Cancel")');

  page.once('dialog', (d) => d.accept());
  await page.locator(`tr[data-id="${created.id}"] button:text("Delete")`).click();
  await page.waitForSelector(`tr[data-id="${created.id}"]`, { state: 'detached' });
  assert.equal((await api('GET', `/campaigns/${created.id}`)).status, 404);

  // Offers: a bad URL is reported at the url field.
  await page.click('nav a[href="#/offers"]');
  await page.waitForSelector('section.manage[data-kind="offers"] table');
  await page.click('#new-entity');
  await page.fill('#f-name', 'Broken offer');
  await page.fill('#f-url', 'ftp://nope');
  await page.fill('#f-payout-amount', '3.00');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.field[data-field="url"] .field-error:not(:empty)');
  await page.click('.entity-form button:text("Cancel")');
});

test('report columns: the metrics outside the default set, from the column menu', async () => {
  await page.click('nav a[href="#/report"]');
  await page.waitForSelector('section.report[aria-busy="false"][data-seq]');
  const extra = TABLE_METRICS.filter((k) => !DEFAULT_COLUMNS.includes(k));
  for (const k of ['lander_ctr', 'bot_clicks', 'chargebacks', 'cpl', 'pending_revenue']) assert.ok(extra.includes(k), `${k} can be chosen`);
  await page.click('#columns-menu summary');
  for (const k of ['bot_clicks', 'lander_ctr', 'chargebacks', 'cpl']) await page.check(`#columns-menu input[data-metric="${k}"]`);
  await page.uncheck('#columns-menu input[data-metric="impressions"]');
  const columns = await shownColumns();
  assert.deepEqual(columns, TABLE_METRICS.filter((k) => (DEFAULT_COLUMNS.includes(k) && k !== 'impressions') || ['bot_clicks', 'lander_ctr', 'chargebacks', 'cpl'].includes(k)));
  // Every shown cell, the new ones included, is the API's value (checkNumbers
  // compares the columns the page shows).
  const { report } = await checkNumbers((await api('GET', '/settings')).body.currency, 'campaigns with extra columns');
  const busiest = [...report.rows].sort((a, b) => Number(b.clicks) - Number(a.clicks))[0];
  const cell = page.locator(`#report-table tbody tr[data-key="${busiest.campaign_id}"] td[data-metric="bot_clicks"]`);
  assert.equal(await cell.getAttribute('data-value'), String(busiest.bot_clicks));
  assert.equal(await cell.textContent(), formatMetric('bot_clicks', busiest.bot_clicks));
  // Escape closes the menu.
  await page.focus('#columns-menu input[data-metric="cpl"]');
  await page.keyboard.press('Escape');
  assert.equal(await page.evaluate(() => document.getElementById('columns-menu').open), false);
  await page.locator('#report-table th[data-key="lander_ctr"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(OUT, 'dashboard-columns.png'), fullPage: true });
  // The choice outlives a reload; "Default columns" brings the default back.
  await page.reload();
  await page.waitForSelector('section.report[aria-busy="false"][data-seq]');
  assert.deepEqual(await shownColumns(), columns);
  await page.click('#columns-menu summary');
  await page.click('#columns-default');
  assert.deepEqual(await shownColumns(), DEFAULT_COLUMNS);
  await page.click('#columns-menu summary');
});

test('creatives: a frequency cap through the form, its error at its field, listed as the API has it', async () => {
  const camp = (await api('GET', '/campaigns?limit=1000')).body.rows[0];
  await page.click('nav a[href="#/creatives"]');
  await page.waitForSelector('section.manage[data-kind="creatives"] :is(table, .empty)');
  await page.click('#new-entity');
  await page.selectOption('#f-campaign_id', String(camp.id));
  await page.fill('#f-name', 'Browser test banner');
  await page.fill('#f-frequency_cap-max', '0');
  await page.selectOption('#f-frequency_cap-count', 'impressions');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.field[data-field="frequency_cap.max"] .field-error:not(:empty)');
  const bad = await api('POST', '/creatives', { campaign_id: camp.id, name: 'x', frequency_cap: { max: 0, per: 'day', count: 'impressions' } });
  assert.equal(bad.status, 422);
  assert.equal(await page.textContent('.field[data-field="frequency_cap.max"] .field-error'), bad.body.error.message);
  await page.fill('#f-frequency_cap-max', '3');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.form-dialog', { state: 'hidden' });
  const all = (await api('GET', '/creatives?limit=1000')).body.rows;
  const created = all.find((c) => c.name === 'Browser test banner');
  assert.ok(created, 'the creative was created');
  assert.equal(created.campaign_id, camp.id);
  assert.deepEqual(created.frequency_cap, { max: 3, per: 'day', count: 'impressions' });
  const row = page.locator(`section.manage[data-kind="creatives"] tr[data-id="${created.id}"]`);
  await row.waitFor();
  const ids = await page.$$eval('section.manage[data-kind="creatives"] tbody tr[data-id]', (trs) => trs.map((tr) => Number(tr.dataset.id)));
  assert.deepEqual(ids, all.map((c) => c.id));
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[1], created.name);
  assert.equal(cells[3], camp.name);
  assert.equal(cells[4], '3 impressions per day');
  await page.screenshot({ path: path.join(OUT, 'dashboard-creatives.png'), fullPage: true });

  // Edit: clearing the cap's number lifts the cap.
  await row.locator('button:text("Edit")').click();
  assert.equal(await page.inputValue('#f-frequency_cap-max'), '3');
  await page.fill('#f-frequency_cap-max', '');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.form-dialog', { state: 'hidden' });
  assert.equal((await api('GET', `/creatives/${created.id}`)).body.frequency_cap, null);
  await page.waitForSelector(`tr[data-id="${created.id}"] td:text("None")`);

  page.once('dialog', (d) => d.accept());
  await page.locator(`tr[data-id="${created.id}"] button:text("Delete")`).click();
  await page.waitForSelector(`tr[data-id="${created.id}"]`, { state: 'detached' });
  assert.equal((await api('GET', `/creatives/${created.id}`)).status, 404);
});

test('partners: create through the form, listed as the API has it; campaigns can name one', async () => {
  await page.click('nav a[href="#/partners"]');
  await page.waitForSelector('section.manage[data-kind="partners"] :is(table, .empty)');
  // A bad postback URL is the API's error at its field.
  await page.click('#new-entity');
  await page.fill('#f-name', 'Browser test partner');
  await page.selectOption('#f-payout-model', 'percent');
  await page.fill('#f-payout-percent', '30');
  await page.fill('#f-postback_url', 'ftp://nope');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.field[data-field="postback_url"] .field-error:not(:empty)');
  const bad = await api('POST', '/partners', { name: 'x', postback_url: 'ftp://nope' });
  assert.equal(bad.status, 422);
  assert.equal(await page.textContent('.field[data-field="postback_url"] .field-error'), bad.body.error.message);
  await page.fill('#f-postback_url', 'https://aff.example/pb?click={external_id}&amount={payout}');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.form-dialog', { state: 'hidden' });
  const all = (await api('GET', '/partners?limit=1000')).body.rows;
  const created = all.find((p) => p.name === 'Browser test partner');
  assert.ok(created, 'the partner was created');
  assert.equal(created.payout.model, 'percent');
  assert.equal(Number(created.payout.percent), 30);
  assert.equal(created.postback_url, 'https://aff.example/pb?click={external_id}&amount={payout}');
  const row = page.locator(`section.manage[data-kind="partners"] tr[data-id="${created.id}"]`);
  await row.waitFor();
  // The list is the API's list, row for row.
  const ids = await page.$$eval('section.manage[data-kind="partners"] tbody tr[data-id]', (trs) => trs.map((tr) => Number(tr.dataset.id)));
  assert.deepEqual(ids, all.map((p) => p.id));
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[1], created.name);
  assert.equal(cells[2], `${created.payout.percent}% of revenue`);
  assert.equal(cells[3], created.postback_url);
  await page.screenshot({ path: path.join(OUT, 'dashboard-partners.png'), fullPage: true });

  // Edit: fixed payout.
  await row.locator('button:text("Edit")').click();
  await page.selectOption('#f-payout-model', 'fixed');
  await page.fill('#f-payout-amount', '4.50');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.form-dialog', { state: 'hidden' });
  const edited = (await api('GET', `/partners/${created.id}`)).body;
  assert.equal(edited.payout.model, 'fixed');
  assert.equal(edited.payout.amount, '4.50');
  await page.waitForSelector(`tr[data-id="${created.id}"] td:text("per conversion")`);

  // The campaign form offers the partners; saving names one.
  await page.click('nav a[href="#/campaigns"]');
  await page.waitForSelector('section.manage[data-kind="campaigns"] table');
  const camp = (await api('GET', '/campaigns?limit=1000')).body.rows[0];
  await page.locator(`tr[data-id="${camp.id}"] button:text("Edit")`).click();
  await page.selectOption('#f-partner_id', String(created.id));
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.form-dialog', { state: 'hidden' });
  assert.equal((await api('GET', `/campaigns/${camp.id}`)).body.partner_id, created.id);
  await page.locator(`tr[data-id="${camp.id}"] button:text("Edit")`).click();
  assert.equal(await page.inputValue('#f-partner_id'), String(created.id));
  await page.selectOption('#f-partner_id', '');
  await page.click('.entity-form button[type=submit]');
  await page.waitForSelector('.form-dialog', { state: 'hidden' });
  assert.equal((await api('GET', `/campaigns/${camp.id}`)).body.partner_id, camp.partner_id ?? null);

  // Delete.
  await page.click('nav a[href="#/partners"]');
  await page.waitForSelector(`section.manage[data-kind="partners"] tr[data-id="${created.id}"]`);
  page.once('dialog', (d) => d.accept());
  await page.locator(`tr[data-id="${created.id}"] button:text("Delete")`).click();
  await page.waitForSelector(`tr[data-id="${created.id}"]`, { state: 'detached' });
  assert.equal((await api('GET', `/partners/${created.id}`)).status, 404);
});

// Every postback the API lists for a status ('' = all), following `next`.
async function allPostbacks(status) {
  const rows = [];
  let after;
  do {
    const res = await api('GET', '/postbacks' + qs({ status, limit: '1000', after: after === undefined ? undefined : String(after) }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    rows.push(...res.body.rows);
    after = res.body.next;
  } while (after !== null && after !== undefined);
  return rows;
}

async function postbacksLoaded(n) {
  await page.waitForFunction((k) => {
    const s = document.querySelector('section.postbacks');
    return s && s.getAttribute('aria-busy') === 'false' && Number(s.dataset.loads || 0) > k;
  }, n, { timeout: 20000 });
}
async function postbacksLoads() {
  return Number((await page.getAttribute('section.postbacks', 'data-loads')) || 0);
}
// Load every page the list offers.
async function loadAllPostbacks() {
  while (await page.isVisible('#postbacks-more')) {
    const n = await postbacksLoads();
    await page.click('#postbacks-more');
    await postbacksLoaded(n);
  }
}

// Postbacks of our own: the demo's simulated history queues none. A local
// receiver answers 200 on /ok and 500 on /bad; a source posting to /ok and
// a partner posting to /bad, on a campaign with PB_CONVERSIONS conversions,
// give delivered postbacks and pending ones with failed attempts: two per
// conversion, more than one page of the list (100).
const PB_CONVERSIONS = 51;
let receiver;
async function makePostbacks() {
  const hits = [];
  receiver = http.createServer((req, res) => {
    hits.push(req.url);
    res.writeHead(req.url.startsWith('/ok') ? 200 : 500, { 'Content-Type': 'text/plain' });
    res.end('x');
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const rport = receiver.address().port;
  const src = await api('POST', '/traffic-sources', { name: 'Postback receiver (test)', postback_url: `http://127.0.0.1:${rport}/ok?c={external_id}&s={status}` });
  assert.equal(src.status, 201, JSON.stringify(src.body));
  const partner = await api('POST', '/partners', { name: 'Postback partner (test)', payout: { model: 'fixed', amount: '1.00', currency: 'USD' }, postback_url: `http://127.0.0.1:${rport}/bad?c={external_id}&p={payout}` });
  assert.equal(partner.status, 201, JSON.stringify(partner.body));
  const offers = (await api('GET', '/offers')).body.rows;
  const camp = await api('POST', '/campaigns', {
    name: 'Postbacks (test)',
    token: 'postbacks-test',
    traffic_source_id: src.body.id,
    partner_id: partner.body.id,
    destination: { offer_id: offers[0].id },
    cost: { model: 'cpc', amount: '0.10', currency: 'USD' },
  });
  assert.equal(camp.status, 201, JSON.stringify(camp.body));
  for (let i = 0; i < PB_CONVERSIONS; i++) {
    const cid = await click('postbacks-test', { external_id: `pb${i}` });
    const pb = await fetch(`${base}/pb${qs({ clickid: cid, txid: `pbt-${i}`, payout: '5.00' })}`);
    assert.equal(pb.status, 200, await pb.text());
  }
  // One to the source (delivered), one to the partner (attempted, pending) each.
  await waitFor(async () => {
    const mine = (await allPostbacks('')).filter((p) => p.campaign_id === camp.body.id);
    return mine.filter((p) => p.status === 'delivered').length === PB_CONVERSIONS && mine.filter((p) => p.target === 'partner' && p.attempt_count > 0).length === PB_CONVERSIONS;
  }, 'the test\'s postbacks delivered and attempted', 30000, 200);
  return camp.body.id;
}

test('postbacks: the queue as the API lists it, in all and per status; attempts', async () => {
  const campaignId = await makePostbacks();
  await page.click('nav a[href="#/postbacks"]');
  await postbacksLoaded(0);
  // The first page is the API's page size; more are there to load.
  assert.equal(await page.locator('#postbacks-table tbody tr[data-id]').count(), 100);
  assert.ok(await page.isVisible('#postbacks-more'), 'Load more is offered');
  assert.match(await page.textContent('#postbacks-count'), /^100 postbacks, more to load$/);
  const shownIds = () => page.$$eval('#postbacks-table tbody tr[data-id]', (trs) => trs.map((tr) => Number(tr.dataset.id)));
  // All pages loaded, the rows are the API's, in its order, as many as it
  // has in all. New conversions may queue more meanwhile: then refresh and
  // compare again.
  let apiRows;
  let ids;
  for (let attempt = 1; ; attempt++) {
    await loadAllPostbacks();
    ids = await shownIds();
    apiRows = await allPostbacks('');
    if (ids.length === apiRows.length || attempt >= 4) break;
    const n = await postbacksLoads();
    await page.click('#postbacks-refresh');
    await postbacksLoaded(n);
  }
  assert.ok(apiRows.length > 0, 'the demo workspace has postbacks (its sources have postback URLs)');
  assert.equal(ids.length, apiRows.length, 'as many rows as the API has in all');
  assert.deepEqual(ids, apiRows.map((p) => p.id), 'rows in the API\'s order');
  assert.match(await page.textContent('#postbacks-count'), new RegExp(`^${ids.length} postbacks?$`));

  const counts = {};
  for (const status of ['pending', 'delivered', 'failed']) {
    const n = await postbacksLoads();
    await page.selectOption('#postback-status', status);
    await postbacksLoaded(n);
    await loadAllPostbacks();
    ids = await shownIds().catch(() => []);
    const apiIds = (await allPostbacks(status)).map((p) => p.id);
    // Live: a pending one may have been delivered or failed in between.
    for (const id of ids) assert.ok(apiIds.includes(id) || status === 'pending', `postback ${id} is ${status}`);
    if (status !== 'pending') for (const id of apiIds.filter((x) => x <= (ids[ids.length - 1] ?? 0))) assert.ok(ids.includes(id), `${status} postback ${id} shown`);
    counts[status] = ids.length;
    for (const s of await page.$$eval('#postbacks-table tbody .badge', (b) => b.map((x) => x.textContent))) assert.equal(s, status);
  }

  // One postback's attempts: the API's.
  const n0 = await postbacksLoads();
  await page.selectOption('#postback-status', '');
  await postbacksLoaded(n0);
  apiRows = await allPostbacks('');
  // One with failed attempts (the partner's), one delivered (the source's).
  for (const withAttempts of [apiRows.find((p) => p.campaign_id === campaignId && p.target === 'partner'), apiRows.find((p) => p.campaign_id === campaignId && p.status === 'delivered')]) {
  await page.waitForSelector(`#postbacks-table tr[data-id="${withAttempts.id}"]`);
  await page.click(`#postbacks-table tr[data-id="${withAttempts.id}"] td:first-child button`);
  await page.waitForSelector(`#postback-detail[data-id="${withAttempts.id}"]`);
  const one = (await api('GET', `/postbacks/${withAttempts.id}`)).body;
  const attempts = await page.$$eval('#attempts-table tbody tr', (trs) => trs.map((tr) => [Number(tr.dataset.n), tr.children[3].textContent, tr.children[4].textContent]));
  assert.ok(one.attempts.length > 0);
  assert.deepEqual(attempts, one.attempts.map((a) => [a.n, a.http_status === null ? '—' : String(a.http_status), a.error || '—']));
  if (one.target === 'partner') {
    assert.equal(one.attempts[0].http_status, 500);
    await page.screenshot({ path: path.join(OUT, 'dashboard-postbacks.png'), fullPage: true });
  }
  }

});

// A failed postback needs attempts to run out: a second server of its own
// (`serve --postback-attempts 1`, a fresh data directory), whose one
// partner postback fails at its first attempt.
test('postbacks: Retry of a failed one — a viewer key is refused with the API\'s message, an admin key re-queues it', async () => {
  const port = await freePort();
  const data = path.join(tmp, 'retry-data');
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1' };
  const cli = (...args) => new Promise((resolve, reject) => {
    const p = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (stderrText += d));
    p.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`perfmark ${args.join(' ')}: exit ${code}`))));
  });
  const adminKey = await cli('keys', 'create', '--data', data, '--role', 'admin');
  const viewerKey = await cli('keys', 'create', '--data', data, '--role', 'viewer');
  const srv = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--threads', '1', '--postback-attempts', '1', '--postback-poll-ms', '100'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  srv.stderr.on('data', (d) => (stderrText += d));
  const base2 = `http://127.0.0.1:${port}`;
  const api2 = async (method, p, body, k = adminKey) => {
    const res = await fetch(base2 + '/api/v1' + p, { method, headers: { Authorization: `Bearer ${k}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  try {
    await waitFor(async () => (await fetch(base2 + '/healthz')).ok, 'the second server', 120000, 200);
    const rport = receiver.address().port;
    const src = await api2('POST', '/traffic-sources', { name: 'Source' });
    const partner = await api2('POST', '/partners', { name: 'Down partner', postback_url: `http://127.0.0.1:${rport}/bad?c={external_id}` });
    const offer = await api2('POST', '/offers', { name: 'Offer', url: 'https://offer.example/?c={clickid}', payout: { type: 'cpa', amount: '3.00', currency: 'USD' } });
    assert.equal(offer.status, 201, JSON.stringify(offer.body));
    const camp = await api2('POST', '/campaigns', { name: 'Retry', token: 'retry-test', traffic_source_id: src.body.id, partner_id: partner.body.id, destination: { offer_id: offer.body.id }, cost: { model: 'cpc', amount: '0.10', currency: 'USD' } });
    assert.equal(camp.status, 201, JSON.stringify(camp.body));
    const res = await fetch(`${base2}/c/retry-test?external_id=r1`, { redirect: 'manual', headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) test' } });
    const cid = /pmc=([^;]+)/.exec(res.headers.get('set-cookie') || '')[1];
    assert.equal((await fetch(`${base2}/pb${qs({ clickid: cid, txid: 'r-1', payout: '3.00' })}`)).status, 200);
    const failed = await waitFor(async () => (await api2('GET', '/postbacks?status=failed')).body.rows[0], 'a failed postback', 30000, 200);
    const refused = await api2('POST', `/postbacks/${failed.id}/retry`, undefined, viewerKey);
    assert.equal(refused.status, 403);

    // The viewer: the Retry button is there, the API's 403 is shown, still failed.
    await page.goto(base2 + '/ui');
    await page.fill('#api-key', viewerKey);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#nav:not([hidden])');
    await page.goto(base2 + '/ui/#/postbacks');
    await page.waitForSelector(`#postbacks-table tr[data-id="${failed.id}"] .badge.failed`);
    await page.click(`#postbacks-table tr[data-id="${failed.id}"] td:first-child button`);
    await page.waitForSelector(`#postback-detail[data-id="${failed.id}"] #postback-retry`);
    await page.click(`#postbacks-table tr[data-id="${failed.id}"] button:text("Retry")`);
    await page.waitForSelector('#status[data-kind="error"]:not(:empty)');
    assert.equal(await page.textContent('#status'), `Postback ${failed.id} not retried: ${refused.body.error.message}`);
    assert.equal((await api2('GET', `/postbacks/${failed.id}`)).body.status, 'failed');

    // The admin: re-queued (pending until its next attempt fails it again).
    await page.evaluate((k) => sessionStorage.setItem('perfmark.apiKey', k), adminKey);
    await page.reload();
    await page.waitForSelector(`#postbacks-table tr[data-id="${failed.id}"]`);
    const before = (await api2('GET', `/postbacks/${failed.id}`)).body.attempt_count;
    // This time from its details' Retry button; the details stay open.
    await page.click(`#postbacks-table tr[data-id="${failed.id}"] td:first-child button`);
    await page.waitForSelector(`#postback-detail[data-id="${failed.id}"] #postback-retry`);
    await page.click('#postback-retry');
    await page.waitForSelector(`#status:text("Postback ${failed.id} queued again.")`);
    await page.waitForSelector(`#postback-detail[data-id="${failed.id}"]:not([hidden])`);
    await page.screenshot({ path: path.join(OUT, 'dashboard-postbacks-retried.png'), fullPage: true });
    // The retry really went out: one more attempt in the API's record.
    await waitFor(async () => (await api2('GET', `/postbacks/${failed.id}`)).body.attempts.length > before, 'the retried attempt', 20000, 200);
  } finally {
    srv.kill('SIGTERM');
    await new Promise((r) => (srv.exitCode !== null ? r() : srv.on('exit', r)));
    // Back to the demo server for the tests after this one.
    await page.goto(base + '/ui/#/report');
  }
});

test('no script errors on the page', () => {
  assert.deepEqual(pageErrors, []);
});
