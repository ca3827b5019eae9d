/* Small shared pieces: DOM helpers, number formatting, the API client and the traffic lights.
 * Text from the server is always inserted with textContent (or esc() where HTML is built). */

export const $ = (id) => document.getElementById(id);

/** Escape text for use inside HTML. */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

/** A new element with an optional class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** A table's header row: each column a label, or [label, className]; scoped for screen readers. */
export function tableHead(columns) {
  const row = el('tr');
  for (const column of columns) {
    const [label, className] = Array.isArray(column) ? column : [column];
    const th = el('th', className, label);
    th.scope = 'col';
    row.append(th);
  }
  const thead = el('thead');
  thead.append(row);
  return thead;
}

export function show(node, visible) {
  node.hidden = !visible;
}

export function time(item, field = 'created_at') {
  const t = Date.parse(item && item[field]);
  return Number.isNaN(t) ? -Infinity : t;
}

/** The most recently created item of a list (the first one wins a tie). */
export function newest(items) {
  return (items || []).reduce((best, item) => (best === null || time(item) > time(best) ? item : best), null);
}

export function formatNumber(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  const abs = Math.abs(n);
  if (abs >= 1000) return n.toLocaleString(undefined, { maximumFractionDigits: 0 });
  if (abs >= 1) return n.toLocaleString(undefined, { maximumFractionDigits: 2 });
  if (abs === 0) return '0';
  return n.toLocaleString(undefined, { maximumSignificantDigits: 3 });
}

export function percent(fraction) {
  return Math.round(Math.max(0, Math.min(1, Number(fraction) || 0)) * 100);
}

/** "45 seconds", "3 minutes", "2 hours" – for time left and durations. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.round(m / 6) / 10;
  return `${formatNumber(h)} hour${h === 1 ? '' : 's'}`;
}

/** "just now", "5 minutes ago", or a date for older things. */
export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = (Date.now() - t) / 1000;
  if (s < 45) return 'just now';
  if (s < 3600 * 20) return `${duration(s)} ago`;
  return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function bytes(n) {
  const units = ['bytes', 'KB', 'MB', 'GB'];
  let value = Number(n) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${formatNumber(value)} ${units[unit]}`;
}

// ------------------------------------------------------------------ API

export const NETWORK_MESSAGE = "We couldn't reach the server. Check that it is running, then try again.";

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function fallbackMessage(status) {
  if (status === 413) return 'That file is too large. Please use a smaller file.';
  if (status === 404) return 'We could not find that. It may have been deleted.';
  if (status >= 500) return 'Something went wrong on the server. Please try again in a moment.';
  return 'That did not work. Please check your input and try again.';
}

async function errorFrom(response) {
  let detail = '';
  let code = 'http_' + response.status;
  try {
    const body = await response.json();
    if (body && typeof body.detail === 'string') detail = body.detail;
    if (body && typeof body.code === 'string') code = body.code;
  } catch (_) { /* not JSON: use the fallback sentence */ }
  return new ApiError(detail || fallbackMessage(response.status), code, response.status);
}

/** The one way the page talks to the server. JSON in, JSON (or a Blob for files) out. */
export async function api(method, path, body) {
  const options = { method, headers: { Accept: 'application/json' } };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (_) {
    throw new ApiError(NETWORK_MESSAGE, 'network', 0);
  }
  window.dispatchEvent(new Event('mlops:server-answered'));   // live.js: the server is back
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.blob();
}

/** The `items` of a list endpoint; an empty list when it fails for any reason but the network. */
export async function listItems(path) {
  try {
    const body = await api('GET', path);
    return (body && body.items) || [];
  } catch (err) {
    if (err.code === 'network') throw err;
    return [];
  }
}

/** Load a script once (plotly.js is large, so only the pages with charts ask for it). */
const scripts = new Map();
export function loadScript(src) {
  if (!scripts.has(src)) {
    scripts.set(src, new Promise((resolve, reject) => {
      const tag = el('script');
      tag.src = src;
      tag.onload = resolve;
      tag.onerror = () => { scripts.delete(src); reject(new ApiError('The charts could not be loaded.', 'script', 0)); };
      document.head.append(tag);
    }));
  }
  return scripts.get(src);
}

// ------------------------------------------------------------------ lights and words

export const LIGHTS = {
  dataset: {
    green: ['Looks good', 'Your data is ready for training.'],
    yellow: ['Usable, with warnings', 'Training will work, but please read the notes below.'],
    red: ['Problems found', 'Results may be poor or training may fail. See the notes below.'],
  },
  model: {
    green: ['Good', 'Reliable enough to use.'],
    yellow: ['Fair', 'Useful, but double-check important decisions.'],
    red: ['Weak', 'Not reliable yet. More or cleaner data would help.'],
  },
  health: {
    green: ['Working', 'Running normally.'],
    yellow: ['Struggling', 'Running, but something is slow or missing.'],
    red: ['Not working', 'Not answering right now.'],
  },
};
export const LIGHT_ICONS = { green: '✓', yellow: '!', red: '✕' };

/** Fill `node` with a light: an icon, a word and its meaning, so colour is never the only signal. */
export function renderLight(node, light, kind, meaning) {
  const words = (LIGHTS[kind] || LIGHTS.model)[light];
  node.className = node.className.replace(/\blight-(green|yellow|red)\b/g, '').trim();
  node.classList.add('light');
  node.replaceChildren();
  delete node.dataset.light;
  if (!words) return;
  node.classList.add('light-' + light);
  node.dataset.light = light;
  const dot = el('span', 'light-dot', LIGHT_ICONS[light]);
  dot.setAttribute('aria-hidden', 'true');
  node.append(dot, el('span', 'light-title', words[0]), el('span', 'light-meaning', meaning || words[1]));
}

/** A service's health ("ok", "degraded", "down", "unknown") as a light colour. */
export function healthLight(state) {
  return { ok: 'green', degraded: 'yellow', down: 'red' }[state] || null;
}

/** A machine reading (percent used) as a light: under 75 green, under 90 yellow, else red. */
export function usageLight(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  return value < 75 ? 'green' : value < 90 ? 'yellow' : 'red';
}

export const JOB_WORDS = {
  queued: 'Waiting to start',
  running: 'Training',
  succeeded: 'Finished',
  failed: 'Did not finish',
  cancelled: 'Stopped',
};

/** The plain name of a model kind (services/common/algorithms.py). */
export const ALGORITHM_WORDS = {
  auto: 'Automatic (recommended)',
  gradient_boosting: 'Boosted decision trees',
  random_forest: 'Random forest (many decision trees)',
  extra_trees: 'Extra-random trees',
  linear: 'Straight-line formula',
  nearest_neighbours: 'Most similar past examples',
};
