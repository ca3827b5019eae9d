/* Pipeline: every training run, newest first, with its steps, progress and outcome.
 * Live from 'job' messages; everything is re-read when the page is shown and on 'resumed'. */

import { el, api, listItems, duration, ago, percent, renderLight, JOB_WORDS } from '../core.js';
import * as live from '../live.js';

const STATUS_ICONS = { queued: '…', running: '▶', succeeded: '✓', failed: '✕', cancelled: '■' };
const ACTIVE = ['queued', 'running'];

const state = {
  body: null, list: null, summary: null, empty: null, problem: null,
  jobs: new Map(),        // id -> Job
  cards: new Map(),       // id -> { node, parts }
  datasets: new Map(),    // id -> Dataset
  models: new Map(),      // id -> Model
  fetchingModels: new Set(),
  missingModels: new Set(),
  datasetsRead: 0,
  unsubscribe: [],
  ticker: null,
};

// ------------------------------------------------------------------ words

function clock(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  const today = new Date().toDateString() === t.toDateString();
  return today
    ? t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : t.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function seconds(from, to) {
  const a = Date.parse(from);
  const b = to ? Date.parse(to) : Date.now();
  return Number.isNaN(a) || Number.isNaN(b) ? null : Math.max(0, (b - a) / 1000);
}

function dataName(job) {
  const dataset = state.datasets.get(job.dataset_id);
  return dataset ? dataset.name : null;
}

const TOOK_LABELS = { queued: 'Waiting for', running: 'Running for' };

function tookText(job) {
  if (job.status === 'queued') return duration(seconds(job.created_at));
  if (job.status === 'running') return duration(seconds(job.started_at || job.created_at));
  const took = seconds(job.started_at || job.created_at, job.finished_at);
  return took === null ? '–' : duration(took);
}

function stepsOf(job) {
  const final = { succeeded: 'Finished', failed: 'Did not finish', cancelled: 'Stopped' }[job.status];
  return [
    { label: 'Asked for', at: job.created_at, done: true },
    { label: 'Started', at: job.started_at, done: Boolean(job.started_at), current: job.status === 'queued' },
    { label: final || 'Finished', at: job.finished_at, done: Boolean(final), current: job.status === 'running', outcome: job.status },
  ];
}

// ------------------------------------------------------------------ one run

function buildCard(id) {
  const node = el('li', 'card run');
  const head = el('div', 'run-head');
  const title = el('h2', 'run-title');
  title.id = `run-title-${id}`;
  node.setAttribute('aria-labelledby', title.id);
  const status = el('p', 'run-status');
  head.append(title, status);

  const stage = el('p', 'run-stage');
  const progressWrap = el('div', 'run-progress');
  const bar = el('div', 'progress');
  bar.setAttribute('role', 'progressbar');
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '100');
  bar.setAttribute('aria-labelledby', title.id);
  const fill = el('div', 'progress-fill');
  bar.append(fill);
  const progressText = el('p', 'hint run-progress-text');
  progressWrap.append(bar, progressText);

  const facts = el('dl', 'run-facts');
  const fact = (label) => {
    const wrap = el('div');
    const dt = el('dt', null, label);
    const dd = el('dd');
    wrap.append(dt, dd);
    facts.append(wrap);
    return [dt, dd];
  };
  const [, started] = fact('Asked for');
  const [tookLabel, took] = fact('Took');
  const [, limit] = fact('Time limit');

  const outcome = el('div', 'run-outcome');
  const stepsTitle = el('h3', 'visually-hidden', 'Steps');
  const steps = el('ol', 'run-steps');
  steps.setAttribute('aria-label', 'Steps');

  node.append(head, stage, progressWrap, facts, outcome, stepsTitle, steps);
  return { node, parts: { title, status, stage, progressWrap, bar, fill, progressText, started, tookLabel, took, limit, outcome, steps } };
}

function renderTitle(title, job) {
  const name = dataName(job);
  title.replaceChildren(`Predicting “${job.target}” from `);
  if (name) {
    const link = el('a', null, name);
    link.href = `#/data/${encodeURIComponent(job.dataset_id)}`;
    link.title = 'See this data on the Data page';
    title.append(link);
  } else {
    title.append(el('span', 'run-gone', 'a file that was deleted'));
  }
}

function renderOutcome(box, job) {
  box.replaceChildren();
  const model = job.model_id ? state.models.get(job.model_id) : null;
  if (job.status === 'failed') {
    const note = el('p', 'notice', job.error || 'Training stopped because of a problem.');
    note.dataset.kind = 'error';
    box.append(note);
  } else if (job.status === 'cancelled' && !job.model_id) {
    box.append(el('p', 'hint', 'Stopped before a model was ready, so nothing was kept.'));
  }
  if (model) {
    const light = el('div', 'light');
    renderLight(light, model.light, 'model', model.summary);
    box.append(light);
    if (model.deployed) box.append(el('p', 'run-deployed', 'This model is switched on and answers predictions.'));
    if (job.status === 'cancelled') box.append(el('p', 'hint', 'Stopped early; the best model found until then was kept.'));
  } else if (job.model_id && !ACTIVE.includes(job.status) && !state.missingModels.has(job.model_id)) {
    box.append(el('p', 'hint', 'Reading the result…'));
    fetchModel(job.model_id);
  }
}

function renderSteps(list, job) {
  list.replaceChildren(...stepsOf(job).map((step) => {
    const li = el('li', 'run-step');
    li.dataset.state = step.done ? (step.outcome || 'done') : step.current ? 'current' : 'todo';
    const icon = step.done ? (STATUS_ICONS[step.outcome] || '✓') : step.current ? '…' : '○';
    const mark = el('span', 'run-step-icon', icon);
    mark.setAttribute('aria-hidden', 'true');
    const when = step.at ? el('time', 'run-step-time', clock(step.at)) : el('span', 'run-step-time', ACTIVE.includes(job.status) ? 'not yet' : 'did not happen');
    if (step.at) when.dateTime = step.at;
    li.append(mark, el('span', 'run-step-label', step.label), when);
    return li;
  }));
}

function renderCard(job) {
  let card = state.cards.get(job.id);
  if (!card) {
    card = buildCard(job.id);
    state.cards.set(job.id, card);
  }
  const p = card.parts;
  card.node.dataset.status = job.status;
  renderTitle(p.title, job);
  const icon = el('span', 'run-status-icon', STATUS_ICONS[job.status] || '•');
  icon.setAttribute('aria-hidden', 'true');
  p.status.replaceChildren(icon, JOB_WORDS[job.status] || job.status);
  p.status.dataset.status = job.status;

  // A finished run's outcome below says more than its last stage ("Finished", "Cancelled").
  const active = ACTIVE.includes(job.status);
  p.stage.textContent = active ? job.stage || '' : '';
  p.stage.hidden = !p.stage.textContent;

  const running = job.status === 'running';
  p.progressWrap.hidden = !running;
  if (running) {
    const pct = percent(job.progress);
    p.fill.style.width = `${pct}%`;
    p.bar.setAttribute('aria-valuenow', String(pct));
    p.bar.setAttribute('aria-valuetext', `${pct}% done`);
    const left = typeof job.eta_s === 'number' && job.eta_s > 0 ? `, about ${duration(job.eta_s)} left` : '';
    p.progressText.textContent = `${pct}% done${left}`;
  }

  p.started.replaceChildren();
  const when = el('time', null, ago(job.created_at));
  when.dateTime = job.created_at;
  when.title = clock(job.created_at);
  p.started.append(when);
  p.tookLabel.textContent = TOOK_LABELS[job.status] || 'Took';
  p.took.textContent = tookText(job);
  p.limit.textContent = `at most ${duration(job.time_budget_s)}`;

  renderOutcome(p.outcome, job);
  renderSteps(p.steps, job);
  return card.node;
}

// ------------------------------------------------------------------ the list

function sortedJobs() {
  return [...state.jobs.values()].sort((a, b) => (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0));
}

function renderSummary() {
  const jobs = [...state.jobs.values()];
  const count = (status) => jobs.filter((j) => j.status === status).length;
  const parts = [];
  const active = count('running') + count('queued');
  if (active) parts.push(`${active} in progress`);
  if (count('succeeded')) parts.push(`${count('succeeded')} finished`);
  if (count('failed')) parts.push(`${count('failed')} did not finish`);
  if (count('cancelled')) parts.push(`${count('cancelled')} stopped`);
  state.summary.textContent = jobs.length
    ? `${jobs.length} training run${jobs.length === 1 ? '' : 's'}: ${parts.join(', ')}.`
    : '';
  state.empty.hidden = jobs.length > 0;
}

/** Put the cards in order without recreating them (keeps focus and scroll where they are). */
function placeCards() {
  for (const id of [...state.cards.keys()]) {
    if (!state.jobs.has(id)) { state.cards.get(id).node.remove(); state.cards.delete(id); }
  }
  sortedJobs().forEach((job, i) => {
    const node = state.cards.get(job.id).node;
    if (state.list.children[i] !== node) state.list.insertBefore(node, state.list.children[i] || null);
  });
  renderSummary();
}

function renderAll() {
  for (const job of state.jobs.values()) renderCard(job);
  placeCards();
}

function problem(message) {
  state.problem.textContent = message || '';
  state.problem.hidden = !message;
}

// ------------------------------------------------------------------ reading from the server

async function fetchModel(id) {
  if (state.fetchingModels.has(id)) return;
  state.fetchingModels.add(id);
  try {
    const model = await api('GET', `/api/models/${encodeURIComponent(id)}`);
    state.models.set(id, model);
    for (const job of state.jobs.values()) if (job.model_id === id) renderCard(job);
  } catch (_) {
    // Not there: say nothing more about it until the page is read again.
    state.missingModels.add(id);
    for (const job of state.jobs.values()) if (job.model_id === id) renderCard(job);
  } finally {
    state.fetchingModels.delete(id);
  }
}

async function readDatasets() {
  state.datasetsRead = Date.now();
  const items = await listItems('/api/datasets');
  state.datasets = new Map(items.map((d) => [d.id, d]));
}

async function load() {
  try {
    const [jobs, , models] = await Promise.all([
      listItems('/api/jobs'), readDatasets(), listItems('/api/models'),
    ]);
    state.models = new Map(models.map((m) => [m.id, m]));
    state.missingModels.clear();
    state.jobs = new Map(jobs.map((j) => [j.id, j]));
    problem('');
    renderAll();
  } catch (err) {
    problem(err.message);
  }
}

function onJob(job) {
  if (!job || !job.id) return;
  const known = state.jobs.get(job.id);
  // A late progress message must not undo a finished run.
  if (known && !ACTIVE.includes(known.status) && ACTIVE.includes(job.status)) return;
  state.jobs.set(job.id, job);
  if (!state.datasets.has(job.dataset_id) && Date.now() - state.datasetsRead > 2000) {
    readDatasets().then(renderAll).catch(() => {});
  }
  renderCard(job);
  if (!known) placeCards();
  else renderSummary();
}

function onModel(model) {
  if (!model || !model.id) return;
  state.models.set(model.id, model);
  // Switching one model on switches the others off: re-read them all.
  listItems('/api/models').then((models) => {
    state.models = new Map(models.map((m) => [m.id, m]));
    for (const job of state.jobs.values()) renderCard(job);
  }).catch(() => {});
}

function tick() {
  for (const job of state.jobs.values()) {
    const card = state.cards.get(job.id);
    if (!card) continue;
    if (ACTIVE.includes(job.status)) card.parts.took.textContent = tookText(job);
    const when = card.parts.started.firstElementChild;
    if (when) when.textContent = ago(job.created_at);
  }
}

// ------------------------------------------------------------------ page

export default {
  mount(body) {
    state.body = body;
    body.classList.add('pipeline-page');
    const intro = el('p', 'lead', 'Every training run, newest first. This page updates by itself while runs are going.');
    state.summary = el('p', 'pipeline-summary');
    state.summary.setAttribute('role', 'status');
    state.problem = el('p', 'notice');
    state.problem.dataset.kind = 'error';
    state.problem.setAttribute('role', 'alert');
    state.problem.hidden = true;
    state.empty = el('p', 'notice', 'No training runs yet. Upload a file on the Home page and press “Start training”.');
    state.empty.hidden = true;
    state.list = el('ol', 'runs');
    state.list.setAttribute('aria-label', 'Training runs, newest first');
    body.append(intro, state.summary, state.problem, state.empty, state.list);
  },

  show() {
    if (!state.unsubscribe.length) {
      state.unsubscribe = [live.on('job', onJob), live.on('model', onModel), live.on('resumed', load)];
    }
    clearInterval(state.ticker);
    state.ticker = setInterval(tick, 1000);
    load();
  },

  hide() {
    state.unsubscribe.forEach((off) => off());
    state.unsubscribe = [];
    clearInterval(state.ticker);
    state.ticker = null;
  },
};
