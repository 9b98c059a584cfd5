// manage.js: the management views: campaigns, offers, traffic sources,
// landers, creatives and partners. A list with edit / pause / delete, and one form for create and
// edit. The API does all validation; its error names the field
// ({"error":{"field":"payout.amount",…}}) and the message is shown next to
// that field. Campaigns show their tracking, impression and postback URLs
// with copy buttons.

import { request, listAll } from './api.js';
import { h, fill, announce, copyText } from './dom.js';
import { formatMoney } from './format.js';

// Field specs by kind. `name` is the API's dotted field name (the form
// control's name too, so an error's `field` finds its control).
function kinds(ctx) {
  const currency = ctx.settings.currency || 'USD';
  return {
    campaigns: {
      title: 'Campaigns',
      singular: 'campaign',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'traffic_source_id', label: 'Traffic source', ref: 'traffic-sources', required: true },
        { name: 'destination.offer_id', label: 'Offer', ref: 'offers', hint: 'An offer, a lander, or both.' },
        { name: 'destination.lander_id', label: 'Lander', ref: 'landers', hint: 'Shown before the offer.' },
        { name: 'cost.model', label: 'Cost model', options: ['cpc', 'cpm', 'cpa', 'revshare', 'auto'], required: true },
        { name: 'cost.amount', label: 'Cost amount', money: true, required: true },
        { name: 'cost.currency', label: 'Cost currency', initial: currency, required: true, size: 3 },
        { name: 'cost.percent', label: 'Revenue share %', hint: 'revshare: the source’s share of each conversion’s revenue.', optional: true, empty: '0' },
        { name: 'partner_id', label: 'Partner', ref: 'partners', hint: 'The affiliate paid for its conversions (docs/money.md).' },
        { name: 'status', label: 'Status', options: ['active', 'paused'] },
        { name: 'bot_check', label: 'Bot check', options: ['none', 'js'], hint: 'js: clicks pass a script page first; those that ran no script are flagged as bots.' },
        { name: 'token', label: 'Token', hint: 'In the tracking URL: 4–64 of A–Z a–z 0–9 _ -. Empty: a random one.', optional: true },
      ],
      columns: [
        ['Name', (e) => e.name],
        ['Status', (e) => h('span', { class: `badge ${e.status}` }, e.status)],
        ['Source', (e, refs) => refName(refs, 'traffic-sources', e.traffic_source_id)],
        ['Destination', (e, refs) => [refName(refs, 'landers', e.destination?.lander_id), refName(refs, 'offers', e.destination?.offer_id)].filter(Boolean).join(' → ')],
        ['Cost', (e) => `${e.cost?.model?.toUpperCase()} ${formatMoney(e.cost?.amount, e.cost?.currency, true)}`],
      ],
    },
    offers: {
      title: 'Offers',
      singular: 'offer',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'url', label: 'URL', type: 'url', required: true, hint: 'Macros such as {clickid} and {sub1} are filled in.' },
        { name: 'payout.type', label: 'Payout type', options: ['cpa', 'cpl', 'cpi', 'cps'], required: true },
        { name: 'payout.amount', label: 'Payout amount', money: true, required: true },
        { name: 'payout.currency', label: 'Payout currency', initial: currency, required: true, size: 3 },
      ],
      columns: [
        ['Name', (e) => e.name],
        ['URL', (e) => h('code', {}, e.url)],
        ['Payout', (e) => `${e.payout?.type?.toUpperCase()} ${formatMoney(e.payout?.amount, e.payout?.currency)}`],
      ],
    },
    'traffic-sources': {
      title: 'Traffic sources',
      singular: 'traffic source',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'postback_url', label: 'Postback URL', type: 'url', hint: 'Called when a conversion happens; e.g. https://src.example/pb?click={external_id}&payout={payout}', optional: true },
      ],
      columns: [
        ['Name', (e) => e.name],
        ['Postback URL', (e) => (e.postback_url ? h('code', {}, e.postback_url) : '—')],
      ],
    },
    landers: {
      title: 'Landers',
      singular: 'lander',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'url', label: 'URL', type: 'url', required: true, hint: 'Link onwards with {offer_url}.' },
      ],
      columns: [
        ['Name', (e) => e.name],
        ['URL', (e) => h('code', {}, e.url)],
      ],
    },
    creatives: {
      title: 'Creatives',
      singular: 'creative',
      fields: [
        { name: 'campaign_id', label: 'Campaign', ref: 'campaigns', required: true, hint: 'Its clicks and impressions name it with creative_id= (or crid=).' },
        { name: 'name', label: 'Name', required: true },
        { name: 'url', label: 'Asset URL', type: 'url', hint: 'The ad itself, for people.', optional: true },
        { name: 'status', label: 'Status', options: ['active', 'paused'] },
        { name: 'frequency_cap.max', label: 'Frequency cap', hint: 'At most this many per visitor; empty: no cap.', optional: true },
        { name: 'frequency_cap.count', label: 'Cap counts', options: ['clicks', 'impressions'] },
        { name: 'frequency_cap.per', label: 'Cap window', options: ['day', 'hour', 'life'] },
      ],
      // The API takes the cap whole: {max, per, count} as numbers and names, or null.
      toBody(body) {
        const cap = body.frequency_cap;
        body.frequency_cap = cap.max === '' ? null : { ...cap, max: /^\d+$/.test(cap.max) ? Number(cap.max) : cap.max };
        return body;
      },
      columns: [
        ['Name', (e) => e.name],
        ['Status', (e) => h('span', { class: `badge ${e.status}` }, e.status)],
        ['Campaign', (e, refs) => refName(refs, 'campaigns', e.campaign_id)],
        ['Frequency cap', (e) => (e.frequency_cap ? `${e.frequency_cap.max} ${e.frequency_cap.count || 'clicks'} ${e.frequency_cap.per === 'life' ? 'ever' : 'per ' + e.frequency_cap.per}` : 'None')],
      ],
    },
    partners: {
      title: 'Partners',
      singular: 'partner',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'payout.model', label: 'Payout model', options: ['none', 'fixed', 'percent'], hint: 'What the partner earns per approved conversion, unless a payout rule matches.' },
        { name: 'payout.amount', label: 'Payout amount', money: true, hint: 'fixed: the amount per conversion.', optional: true, empty: '0' },
        { name: 'payout.currency', label: 'Payout currency', initial: currency, size: 3 },
        { name: 'payout.percent', label: 'Payout %', hint: 'percent: the share of each conversion’s revenue.', optional: true, empty: '0' },
        { name: 'postback_url', label: 'Postback URL', type: 'url', hint: 'Called for each conversion of its campaigns and each status change; {payout} is its payout.', optional: true },
      ],
      columns: [
        ['Name', (e) => e.name],
        ['Payout', (e) => partnerPayout(e.payout)],
        ['Postback URL', (e) => (e.postback_url ? h('code', {}, e.postback_url) : '—')],
      ],
    },
  };
}

function partnerPayout(p) {
  if (!p || p.model === 'none') return 'None';
  if (p.model === 'percent') return `${p.percent}% of revenue`;
  return `${formatMoney(p.amount, p.currency)} per conversion`;
}

function refName(refs, kind, id) {
  if (id === null || id === undefined) return '';
  const e = (refs[kind] || []).find((x) => x.id === id);
  return e ? e.name : `#${id}`;
}

function getPath(obj, dotted) {
  return dotted.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}
function setPath(obj, dotted, value) {
  const keys = dotted.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

export function manageView(root, ctx, kind) {
  const spec = kinds(ctx)[kind];
  const refs = {};
  let rows = [];
  const list = h('div', { class: 'table-wrap', role: 'region', 'aria-label': spec.title, tabindex: '0' });
  const newButton = h('button', { type: 'button', class: 'btn primary', id: 'new-entity', onclick: () => openForm(null) }, `New ${spec.singular}`);
  const dialog = h('dialog', { class: 'form-dialog', 'aria-labelledby': 'form-title' });
  fill(root, h('section', { class: 'manage', 'data-kind': kind }, h('div', { class: 'manage-head' }, h('h1', {}, spec.title), newButton), list, dialog));

  async function loadRefs() {
    const needed = [...new Set(spec.fields.filter((f) => f.ref).map((f) => f.ref))];
    await Promise.all(
      needed.map(async (k) => {
        refs[k] = await listAll('/' + k).catch(() => []);
      }),
    );
  }

  async function load() {
    try {
      [rows] = await Promise.all([listAll('/' + kind), loadRefs()]);
      renderList();
    } catch (e) {
      fill(list, h('p', { class: 'error', role: 'alert' }, `Could not load ${spec.title.toLowerCase()}: ${e.message}`));
    }
  }

  function renderList() {
    if (rows.length === 0) {
      fill(list, h('p', { class: 'empty' }, `No ${spec.title.toLowerCase()} yet.`));
      return;
    }
    const body = h('tbody');
    for (const e of rows) {
      const actions = [h('button', { type: 'button', class: 'btn small', onclick: () => openForm(e), 'aria-label': `Edit ${e.name}` }, 'Edit')];
      let linksRow = null;
      if (kind === 'campaigns') {
        const paused = e.status === 'paused';
        actions.push(
          h('button', { type: 'button', class: 'btn small', onclick: () => patch(e, { status: paused ? 'active' : 'paused' }), 'aria-label': `${paused ? 'Resume' : 'Pause'} ${e.name}` }, paused ? 'Resume' : 'Pause'),
        );
        linksRow = h('tr', { class: 'links-row', hidden: true, id: `links-${e.id}` }, h('td', { colspan: spec.columns.length + 2 }, campaignLinks(e)));
        actions.push(
          h(
            'button',
            {
              type: 'button',
              class: 'btn small',
              'aria-expanded': 'false',
              'aria-controls': `links-${e.id}`,
              onclick: (ev) => {
                linksRow.hidden = !linksRow.hidden;
                ev.currentTarget.setAttribute('aria-expanded', String(!linksRow.hidden));
              },
            },
            'Links',
          ),
        );
      }
      actions.push(h('button', { type: 'button', class: 'btn small danger', onclick: () => remove(e), 'aria-label': `Delete ${e.name}` }, 'Delete'));
      body.append(
        h('tr', { 'data-id': e.id }, h('td', { class: 'num' }, e.id), spec.columns.map(([, f]) => h('td', {}, f(e, refs))), h('td', {}, h('div', { class: 'actions' }, actions))),
      );
      if (linksRow) body.append(linksRow);
    }
    fill(
      list,
      h('table', { class: 'data entities' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col', class: 'num' }, 'ID'), spec.columns.map(([t]) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))), body),
    );
  }

  function campaignLinks(e) {
    const urls = [
      ['tracking_url', 'Tracking URL', 'Give this click URL to the traffic source.'],
      ['impression_url', 'Impression URL', 'An impression pixel (1×1 GIF).'],
      ['postback_url', 'Postback URL', 'Give this server-to-server template to the advertiser.'],
    ];
    return h(
      'div',
      { class: 'links' },
      urls.map(([key, label, hint]) => {
        const id = `${key}-${e.id}`;
        return h(
          'div',
          { class: 'link-field' },
          h('label', { for: id }, label),
          h('div', { class: 'copy-row' }, h('input', { id, type: 'text', readonly: true, value: e[key] || '', 'data-url': key, onfocus: (ev) => ev.target.select() }),
            h('button', { type: 'button', class: 'btn small', 'aria-label': `Copy ${label}`, onclick: async () => announce((await copyText(e[key] || '')) ? `${label} copied.` : 'Copy failed: select the text and copy it.') }, 'Copy')),
          h('p', { class: 'hint' }, hint),
        );
      }),
    );
  }

  async function patch(e, body) {
    try {
      await request('PATCH', `/${kind}/${e.id}`, { body });
      announce(`${e.name}: ${body.status === 'paused' ? 'paused' : 'updated'}.`);
      await load();
    } catch (err) {
      announce(`${e.name}: ${err.message}`, 'error');
    }
  }

  async function remove(e) {
    if (!window.confirm(`Delete ${spec.singular} "${e.name}"? Its past events stay in reports.`)) return;
    try {
      await request('DELETE', `/${kind}/${e.id}`);
      announce(`${e.name} deleted.`);
      await load();
    } catch (err) {
      announce(`Could not delete ${e.name}: ${err.message}`, 'error');
    }
  }

  // --- the create/edit form ---------------------------------------------------
  function control(f, entity) {
    const id = `f-${f.name.replace(/\./g, '-')}`;
    let value = entity ? getPath(entity, f.name) : f.initial;
    if (value === undefined || value === null) value = '';
    let input;
    if (f.ref) {
      input = h(
        'select',
        { id, name: f.name, required: f.required },
        h('option', { value: '' }, f.required ? `Choose a ${f.label.toLowerCase()}` : 'None'),
        (refs[f.ref] || []).map((r) => h('option', { value: String(r.id), selected: String(r.id) === String(value) }, r.name)),
      );
    } else if (f.options) {
      input = h('select', { id, name: f.name }, f.options.map((o) => h('option', { value: o, selected: o === (value || f.options[0]) }, o)));
    } else {
      input = h('input', {
        id,
        name: f.name,
        type: f.type === 'url' ? 'url' : 'text',
        value: String(value),
        inputmode: f.money ? 'decimal' : null,
        placeholder: f.money ? '0.00' : null,
        maxlength: f.size || null,
        autocomplete: 'off',
        spellcheck: 'false',
      });
    }
    const errId = `${id}-error`;
    const hintId = f.hint ? `${id}-hint` : null;
    input.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
    return h(
      'div',
      { class: 'field', 'data-field': f.name },
      h('label', { for: id }, f.label, f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
      input,
      f.hint ? h('p', { class: 'hint', id: hintId }, f.hint) : null,
      h('p', { class: 'field-error', id: errId }),
    );
  }

  // The body to send: nested objects from the dotted names; ids as
  // integers; an empty optional reference is null, an empty token left out.
  function bodyOf(form, entity) {
    const body = {};
    for (const f of spec.fields) {
      let v = form.elements[f.name].value.trim();
      if (f.ref) v = v === '' ? null : Number(v);
      if (f.name === 'token' && (v === '' || (entity && v === entity.token))) continue;
      if (f.name === 'status' && !entity && v === 'active') continue;
      if (v === '' && f.empty !== undefined) v = f.empty;
      setPath(body, f.name, v);
    }
    return spec.toBody ? spec.toBody(body) : body;
  }

  function showError(form, err) {
    const formError = form.querySelector('.form-error');
    let target = null;
    if (err.field) {
      target =
        form.querySelector(`.field[data-field="${CSS.escape(err.field)}"]`) ||
        [...form.querySelectorAll('.field')].find((el) => el.dataset.field.startsWith(err.field + '.'));
    }
    if (target) {
      const input = target.querySelector('input, select');
      target.querySelector('.field-error').textContent = err.message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      formError.textContent = '';
    } else {
      formError.textContent = err.message;
    }
  }

  function openForm(entity) {
    const title = entity ? `Edit ${spec.singular} “${entity.name}”` : `New ${spec.singular}`;
    const formError = h('p', { class: 'form-error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'btn primary' }, entity ? 'Save' : 'Create');
    const form = h(
      'form',
      { method: 'dialog', novalidate: true, class: 'entity-form' },
      h('h2', { id: 'form-title' }, title),
      spec.fields.map((f) => control(f, entity)),
      formError,
      h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'btn', onclick: () => dialog.close() }, 'Cancel'), submit),
    );
    form.addEventListener('input', (ev) => {
      const field = ev.target.closest('.field');
      if (field) {
        field.querySelector('.field-error').textContent = '';
        ev.target.removeAttribute('aria-invalid');
      }
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      formError.textContent = '';
      submit.disabled = true;
      try {
        const body = bodyOf(form, entity);
        const saved = entity ? await request('PATCH', `/${kind}/${entity.id}`, { body }) : await request('POST', `/${kind}`, { body });
        dialog.close();
        announce(`${spec.singular[0].toUpperCase() + spec.singular.slice(1)} “${saved.name}” ${entity ? 'saved' : 'created'}.`);
        await load();
      } catch (err) {
        showError(form, err);
      } finally {
        submit.disabled = false;
      }
    });
    fill(dialog, form);
    dialog.showModal();
    form.querySelector('input, select').focus();
  }

  load();
  return { destroy() {} };
}
