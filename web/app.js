// app.js: the dashboard's entry point. Login with an API key (kept in
// sessionStorage), the workspace's settings (time zone, currency), and a
// hash router between the report and the management views.

import { auth, get, ApiError } from './api.js';
import { h, fill, announce } from './dom.js';
import { reportView } from './report.js';
import { manageView } from './manage.js';
import { attributionView } from './attribution.js';
import { cohortsView } from './cohorts.js';
import { postbacksView } from './postbacks.js';

const VIEWS = [
  { hash: '#/report', label: 'Report' },
  { hash: '#/attribution', label: 'Attribution', view: attributionView },
  { hash: '#/cohorts', label: 'Lifetime value', view: cohortsView },
  { hash: '#/campaigns', label: 'Campaigns', kind: 'campaigns' },
  { hash: '#/offers', label: 'Offers', kind: 'offers' },
  { hash: '#/traffic-sources', label: 'Traffic sources', kind: 'traffic-sources' },
  { hash: '#/landers', label: 'Landers', kind: 'landers' },
  { hash: '#/creatives', label: 'Creatives', kind: 'creatives' },
  { hash: '#/partners', label: 'Partners', kind: 'partners' },
  { hash: '#/postbacks', label: 'Postbacks', view: postbacksView },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const workspace = document.getElementById('workspace');
const logoutButton = document.getElementById('logout');
let current = null;
let ctx = null;

// The view a hash names: its part before `?` (the report keeps its own
// state after it, `#/report?by=…`).
function viewOf(hash) {
  return VIEWS.find((v) => v.hash === hash.split('?')[0]);
}

function showLogin(message) {
  if (current) current.destroy();
  current = null;
  ctx = null;
  nav.hidden = true;
  logoutButton.hidden = true;
  workspace.textContent = '';
  const input = h('input', { id: 'api-key', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'login-help login-error', placeholder: 'pm_…' });
  const error = h('p', { class: 'field-error', id: 'login-error', role: 'alert' }, message || '');
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Log in');
  const form = h(
    'form',
    { class: 'login panel', id: 'login-form' },
    h('h1', {}, 'Log in to perfmark'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { class: 'hint', id: 'login-help' }, 'An admin or viewer key: printed by `perfmark demo` or `perfmark keys create`. It is kept for this tab only.'),
    error,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    error.textContent = '';
    if (!key) {
      error.textContent = 'Enter an API key.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const settings = await get('/settings', undefined, { key });
      auth.set(key);
      start(settings);
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? 'This key is unknown or revoked.' : `Could not log in: ${e.message}`;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, form);
  input.focus();
}

function start(settings) {
  ctx = { settings };
  workspace.textContent = `Workspace · ${settings.timezone || 'UTC'} · ${settings.currency || 'USD'}`;
  nav.hidden = false;
  logoutButton.hidden = false;
  if (!viewOf(location.hash)) history.replaceState(null, '', '#/report');
  route();
}

function route() {
  if (!ctx) return;
  const view = viewOf(location.hash) || VIEWS[0];
  fill(
    nav,
    h('ul', {}, VIEWS.map((v) => h('li', {}, h('a', { href: v.hash, 'aria-current': v === view ? 'page' : null }, v.label)))),
  );
  if (current) current.destroy();
  announce('');
  current = view.view ? view.view(main, ctx) : view.kind ? manageView(main, ctx, view.kind) : reportView(main, ctx);
  document.title = `${view.label} · perfmark`;
}

window.addEventListener('hashchange', route);
window.addEventListener('perfmark:unauthorized', () => {
  auth.clear();
  showLogin('Your key is no longer accepted: log in again.');
});
logoutButton.addEventListener('click', () => {
  auth.clear();
  showLogin();
});

(async () => {
  if (!auth.key) return showLogin();
  try {
    start(await get('/settings'));
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) showLogin(`Could not reach the server: ${e.message}`);
  }
})();
