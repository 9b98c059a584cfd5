// format.js: how the dashboard shows the report API's values. Pure
// functions, no DOM: the browser test imports this same file to check that
// the page shows exactly the API's numbers.
//
// The API computes every metric (docs/metrics.md); this file only formats:
// money arrives as a decimal string and is rounded as a string (no float
// ever touches it), ratios arrive as plain numbers (0.05 = 5%), counts as
// integers, and null (a zero denominator) is shown as a dash.

export const DASH = '—';

// Every metric key of the report API, with its label and how it is shown.
// `better`: which way a rise is good news (for the colour of the change).
export const METRICS = {
  impressions: { label: 'Impressions', kind: 'count', better: 'up' },
  clicks: { label: 'Clicks', kind: 'count', better: 'up' },
  unique_clicks: { label: 'Unique clicks', kind: 'count', better: 'up' },
  ctr: { label: 'CTR', kind: 'ratio', better: 'up' },
  conversions: { label: 'Conversions', kind: 'count', better: 'up' },
  cvr: { label: 'CVR', kind: 'ratio', better: 'up' },
  cost: { label: 'Cost', kind: 'money', better: 'down' },
  revenue: { label: 'Revenue', kind: 'money', better: 'up' },
  payout: { label: 'Payout', kind: 'money', better: 'down' },
  profit: { label: 'Profit', kind: 'money', better: 'up' },
  cpm: { label: 'CPM', kind: 'unit', better: 'down' },
  cpc: { label: 'CPC', kind: 'unit', better: 'down' },
  cpa: { label: 'CPA', kind: 'unit', better: 'down' },
  epc: { label: 'EPC', kind: 'unit', better: 'up' },
  roi: { label: 'ROI', kind: 'ratio', better: 'up' },
  roas: { label: 'ROAS', kind: 'ratio', better: 'up' },
  // Not in the API's default set: the report table asks for them too and
  // shows them when chosen in its column menu (`extra`).
  cpl: { label: 'CPL', kind: 'unit', better: 'down', extra: true },
  pending_conversions: { label: 'Pending conv.', kind: 'count', better: 'up', extra: true },
  pending_revenue: { label: 'Pending revenue', kind: 'money', better: 'up', extra: true },
  rejected_conversions: { label: 'Rejected conv.', kind: 'count', better: 'down', extra: true },
  chargebacks: { label: 'Chargebacks', kind: 'count', better: 'down', extra: true },
  bot_clicks: { label: 'Bot clicks', kind: 'count', better: 'down', extra: true },
  bot_impressions: { label: 'Bot impressions', kind: 'count', better: 'down', extra: true },
  lander_visits: { label: 'Lander visits', kind: 'count', better: 'up', extra: true },
  lander_clicks: { label: 'Lander clicks', kind: 'count', better: 'up', extra: true },
  lander_ctr: { label: 'Lander CTR', kind: 'ratio', better: 'up', extra: true },
};

// Group digits of a string of decimal digits by thousands: "1234567" → "1,234,567".
function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// Round a decimal string to `places` fraction digits, half away from zero,
// on the digits themselves. Returns { neg, int, frac } or null when the
// input is not a plain decimal.
export function roundDecimal(value, places) {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(String(value).trim());
  if (!m) return null;
  let [, sign, int, frac = ''] = m;
  frac = frac.padEnd(places + 1, '0');
  const roundUp = frac[places] >= '5';
  let digits = (int + frac.slice(0, places)).split('').map(Number);
  if (roundUp) {
    let i = digits.length - 1;
    while (i >= 0 && digits[i] === 9) digits[i--] = 0;
    if (i < 0) digits.unshift(1);
    else digits[i] += 1;
  }
  const all = digits.join('');
  int = all.slice(0, all.length - places).replace(/^0+(?=\d)/, '') || '0';
  frac = places ? all.slice(all.length - places) : '';
  const zero = /^0*$/.test(int + frac);
  return { neg: sign === '-' && !zero, int, frac };
}

// The currency's symbol and whether it goes before the number, from the
// platform's own currency data ("USD" → "$" before).
const symbols = new Map();
function currencySymbol(currency) {
  if (!currency) return { sym: '', before: true };
  if (!symbols.has(currency)) {
    let sym = currency + ' ';
    let before = true;
    try {
      const parts = new Intl.NumberFormat('en-US', { style: 'currency', currency }).formatToParts(1);
      const i = parts.findIndex((p) => p.type === 'currency');
      const n = parts.findIndex((p) => p.type === 'integer');
      sym = parts[i].value;
      before = i < n;
      if (/^[A-Z]{3}$/.test(sym)) sym = before ? sym + ' ' : ' ' + sym;
    } catch {
      /* unknown code: show it as is */
    }
    symbols.set(currency, { sym, before });
  }
  return symbols.get(currency);
}

// Money: a decimal string (or integer) from the API → "$1,234.50".
// `unit` metrics (per click, per conversion) keep up to 4 fraction digits,
// because a CPC of 0.0312 shown as 0.03 would lie.
export function formatMoney(value, currency, unit = false) {
  if (value === null || value === undefined || value === '') return DASH;
  const r = roundDecimal(value, unit ? 4 : 2);
  if (!r) return String(value);
  let frac = r.frac;
  if (unit) frac = frac.replace(/0{1,2}$/, '');
  const { sym, before } = currencySymbol(currency);
  const num = group(r.int) + (frac ? '.' + frac : '');
  return (r.neg ? '-' : '') + (before ? sym + num : num + sym);
}

// Counts: integers with thousands separators.
export function formatCount(value) {
  if (value === null || value === undefined) return DASH;
  const r = roundDecimal(value, 0);
  if (!r) return String(value);
  return (r.neg ? '-' : '') + group(r.int);
}

// A plain number as a percentage rounded to `places` decimals: scaled by
// 100 on its decimal digits (no float multiplication), then rounded.
function percent(value, places) {
  const s = Number(value).toFixed(12);
  const m = /^(-?)(\d+)\.(\d+)$/.exec(s);
  if (!m) return null;
  return roundDecimal(`${m[1]}${m[2]}${m[3].slice(0, 2)}.${m[3].slice(2)}`, places);
}

// Ratios: plain numbers → percentages with 2 decimals (0.05 → "5.00%").
export function formatRatio(value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return DASH;
  const r = percent(value, 2);
  if (!r) return String(value);
  return (r.neg ? '-' : '') + group(r.int) + '.' + r.frac + '%';
}

// Any metric by its key.
export function formatMetric(key, value, currency) {
  const kind = METRICS[key] ? METRICS[key].kind : 'count';
  if (kind === 'money') return formatMoney(value, currency);
  if (kind === 'unit') return formatMoney(value, currency, true);
  if (kind === 'ratio') return formatRatio(value);
  return formatCount(value);
}

// The change of one metric against the previous period, for the KPI
// strip, from the API's own `change` value ((current - previous) /
// |previous|, null when previous is 0 or null): { text: "+12.5%", dir:
// "up"|"down"|"flat", good: true|false|null }, or null when there is nothing
// to compare with. "new" when the previous period had none and this one has.
export function formatChange(key, change, current, previous) {
  if (change === null || change === undefined || !Number.isFinite(Number(change))) {
    if (previous === undefined || previous === null) return null;
    const had = Number(previous) !== 0;
    const has = current !== null && current !== undefined && Number(current) !== 0;
    return !had && has ? { text: 'new', dir: 'up', good: null } : null;
  }
  const r = percent(change, 1);
  if (!r) return null;
  const text = r.neg ? `-${group(r.int)}.${r.frac}%` : `+${group(r.int)}.${r.frac}%`;
  if (/^[+-]0\.0%$/.test(text)) return { text: '0.0%', dir: 'flat', good: null };
  const dir = r.neg ? 'down' : 'up';
  const better = METRICS[key] ? METRICS[key].better : 'up';
  return { text, dir, good: dir === better };
}
