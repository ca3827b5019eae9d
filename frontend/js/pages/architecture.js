/* Architecture: the parts of Prediction Studio and the messages between them, drawn as an inline
 * SVG. Each box shows its health in words; an arrow lights up briefly when a live message of its
 * kind goes by (not when reduced motion is preferred). A plain list says the same in words. */

import { el, api, healthLight } from '../core.js';
import * as live from '../live.js';
import { deadLetterCard } from './dead_letters.js';

const SVG = 'http://www.w3.org/2000/svg';
const FLASH_MS = 1400;
const COUNTS_EVERY_MS = 10000;
const TICK_MS = 2000;
const STATE_WORDS = {
  green: ['✓', 'Working'], yellow: ['!', 'Struggling'], red: ['✕', 'Not working'], unknown: ['?', 'Not known yet'],
};
const CONNECTION = {
  good: ['green', 'Connected'], slow: ['yellow', 'Slow connection'],
  reconnecting: ['yellow', 'Reconnecting'], offline: ['red', 'Offline'],
};

// Boxes: centre x, y, width, height; `lines` are the parts whose state the box shows.
const BOXES = {
  browser: { x: 75, y: 240, w: 130, h: 100, title: 'Browser', sub: 'this page', lines: ['browser'] },
  gateway: { x: 355, y: 240, w: 230, h: 170, title: 'Gateway', sub: 'web server', lines: ['gateway', 'database', 'storage'] },
  broker: { x: 645, y: 240, w: 170, h: 110, title: 'Message broker', sub: 'RabbitMQ', lines: ['broker'] },
  trainer: { x: 910, y: 75, w: 170, h: 100, title: 'Trainer', sub: 'learns from your data', lines: ['trainer'] },
  predictor: { x: 910, y: 240, w: 170, h: 100, title: 'Predictor', sub: 'answers questions', lines: ['predictor'] },
  metrics: { x: 910, y: 405, w: 170, h: 100, title: 'Readings', sub: 'measures the computer', lines: ['metrics'] },
};
const LINE_WORDS = { gateway: 'Web server', database: 'Database', storage: 'Files' };

// Arrows, drawn by hand for the boxes above: a path (the head at its end) and a label.
const EDGES = {
  ask: { d: 'M144,222 H236', label: ['questions'], x: 190, y: 212 },
  updates: { d: 'M236,258 H144', label: ['live updates'], x: 190, y: 278 },
  requests: { d: 'M474,222 H556', label: ['requests'], x: 515, y: 212 },
  news: { d: 'M556,258 H474', label: ['news'], x: 515, y: 278 },
  train: { d: 'M615,181 V55 H821', label: ['asks for training'], x: 718, y: 47 },
  results: { d: 'M821,95 H675 V181', label: ['progress and results'], x: 745, y: 115 },
  deploy: { d: 'M734,240 H821', label: ['switch', 'model on'], x: 778, y: 214 },
  readings: { d: 'M821,405 H645 V299', label: ['readings'], x: 733, y: 397 },
};
// Which arrows a live message travelled along.
const FLOWS = {
  job: ['train', 'results', 'news', 'updates'],
  metrics: ['readings', 'news', 'updates'],
  model: ['requests', 'deploy', 'updates'],
};
const FLOW_WORDS = {
  job: 'the trainer reported on a training run',
  metrics: 'the readings service measured the computer',
  model: 'a model was switched on for the predictors',
};

const state = {
  svg: null, edges: {}, states: {}, counts: {}, subs: {}, list: null, latest: null, timers: {},
  health: null, gatewayUp: null, connection: live.status().status, instances: {}, setup: null,
  unsubscribe: [], timer: null, latestAt: null, latestKind: null, dead: null,
};

const reducedMotion = () => window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// ------------------------------------------------------------------ drawing

function drawDiagram() {
  const root = svg('svg', { viewBox: '0 0 1000 470', class: 'arch-svg', role: 'img', 'aria-labelledby': 'arch-svg-title arch-svg-desc' });
  root.append(
    svg('title', { id: 'arch-svg-title' }, 'Diagram of the parts of Prediction Studio and the messages between them'),
    svg('desc', { id: 'arch-svg-desc' }, 'The browser talks to the gateway. The gateway, trainer, predictor and readings service talk to each other through the message broker. The list below the diagram says how each part is doing.'),
  );
  const defs = svg('defs');
  for (const [id, cls] of [['arch-arrow', 'arch-head'], ['arch-arrow-lit', 'arch-head arch-head-lit']]) {
    const marker = svg('marker', {
      id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 11, markerHeight: 11,
      markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse',
    });
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }));
    defs.append(marker);
  }
  root.append(defs);

  for (const [key, edge] of Object.entries(EDGES)) {
    const group = svg('g', { class: 'arch-edge', 'data-edge': key });
    const label = svg('text', { x: edge.x, y: edge.y, class: 'arch-label', 'text-anchor': 'middle' });
    edge.label.forEach((line, i) => label.append(svg('tspan', { x: edge.x, dy: i ? 15 : 0 }, line)));
    group.append(svg('path', { d: edge.d, class: 'arch-line', 'marker-end': 'url(#arch-arrow)' }), label);
    root.append(group);
    state.edges[key] = group;
  }

  for (const [key, box] of Object.entries(BOXES)) {
    const group = svg('g', { class: 'arch-box', 'data-box': key });
    const left = box.x - box.w / 2;
    const top = box.y - box.h / 2;
    group.append(svg('rect', { x: left, y: top, width: box.w, height: box.h, rx: 12, class: 'arch-rect' }));
    group.append(svg('text', { x: box.x, y: top + 26, class: 'arch-title', 'text-anchor': 'middle' }, box.title));
    const sub = svg('text', { x: box.x, y: top + 46, class: 'arch-sub', 'text-anchor': 'middle' }, box.sub);
    group.append(sub);
    state.subs[key] = sub;
    box.lines.forEach((part, i) => {
      const y = top + 74 + i * 30;
      const line = svg('g', { class: 'arch-state', 'data-part': part });
      const prefix = LINE_WORDS[part] ? `${LINE_WORDS[part]}: ` : '';
      const dotX = box.lines.length > 1 ? left + 20 : box.x - 52;
      line.append(
        svg('circle', { cx: dotX, cy: y - 5, r: 9, class: 'arch-dot' }),
        svg('text', { x: dotX, y: y - 1, class: 'arch-icon', 'text-anchor': 'middle' }, '?'),
        svg('text', { x: dotX + 16, y, class: 'arch-word' }, prefix + 'Not known yet'),
      );
      group.append(line);
      state.states[part] = line;
    });
    if (['trainer', 'predictor', 'metrics'].includes(key)) {
      const count = svg('text', { x: box.x, y: top + box.h - 10, class: 'arch-count', 'text-anchor': 'middle' }, '');
      group.append(count);
      state.counts[key] = count;
    }
    root.append(group);
  }
  return root;
}

// ------------------------------------------------------------------ state of each part

function partState(part) {
  if (part === 'browser') {
    const [light, word] = CONNECTION[state.connection] || ['yellow', 'Connecting'];
    return { light, word };
  }
  if (part === 'gateway') {
    if (state.gatewayUp === null) return { light: 'unknown', word: STATE_WORDS.unknown[1] };
    return state.gatewayUp ? { light: 'green', word: 'Working' } : { light: 'red', word: 'Not answering' };
  }
  // Without the gateway nobody can tell how the other parts are doing.
  const known = state.gatewayUp !== false && state.health && state.health.components;
  const raw = known ? state.health.components[part] : 'unknown';
  const light = healthLight(raw) || 'unknown';
  return { light, word: STATE_WORDS[light][1] };
}

const PART_NAMES = () => ({
  browser: 'Browser (this page)',
  gateway: 'Gateway (web server)',
  database: `Database${state.setup ? ` (${state.setup.database})` : ''}`,
  storage: 'File storage',
  broker: `Message broker${state.setup ? ` (${brokerName()})` : ''}`,
  trainer: 'Trainer',
  predictor: 'Predictor',
  metrics: 'Readings service',
});

function brokerName() {
  return state.setup && state.setup.broker === 'RabbitMQ' ? 'RabbitMQ' : 'built in, one process';
}

function countWords(key) {
  const n = state.instances[key];
  if (typeof n !== 'number') return '';
  return n === 0 ? 'none running' : `${n} running`;
}

function render() {
  const names = PART_NAMES();
  const items = [];
  for (const [part, line] of Object.entries(state.states)) {
    const { light, word } = partState(part);
    line.dataset.light = light;
    const [icon] = STATE_WORDS[light] || STATE_WORDS.unknown;
    line.querySelector('.arch-icon').textContent = icon;
    const prefix = LINE_WORDS[part] ? `${LINE_WORDS[part]}: ` : '';
    line.querySelector('.arch-word').textContent = prefix + word;
    const count = countWords(part);
    const li = el('li', 'arch-item');
    li.dataset.light = light;
    const mark = el('span', 'arch-item-icon', icon);
    mark.setAttribute('aria-hidden', 'true');
    const text = el('span');
    text.append(el('strong', null, names[part]), `: ${word}${count ? `, ${count}` : ''}.`);
    li.append(mark, text);
    items.push(li);
  }
  state.list.replaceChildren(...items);
  for (const [key, count] of Object.entries(state.counts)) count.textContent = countWords(key);
  if (state.setup) {
    const broker = state.setup.broker === 'RabbitMQ'
      ? 'the message broker is RabbitMQ, so the trainers and predictors can run on other computers'
      : 'the message broker is built into the one running program (a bigger setup uses RabbitMQ)';
    state.here.textContent = `On this server the database is ${state.setup.database} and ${broker}.`;
    state.subs.broker.textContent = brokerName();
    state.subs.gateway.textContent = 'web server + database';
  }
  const down = state.connection === 'offline' || state.connection === 'reconnecting';
  for (const key of ['ask', 'updates']) state.edges[key].classList.toggle('arch-edge-broken', down);
}

// ------------------------------------------------------------------ reading and live messages

async function readHealth() {
  try {
    const response = await fetch('/health', { headers: { Accept: 'application/json' } });
    state.health = await response.json();   // a 503 still names the parts
    state.gatewayUp = true;
  } catch (_) {
    state.gatewayUp = false;
    state.instances = {};
  }
  render();
}

async function readSystem() {
  try {
    const system = await api('GET', '/api/system?history=false');
    state.instances = system.instances || {};
    state.setup = system.setup || null;
    state.gatewayUp = true;
  } catch (err) {
    if (err.code === 'network') state.gatewayUp = false;
  }
  render();
}

function flash(kind) {
  state.latestKind = kind;
  state.latestAt = Date.now();
  renderLatest();
  state.gatewayUp = true;
  if (reducedMotion()) return;
  for (const key of FLOWS[kind]) {
    const group = state.edges[key];
    group.classList.add('arch-edge-lit');
    group.querySelector('path').setAttribute('marker-end', 'url(#arch-arrow-lit)');
    clearTimeout(state.timers[key]);
    state.timers[key] = setTimeout(() => {
      group.classList.remove('arch-edge-lit');
      group.querySelector('path').setAttribute('marker-end', 'url(#arch-arrow)');
    }, FLASH_MS);
  }
}

function renderLatest() {
  if (!state.latestKind) {
    state.latest.textContent = 'Waiting for the next message…';
    return;
  }
  const s = Math.round((Date.now() - state.latestAt) / 1000);
  const when = s < 2 ? 'just now' : `${s} seconds ago`;
  state.latest.textContent = `Latest message: ${FLOW_WORDS[state.latestKind]}, ${s < 120 ? when : 'a while ago'}.`;
}

function onHealth(health) {
  state.health = health;
  state.gatewayUp = true;
  render();
}

function onStatus({ status }) {
  state.connection = status;
  // The page's own connection is the surest sign of whether the gateway answers.
  if (status === 'good' || status === 'slow') state.gatewayUp = true;
  else if (status === 'offline') { state.gatewayUp = false; state.instances = {}; }
  render();
}

function refresh() {
  readHealth();
  readSystem();
  if (state.dead) state.dead.refresh();
}

// ------------------------------------------------------------------ page

export default {
  mount(body) {
    body.classList.add('architecture-page');
    const intro = el('p', 'lead', 'The parts that make up Prediction Studio and the messages they send each other. The arrows light up as messages go by.');
    const card = el('section', 'card');
    card.setAttribute('aria-labelledby', 'arch-diagram-title');
    const title = el('h2', null, 'How the parts talk');
    title.id = 'arch-diagram-title';
    const scroller = el('div', 'arch-scroll');
    scroller.tabIndex = 0;
    scroller.setAttribute('role', 'region');
    scroller.setAttribute('aria-label', 'Diagram (scrolls sideways on small screens)');
    state.svg = drawDiagram();
    scroller.append(state.svg);
    state.latest = el('p', 'hint arch-latest');

    const listTitle = el('h3', 'subhead', 'The parts right now');
    listTitle.id = 'arch-list-title';
    state.list = el('ul', 'arch-list');
    state.list.setAttribute('aria-labelledby', listTitle.id);

    const explain = el('section', 'card');
    explain.setAttribute('aria-labelledby', 'arch-explain-title');
    const explainTitle = el('h2', null, 'What each part does');
    explainTitle.id = 'arch-explain-title';
    explain.append(explainTitle, el('p', 'intro',
      'Your browser only ever talks to the gateway: the web server that shows these pages and keeps '
      + 'the database of your files, training runs and models. When you ask for training, the gateway '
      + 'leaves a message with the message broker, which works like a post office. A free trainer picks '
      + 'the message up, learns from your data, and sends its progress and the finished model back the '
      + 'same way. When you choose “Use this model”, the broker tells every predictor to switch that '
      + 'model on, so it can answer questions. The readings service measures how busy the computer is '
      + 'every few seconds. The gateway passes all of this news on to your page as it happens.'));

    state.here = el('p', 'intro');
    explain.append(state.here);
    card.append(title, scroller, state.latest, listTitle, state.list);
    state.dead = deadLetterCard();
    body.append(intro, card, state.dead.card, explain);
    render();
    renderLatest();
  },

  show() {
    if (!state.unsubscribe.length) {
      state.unsubscribe = [
        live.on('job', () => flash('job')),
        live.on('metrics', () => flash('metrics')),
        live.on('model', () => flash('model')),
        live.on('health', onHealth),
        live.on('status', onStatus),
        live.on('resumed', refresh),
      ];
    }
    state.connection = live.status().status;
    clearInterval(state.timer);
    let ticks = 0;
    state.timer = setInterval(() => {
      renderLatest();
      ticks += 1;
      if (ticks % (COUNTS_EVERY_MS / TICK_MS) === 0 && !document.hidden) {
        readSystem();
        state.dead.refresh();
      }
    }, TICK_MS);
    refresh();
  },

  hide() {
    state.unsubscribe.forEach((off) => off());
    state.unsubscribe = [];
    clearInterval(state.timer);
    state.timer = null;
  },
};
