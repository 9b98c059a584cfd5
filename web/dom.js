// dom.js: a tiny element builder. Text always goes in as text nodes (never
// innerHTML), so names and sub-ids from traffic cannot inject markup.

// h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', child…)
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replace all children of `el`.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Announce a message to screen readers and show it in the status line.
// Errors stay until the next message; other messages fade after a while.
// kind 'quiet' is for screen readers only (routine news such as "report
// loaded"), in a visually hidden live region.
let announceTimer = null;
export function announce(text, kind = 'info') {
  if (kind === 'quiet') {
    const q = document.getElementById('sr-status');
    if (q) q.textContent = text;
    return;
  }
  const s = document.getElementById('status');
  if (!s) return;
  s.textContent = text;
  s.dataset.kind = kind;
  clearTimeout(announceTimer);
  if (kind !== 'error' && text) announceTimer = setTimeout(() => { s.textContent = ''; }, 4000);
}

// Copy text to the clipboard; falls back to a selected textarea where the
// Clipboard API is not available (plain http on a non-local host).
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const t = h('textarea', { readonly: true, style: 'position:fixed;opacity:0' }, text);
    document.body.append(t);
    t.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    t.remove();
    return ok;
  }
}
