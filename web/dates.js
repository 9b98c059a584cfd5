// dates.js: the date-range presets, in the workspace's time zone (the
// report API reads `from`/`to` as whole days there, `to` inclusive).

// Today's date (YYYY-MM-DD) in time zone `tz`.
export function today(tz, now = new Date()) {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone: tz || 'UTC', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
  } catch {
    return now.toISOString().slice(0, 10);
  }
}

// `day` (YYYY-MM-DD) plus `n` days.
export function addDays(day, n) {
  const d = new Date(day + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// Days from `from` to `to`, both included.
export function daysBetween(from, to) {
  return Math.round((Date.parse(to + 'T00:00:00Z') - Date.parse(from + 'T00:00:00Z')) / 86400000) + 1;
}

export const PRESETS = [
  { id: 'today', label: 'Today' },
  { id: 'yesterday', label: 'Yesterday' },
  { id: '7d', label: 'Last 7 days' },
  { id: '30d', label: 'Last 30 days' },
  { id: 'custom', label: 'Custom' },
];

// The { from, to } of a preset ("last 7 days" includes today).
export function presetRange(id, tz, now) {
  const t = today(tz, now);
  switch (id) {
    case 'today':
      return { from: t, to: t };
    case 'yesterday':
      return { from: addDays(t, -1), to: addDays(t, -1) };
    case '7d':
      return { from: addDays(t, -6), to: t };
    case '30d':
    default:
      return { from: addDays(t, -29), to: t };
  }
}

// The period just before [from, to], of the same length (what the API's
// compare=previous compares with), for labels.
export function previousRange(from, to) {
  const n = daysBetween(from, to);
  return { from: addDays(from, -n), to: addDays(from, -1) };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
export function shortDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  return `${MONTHS[m - 1]} ${d}, ${y}`;
}
export function rangeLabel(from, to) {
  return from === to ? shortDay(from) : `${shortDay(from)} – ${shortDay(to)}`;
}
