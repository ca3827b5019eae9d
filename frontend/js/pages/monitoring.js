/* Monitoring: how busy this computer is (live charts with plotly.js), how long the training queue
 * is, each service's health light and how many copies of it run, and how many pages are open.
 * Seeded from GET /api/system, extended from 'metrics' messages; health from GET /health and
 * 'health' messages; the counts are re-read every few seconds while the page is visible. */

import { el, api, loadScript, formatNumber, renderLight, healthLight, usageLight } from '../core.js';
import * as live from '../live.js';

const MAX_POINTS = 720;          // an hour of readings at one every 5 s
const CALM_REDRAW_MS = 60000;    // with reduced motion the charts move once a minute, not every 5 s
const COUNTS_EVERY_MS = 10000;
const USAGE = [
  { field: 'cpu_percent', name: 'Processor', color: '#1d5bbf', dash: 'solid' },
  { field: 'memory_percent', name: 'Memory', color: '#7b3fa0', dash: 'dash' },
  { field: 'disk_percent', name: 'Disk', color: '#8a5a00', dash: 'dot' },
];
const USAGE_WORDS = { green: 'fine', yellow: 'busy', red: 'nearly full' };
const SERVICES = [
  { key: 'database', name: 'Database', does: 'Keeps the list of files, training runs and models.' },
  { key: 'storage', name: 'File storage', does: 'Keeps the uploaded files and the finished models.' },
  { key: 'broker', name: 'Message broker', does: 'Passes messages between the other parts.' },
  { key: 'trainer', name: 'Trainer', does: 'Learns from your data.', counted: true },
  { key: 'predictor', name: 'Predictor', does: 'Answers questions with the switched-on model.', counted: true },
  { key: 'metrics', name: 'Readings', does: 'Measures how busy this computer is.', counted: true },
];
const OVERALL = {
  ok: 'Everything is working.',
  degraded: 'Some parts are struggling or not answering. See the list below.',
  down: 'The server has a serious problem: it cannot reach its database or its files.',
};

const state = {
  samples: [], plotly: null, charts: null, drawn: false, lastDraw: 0, visible: false,
  unsubscribe: [], timer: null, parts: {}, instances: {}, health: null,
};

const reducedMotion = () => window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

// ------------------------------------------------------------------ samples

const when = (sample) => new Date(sample.occurred_at || Date.now());
const queueLength = (sample) => Object.values(sample.queue_depth || {}).reduce((a, b) => a + (Number(b) || 0), 0);

function keep(sample) {
  if (!sample || typeof sample.cpu_percent !== 'number') return false;
  const last = state.samples[state.samples.length - 1];
  if (last && sample.occurred_at && last.occurred_at && Date.parse(sample.occurred_at) <= Date.parse(last.occurred_at)) return false;
  state.samples.push(sample);
  if (state.samples.length > MAX_POINTS) state.samples.splice(0, state.samples.length - MAX_POINTS);
  return true;
}

// ------------------------------------------------------------------ readings in words

function renderNow() {
  const sample = state.samples[state.samples.length - 1];
  const p = state.parts;
  if (!sample) {
    p.usageAlt.textContent = 'No readings yet.';
    p.queueAlt.textContent = 'No readings yet.';
    return;
  }
  const details = {
    cpu_percent: '',
    memory_percent: sample.memory_total_mb ? `${formatNumber(sample.memory_used_mb / 1024)} GB of ${formatNumber(sample.memory_total_mb / 1024)} GB` : '',
    disk_percent: typeof sample.disk_free_gb === 'number' ? `${formatNumber(sample.disk_free_gb)} GB free` : '',
  };
  for (const { field } of USAGE) {
    const tile = p.tiles[field];
    const value = sample[field];
    const light = usageLight(value);
    tile.value.textContent = `${Math.round(value)}%`;
    tile.word.replaceChildren();
    if (light) {
      tile.node.dataset.light = light;
      const icon = el('span', 'light-chip-icon', { green: '✓', yellow: '!', red: '✕' }[light]);
      icon.setAttribute('aria-hidden', 'true');
      tile.word.append(icon, USAGE_WORDS[light]);
      tile.word.className = `light-chip light-${light}`;
    }
    tile.detail.textContent = details[field];
  }
  const waiting = queueLength(sample);
  p.queueValue.textContent = formatNumber(waiting);
  p.queueWord.textContent = waiting === 1 ? 'training run waiting to start' : 'training runs waiting to start';

  const usage = USAGE.map(({ field, name }, i) => `${i ? name.toLowerCase() : name} ${Math.round(sample[field])}% in use`).join(', ');
  const cpu = state.samples.map((s) => s.cpu_percent);
  const span = state.samples.length > 1 ? spanWords(when(state.samples[0]), when(sample)) : '';
  p.usageAlt.textContent = `${usage} now.` + (span
    ? ` Over the last ${span} the processor was between ${Math.round(Math.min(...cpu))}% and ${Math.round(Math.max(...cpu))}% in use.`
    : '');
  const most = Math.max(...state.samples.map(queueLength));
  p.queueAlt.textContent = `${waiting === 0 ? 'No' : formatNumber(waiting)} training run${waiting === 1 ? '' : 's'} waiting now.`
    + (span ? (most ? ` At most ${formatNumber(most)} waiting over the last ${span}.` : ` None waited over the last ${span}.`) : '');
}

function spanWords(from, to) {
  const minutes = Math.max(1, Math.round((to - from) / 60000));
  return minutes === 1 ? 'minute' : `${minutes} minutes`;
}

// ------------------------------------------------------------------ charts

function layout(yTitle, extra) {
  return {
    margin: { l: 56, r: 16, t: 8, b: 48 },
    height: 260,
    font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif', size: 13, color: '#1b2430' },
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: '#ffffff',
    hovermode: 'x unified',
    showlegend: false,
    xaxis: { title: { text: 'time' }, type: 'date', fixedrange: true, gridcolor: '#e3e8ef' },
    yaxis: { title: { text: yTitle }, fixedrange: true, gridcolor: '#e3e8ef', zeroline: false, ...extra },
  };
}

const CONFIG = { displayModeBar: false, responsive: true, displaylogo: false, scrollZoom: false };

function draw() {
  const Plotly = state.plotly;
  if (!Plotly || !state.visible) return;
  const x = state.samples.map(when);
  const usage = USAGE.map(({ field, name, color, dash }) => ({
    type: 'scatter', mode: 'lines', name, x, y: state.samples.map((s) => s[field]),
    line: { color, dash, width: 2 }, hovertemplate: '%{y:.0f}%',
  }));
  const usageLayout = layout('% in use', { range: [0, 100], ticksuffix: '%' });
  usageLayout.showlegend = true;
  usageLayout.legend = { orientation: 'h', x: 0, y: 1.02, yanchor: 'bottom' };
  usageLayout.margin.t = 36;
  const queue = [{
    type: 'scatter', mode: 'lines', name: 'Waiting', x, y: state.samples.map(queueLength),
    line: { color: '#1d5bbf', width: 2, shape: 'hv' }, fill: 'tozeroy', fillcolor: 'rgba(29,91,191,0.12)',
    hovertemplate: '%{y} waiting<extra></extra>',
  }];
  const queueLayout = layout('runs waiting', { rangemode: 'tozero', dtick: 1, tickformat: 'd' });
  Plotly.react(state.charts.usage, usage, usageLayout, CONFIG);
  Plotly.react(state.charts.queue, queue, queueLayout, CONFIG);
  state.drawn = true;
  state.lastDraw = Date.now();
}

function extend(sample) {
  const Plotly = state.plotly;
  if (!Plotly || !state.visible || !state.drawn) return;
  // Nothing is animated, but a chart creeping along every few seconds is motion too.
  if (reducedMotion()) {
    if (Date.now() - state.lastDraw >= CALM_REDRAW_MS) draw();
    return;
  }
  const t = when(sample);
  Plotly.extendTraces(state.charts.usage, { x: USAGE.map(() => [t]), y: USAGE.map(({ field }) => [sample[field]]) }, [0, 1, 2], MAX_POINTS);
  Plotly.extendTraces(state.charts.queue, { x: [[t]], y: [[queueLength(sample)]] }, [0], MAX_POINTS);
}

async function loadCharts() {
  if (state.plotly) return;
  try {
    await loadScript('/vendor/plotly.min.js');
    state.plotly = window.Plotly;
  } catch (_) {
    state.plotly = null;
  }
  const ok = Boolean(state.plotly);
  state.parts.chartsMissing.hidden = ok;
  for (const chart of Object.values(state.charts)) chart.hidden = !ok;
}

// ------------------------------------------------------------------ services

function renderHealth() {
  const health = state.health;
  const p = state.parts;
  if (!health) {
    p.overall.textContent = 'Cannot reach the server to ask how it is. It may be restarting; this page will catch up when it is back.';
    p.overall.dataset.kind = 'error';
  } else {
    p.overall.textContent = OVERALL[health.status] || 'Checking…';
    p.overall.dataset.kind = health.status === 'ok' ? 'success' : 'error';
  }
  for (const service of SERVICES) {
    const row = p.services[service.key];
    const status = health ? (health.components || {})[service.key] : 'unknown';
    const light = healthLight(status);
    row.light.classList.remove('light-unknown');
    if (light) renderLight(row.light, light, 'health', service.does);
    else {
      row.light.className = 'light light-unknown';
      const dot = el('span', 'light-dot', '?');
      dot.setAttribute('aria-hidden', 'true');
      row.light.replaceChildren(dot, el('span', 'light-title', 'Not known yet'), el('span', 'light-meaning', service.does));
    }
    if (service.counted) {
      const n = state.instances[service.key];
      row.count.textContent = typeof n === 'number' ? (n === 0 ? 'None running' : `${n} running`) : '';
    }
  }
}

async function readHealth() {
  try {
    const response = await fetch('/health', { headers: { Accept: 'application/json' } });
    state.health = await response.json();   // 503 still carries the components
  } catch (_) {
    state.health = null;
  }
  renderHealth();
}

async function readCounts(withHistory) {
  try {
    const system = await api('GET', withHistory ? '/api/system' : '/api/system?history=false');
    state.instances = system.instances || {};
    const n = system.websocket_clients;
    state.parts.pages.textContent = typeof n === 'number'
      ? `${n} page${n === 1 ? ' is' : 's are'} open and getting live updates (this one included).`
      : '';
    if (withHistory) {
      state.samples = [];
      for (const sample of system.history || []) keep(sample);
      keep(system.metrics);
    }
    state.parts.problem.hidden = true;
    renderHealth();
    return true;
  } catch (err) {
    state.parts.problem.textContent = err.message;
    state.parts.problem.hidden = false;
    return false;
  }
}

// ------------------------------------------------------------------ live

function onMetrics(sample) {
  if (!keep(sample)) return;
  renderNow();
  extend(sample);
}

function onHealth(health) {
  state.health = health;
  renderHealth();
  readCounts(false);
}

function onStatus({ status }) {
  if (status !== 'reconnecting' && status !== 'offline') return;
  state.health = null;   // what we last heard may no longer be true
  state.instances = {};
  renderHealth();
}

async function refresh() {
  await Promise.all([readCounts(true), readHealth(), loadCharts()]);
  renderNow();
  draw();
}

// ------------------------------------------------------------------ building the page

function tile(field, name) {
  const node = el('li', 'reading-tile');
  const label = el('span', 'reading-tile-name', name);
  const value = el('span', 'reading-tile-value', '–');
  const word = el('span', 'light-chip');
  const detail = el('span', 'reading-tile-detail');
  node.append(label, value, word, detail);
  state.parts.tiles[field] = { node, value, word, detail };
  return node;
}

function figure(title, id, altNode) {
  const fig = el('figure', 'chart-figure');
  const caption = el('figcaption');
  const heading = el('h3', null, title);
  heading.id = `${id}-title`;
  caption.append(heading, altNode);
  altNode.classList.add('visually-hidden');
  altNode.id = `${id}-alt`;
  const chart = el('div', 'chart');
  chart.id = id;
  chart.setAttribute('aria-hidden', 'true');   // the sentence above says the same in words
  fig.append(caption, chart);
  return { fig, chart };
}

function card(title, id) {
  const section = el('section', 'card');
  const heading = el('h2', null, title);
  heading.id = id;
  section.setAttribute('aria-labelledby', id);
  section.append(heading);
  return section;
}

export default {
  mount(body) {
    body.classList.add('monitoring-page');
    const p = state.parts;
    p.tiles = {};
    p.services = {};
    const intro = el('p', 'lead', 'How busy this computer is, and whether every part of Prediction Studio is working. Everything here updates by itself.');
    p.problem = el('p', 'notice');
    p.problem.dataset.kind = 'error';
    p.problem.setAttribute('role', 'alert');
    p.problem.hidden = true;

    const now = card('This computer right now', 'monitoring-now-title');
    const tiles = el('ul', 'reading-tiles');
    tiles.setAttribute('aria-label', 'Current readings');
    tiles.append(...USAGE.map(({ field, name }) => tile(field, name)));
    const queueTile = el('li', 'reading-tile');
    p.queueValue = el('span', 'reading-tile-value', '–');
    p.queueWord = el('span', 'reading-tile-detail', 'training runs waiting to start');
    queueTile.append(el('span', 'reading-tile-name', 'Queue'), p.queueValue, p.queueWord);
    tiles.append(queueTile);
    now.append(tiles);

    const history = card('Over time', 'monitoring-history-title');
    history.append(el('p', 'hint', 'Up to the last hour, one reading every few seconds. Point at a line to see the exact value.'));
    p.usageAlt = el('p');
    p.queueAlt = el('p');
    const usage = figure('Processor, memory and disk (% in use)', 'monitoring-usage-chart', p.usageAlt);
    const queue = figure('Training runs waiting to start', 'monitoring-queue-chart', p.queueAlt);
    state.charts = { usage: usage.chart, queue: queue.chart };
    p.chartsMissing = el('p', 'notice', 'The charts could not be loaded. The numbers on this page still update by themselves.');
    p.chartsMissing.hidden = true;
    history.append(p.chartsMissing, usage.fig, queue.fig);

    const services = card('Services', 'monitoring-services-title');
    p.overall = el('p', 'notice');
    p.overall.setAttribute('role', 'status');
    const list = el('ul', 'service-list');
    for (const service of SERVICES) {
      const item = el('li', 'service');
      const name = el('h3', 'service-name', service.name);
      const light = el('div', 'light');
      const count = el('p', 'service-count');
      item.append(name, light, count);
      list.append(item);
      p.services[service.key] = { light, count };
    }
    p.pages = el('p', 'hint');
    services.append(p.overall, list, p.pages);

    body.append(intro, p.problem, now, history, services);
    renderNow();
    renderHealth();
  },

  show() {
    state.visible = true;
    state.drawn = false;
    if (!state.unsubscribe.length) {
      state.unsubscribe = [
        live.on('metrics', onMetrics),
        live.on('health', onHealth),
        live.on('resumed', refresh),
        live.on('status', onStatus),
      ];
    }
    clearInterval(state.timer);
    state.timer = setInterval(() => { if (!document.hidden) readCounts(false); }, COUNTS_EVERY_MS);
    refresh();
  },

  hide() {
    state.visible = false;
    state.unsubscribe.forEach((off) => off());
    state.unsubscribe = [];
    clearInterval(state.timer);
    state.timer = null;
  },
};
