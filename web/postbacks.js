// postbacks.js: the outgoing postbacks (docs/postbacks.md "API"): the
// queue filtered by status, paged like the API (limit/after/next, "Load
// more"), one postback's attempts when its row is chosen, and Retry for a
// failed one (admin keys; a viewer key's 403 is shown as the API says it).

import { get, request, listAll } from './api.js';
import { h, fill, announce } from './dom.js';

export const POSTBACK_STATUSES = ['pending', 'delivered', 'failed'];
export const POSTBACK_PAGE = 100;

// "2026-12-03T06:20:01.120000Z" → "2026-12-03 06:20:01 UTC" (the API's
// instant, shortened; the full value stays in the cell's title).
export function shortTime(t) {
  if (!t) return '—';
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(t);
  return m ? `${m[1]} ${m[2]} UTC` : String(t);
}

function targetLabel(p, names) {
  if (p.target === 'partner') return `Partner ${names.partners.get(p.partner_id) ?? `#${p.partner_id}`}`;
  return `Source ${names.sources.get(p.traffic_source_id) ?? `#${p.traffic_source_id}`}`;
}

function timeCell(t) {
  return h('td', { class: 'time', title: t || null }, shortTime(t));
}

export function postbacksView(root, ctx) {
  let rows = [];
  let next = null;
  let selected = null;
  let seq = 0;
  let loads = 0;
  const names = { sources: new Map(), partners: new Map() };

  const statusSelect = h(
    'select',
    { id: 'postback-status', name: 'status', onchange: () => load() },
    h('option', { value: '' }, 'All statuses'),
    POSTBACK_STATUSES.map((s) => h('option', { value: s }, s)),
  );
  const refreshButton = h('button', { type: 'button', class: 'btn', id: 'postbacks-refresh', onclick: () => load() }, 'Refresh');
  const list = h('div', { class: 'table-wrap', role: 'region', 'aria-label': 'Postbacks', tabindex: '0' });
  const count = h('span', { class: 'hint', id: 'postbacks-count', 'aria-live': 'polite' });
  const moreButton = h('button', { type: 'button', class: 'btn', id: 'postbacks-more', hidden: true, onclick: () => loadMore() }, 'Load more');
  const detail = h('div', { class: 'detail panel', id: 'postback-detail', hidden: true, 'aria-live': 'polite' });
  const section = h(
    'section',
    { class: 'postbacks', 'aria-busy': 'true' },
    h(
      'div',
      { class: 'manage-head' },
      h('h1', {}, 'Postbacks'),
      h('div', { class: 'filters' }, h('div', { class: 'filter' }, h('label', { for: 'postback-status' }, 'Status'), statusSelect), refreshButton),
    ),
    list,
    h('div', { class: 'more' }, count, moreButton),
    detail,
  );
  fill(root, section);

  function params(after) {
    return { status: statusSelect.value, limit: POSTBACK_PAGE, after };
  }

  async function load() {
    const my = ++seq;
    section.setAttribute('aria-busy', 'true');
    selected = null;
    detail.hidden = true;
    try {
      const page = await get('/postbacks', params());
      if (my !== seq) return;
      rows = page.rows;
      next = page.next;
      render();
    } catch (e) {
      if (my !== seq) return;
      rows = [];
      next = null;
      fill(list, h('p', { class: 'error', role: 'alert' }, `Could not load postbacks: ${e.message}`));
    } finally {
      if (my === seq) done();
    }
  }

  async function loadMore() {
    if (next === null || next === undefined) return;
    const my = ++seq;
    moreButton.disabled = true;
    section.setAttribute('aria-busy', 'true');
    try {
      const page = await get('/postbacks', params(next));
      if (my !== seq) return;
      rows.push(...page.rows);
      next = page.next;
      render();
    } catch (e) {
      announce(`Could not load more postbacks: ${e.message}`, 'error');
    } finally {
      moreButton.disabled = false;
      if (my === seq) done();
    }
  }

  function done() {
    section.dataset.params = JSON.stringify({ status: statusSelect.value });
    section.dataset.loads = String(++loads);
    section.setAttribute('aria-busy', 'false');
  }

  function render() {
    count.textContent = `${rows.length} postback${rows.length === 1 ? '' : 's'}${next !== null && next !== undefined ? ', more to load' : ''}`;
    moreButton.hidden = next === null || next === undefined;
    if (rows.length === 0) {
      fill(list, h('p', { class: 'empty' }, statusSelect.value ? `No ${statusSelect.value} postbacks.` : 'No postbacks yet: they are queued when conversions of a source or partner with a postback URL happen.'));
      return;
    }
    const head = ['ID', 'Target', 'URL', 'Status', 'Attempts', 'Last error', 'Created', 'Next attempt', 'Delivered'];
    const body = h(
      'tbody',
      {},
      rows.map((p) =>
        h(
          'tr',
          { 'data-id': p.id, class: selected === p.id ? 'selected' : null },
          h('td', { class: 'num' }, h('button', { type: 'button', class: 'link', 'aria-label': `Show the attempts of postback ${p.id}`, 'aria-expanded': String(selected === p.id), 'aria-controls': 'postback-detail', onclick: () => show(p.id) }, String(p.id))),
          h('td', {}, targetLabel(p, names)),
          h('td', {}, h('code', { class: 'url' }, p.url)),
          h('td', {}, h('span', { class: `badge ${p.status}` }, p.status)),
          h('td', { class: 'num', 'data-key': 'attempt_count' }, String(p.attempt_count)),
          h('td', {}, p.last_error || '—'),
          timeCell(p.created_at),
          timeCell(p.next_attempt_at),
          timeCell(p.delivered_at),
          h('td', {}, p.status === 'failed' ? h('button', { type: 'button', class: 'btn small', 'aria-label': `Retry postback ${p.id}`, onclick: () => retry(p) }, 'Retry') : null),
        ),
      ),
    );
    fill(
      list,
      h(
        'table',
        { class: 'data entities', id: 'postbacks-table' },
        h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col', class: t === 'ID' || t === 'Attempts' ? 'num' : null }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        body,
      ),
    );
  }

  async function show(id) {
    selected = id;
    render();
    detail.hidden = false;
    fill(detail, h('p', {}, `Loading postback ${id}…`));
    try {
      const p = await get(`/postbacks/${id}`);
      if (selected !== id) return;
      const attempts = p.attempts || [];
      fill(
        detail,
        h('h2', { id: 'postback-detail-title' }, `Postback ${p.id}: ${p.status}`),
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Conversion'), h('dd', {}, h('code', {}, p.conversion_id || '—'), ` (${p.event}, ${p.conversion_status})`),
          h('dt', {}, 'Target'), h('dd', {}, targetLabel(p, names)),
          h('dt', {}, 'URL'), h('dd', {}, h('code', {}, p.url)),
        ),
        attempts.length === 0
          ? h('p', { class: 'empty' }, 'No attempts yet.')
          : h(
              'table',
              { class: 'data', id: 'attempts-table', 'aria-labelledby': 'postback-detail-title' },
              h('thead', {}, h('tr', {}, ['#', 'At', 'Duration', 'HTTP status', 'Error'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                {},
                attempts.map((a) =>
                  h(
                    'tr',
                    { 'data-n': a.n },
                    h('td', { class: 'num' }, String(a.n)),
                    timeCell(a.at),
                    h('td', { class: 'num' }, a.duration_us === null || a.duration_us === undefined ? '—' : `${(a.duration_us / 1000).toFixed(1)} ms`),
                    h('td', { class: 'num' }, a.http_status === null || a.http_status === undefined ? '—' : String(a.http_status)),
                    h('td', {}, a.error || '—'),
                  ),
                ),
              ),
            ),
        p.status === 'failed' ? h('button', { type: 'button', class: 'btn', id: 'postback-retry', onclick: () => retry(p) }, 'Retry') : null,
      );
      detail.dataset.id = String(p.id);
    } catch (e) {
      if (selected === id) fill(detail, h('p', { class: 'error', role: 'alert' }, `Could not load postback ${id}: ${e.message}`));
    }
  }

  async function retry(p) {
    try {
      await request('POST', `/postbacks/${p.id}/retry`);
      const open = selected === p.id;
      announce(`Postback ${p.id} queued again.`);
      await load();
      if (open) await show(p.id); // its details follow: pending again
    } catch (e) {
      announce(`Postback ${p.id} not retried: ${e.message}`, 'error');
    }
  }

  // Names for the target column; the list loads meanwhile.
  (async () => {
    const [sources, partners] = await Promise.all([listAll('/traffic-sources').catch(() => []), listAll('/partners').catch(() => [])]);
    for (const s of sources) names.sources.set(s.id, s.name);
    for (const s of partners) names.partners.set(s.id, s.name);
    if (rows.length) render();
  })();

  load();
  return {
    destroy() {
      seq++;
      selected = null;
    },
  };
}
