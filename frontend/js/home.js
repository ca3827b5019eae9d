/* Home: the four steps (Upload, Train, Results, Use) on top of the HTTP API (docs/API.md).
 * State is re-read from the API on start and after every reconnect, so nothing is missed. */

import {
  $, el, show, time, newest, formatNumber, percent, duration, api, listItems, renderLight,
  ALGORITHM_WORDS,
} from './core.js';
import * as live from './live.js';
import * as notify from './notify.js';

const POLL_MS = 2000;
const ACTIVE = new Set(['queued', 'running']);
const NOT_TRAINABLE = ['identifier', 'constant'];

const state = {
  dataset: null,   // Dataset
  target: null,    // column chosen in the select
  job: null,       // latest Job for the dataset
  model: null,     // Model being shown
  samples: [],
  formModelId: null,
  downloadUrl: null,
};
let pollTimer = null;
let modelRequest = null;   // id of the model being fetched, to avoid double fetches

const isActive = (job) => Boolean(job) && ACTIVE.has(job.status);

/** The model the Results and Use steps show: none while another column is picked to predict. */
function shownModel() {
  return state.model && (!state.target || state.model.target === state.target) ? state.model : null;
}

function prettyFeature(name) {
  return String(name).replace(/^(num|cat|remainder|onehot|scaler)__/, '');
}

function bringIntoView(section, focusTarget) {
  const reduced = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  section.scrollIntoView({ behavior: reduced ? 'auto' : 'smooth', block: 'start' });
  if (focusTarget) focusTarget.focus({ preventScroll: true });
}

// ------------------------------------------------------------------ errors

/** Show a friendly error box at the top of the given step. */
function showError(err, section) {
  const box = $('error-box');
  $('error-message').textContent = (err && err.message) || String(err);
  if (section) section.insertBefore(box, section.children[1] || null);
  show(box, true);
}

function clearError() {
  show($('error-box'), false);
}

// ------------------------------------------------------------------ step indicator

function currentStep() {
  const model = shownModel();
  if (!state.dataset) return 'upload';
  if (!model) return 'train';
  return model.deployed ? 'use' : 'results';
}

function renderSteps() {
  const order = ['upload', 'train', 'results', 'use'];
  const current = order.indexOf(currentStep());
  order.forEach((name, index) => {
    const item = $('step-indicator-' + name);
    const status = index < current ? 'done' : index === current ? 'current' : 'todo';
    item.dataset.state = status;
    if (status === 'current') item.setAttribute('aria-current', 'step');
    else item.removeAttribute('aria-current');
    item.querySelector('.step-state').textContent =
      status === 'done' ? ' (done)' : status === 'current' ? ' (current step)' : '';
  });
}

// ------------------------------------------------------------------ step 1: upload

function targetOptions(dataset) {
  const columns = dataset.columns || [];
  const usable = columns.filter((c) =>
    c.name === dataset.target || (!NOT_TRAINABLE.includes(c.kind) && !c.leaks_target));
  return usable.length ? usable : columns;
}

function renderDataset() {
  const ds = state.dataset;
  show($('dataset-info'), Boolean(ds));
  show($('sample-area'), !ds && state.samples.length > 0);
  $('drop-zone').classList.toggle('compact', Boolean(ds));
  $('drop-text').innerHTML = ds
    ? 'To start over, drag another CSV here or <span class="link-like">choose a different file</span>'
    : 'Drag a CSV file here, or <span class="link-like">choose a file</span>';
  if (!ds) return;

  $('dataset-name').textContent = ds.name || 'Your data';
  $('dataset-rows').textContent = formatNumber(ds.rows);
  $('dataset-columns').textContent = formatNumber((ds.columns || []).length);
  renderLight($('dataset-light'), ds.light, 'dataset');

  const list = $('dataset-messages');
  list.replaceChildren(...(ds.messages || []).map((m) => el('li', '', m)));
  show(list, list.children.length > 0);

  const select = $('target-select');
  select.replaceChildren(...targetOptions(ds).map((c) => {
    const option = el('option', '', c.name);
    option.value = c.name;
    return option;
  }));
  select.value = state.target || ds.target || '';
}

function setDataset(dataset) {
  stopPolling();
  state.dataset = dataset;
  state.target = dataset.target;
  state.job = null;
  state.model = null;
  renderAll();
}

async function uploadWith(label, request) {
  clearError();
  const status = $('upload-status');
  status.textContent = `Uploading “${label}” and checking it…`;
  $('drop-zone').classList.add('busy');
  try {
    setDataset(await request());
    status.textContent = '';
    bringIntoView($('step-upload'), $('target-select'));
  } catch (err) {
    status.textContent = '';
    showError(err, $('step-upload'));
  } finally {
    $('drop-zone').classList.remove('busy');
    $('file-input').value = '';
  }
}

function uploadFile(file) {
  if (!file) return;
  const form = new FormData();
  form.append('file', file);
  uploadWith(file.name, () => api('POST', '/api/datasets', form));
}

function useSample() {
  const sample = state.samples.find((s) => s.name === $('sample-select').value);
  if (!sample) return;
  uploadWith(sample.filename, () => api('POST', `/api/samples/${encodeURIComponent(sample.name)}/use`));
}

function renderSampleAbout() {
  const sample = state.samples.find((s) => s.name === $('sample-select').value);
  $('sample-about').textContent = sample ? sample.about : '';
}

async function loadSamples() {
  try {
    state.samples = (await api('GET', '/api/samples')).items || [];
  } catch (_) {
    state.samples = [];
  }
  $('sample-select').replaceChildren(...state.samples.map((s) => {
    const option = el('option', '', s.title);
    option.value = s.name;
    return option;
  }));
  renderSampleAbout();
  renderDataset();
}

function setUpDropZone() {
  const zone = $('drop-zone');
  $('file-input').addEventListener('change', (e) => uploadFile(e.target.files[0]));
  ['dragenter', 'dragover'].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add('dragging');
  }));
  ['dragleave', 'dragend'].forEach((type) => zone.addEventListener(type, () => zone.classList.remove('dragging')));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    uploadFile(e.dataTransfer && e.dataTransfer.files[0]);
  });
  // A file dropped next to the zone must not make the browser leave the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}

// ------------------------------------------------------------------ step 2: train

const JOB_NOTES = {
  succeeded: ['success', 'Finished! Your results are below.'],
  cancelled: ['info', 'Training was stopped. You can start again whenever you like.'],
};

function renderJob() {
  const job = state.job;
  const active = isActive(job);
  show($('step-train'), Boolean(state.dataset));
  $('train-target').textContent = state.target || '';
  const settings = notify.currentSettings();
  $('train-budget').textContent = settings ? `about ${duration(settings.time_budget_s)}` : 'about a minute';

  const showBar = Boolean(job) && (active || (job.status === 'succeeded' && Boolean(shownModel())));
  show($('train-progress'), showBar);
  if (showBar) renderProgress(job);

  const note = $('train-status');
  let kind = null;
  let text = '';
  if (job && job.status === 'failed') {
    kind = 'error';
    text = 'Training did not finish. ' + (job.error || 'Please try again.');
  } else if (job && job.status === 'cancelled' && job.model_id && shownModel()) {
    [kind, text] = ['info', 'Training was stopped early. The best model it had found is below.'];
  } else if (job && JOB_NOTES[job.status] && !(job.status === 'succeeded' && !shownModel())) {
    [kind, text] = JOB_NOTES[job.status];
  }
  note.textContent = text;
  note.dataset.kind = kind || '';
  show(note, Boolean(text));

  // Once a model is switched on, training the same column again is rarely wanted, and the Use
  // step needs its buttons: "Train again" comes back when another column is picked.
  const settled = Boolean(shownModel() && shownModel().deployed);
  const trainButton = $('train-button');
  show(trainButton, !active && !settled);
  $('train-again-hint').hidden = !settled || active;
  trainButton.textContent = job || state.model ? 'Train again' : 'Start training';
  trainButton.className = 'btn ' + (shownModel() ? 'btn-secondary' : 'btn-primary');
  const cancel = $('cancel-button');
  show(cancel, active);
  if (!active) {
    cancel.disabled = false;
    cancel.textContent = 'Stop and keep the best so far';
  }
  $('target-select').disabled = active;
}

function renderProgress(job) {
  const value = job.status === 'succeeded' ? 100 : percent(job.progress);
  const stage = job.stage || (job.status === 'queued' ? 'Waiting to start…' : 'Working…');
  const stageNode = $('progress-stage');
  if (stageNode.textContent !== stage) stageNode.textContent = stage;
  $('progress-percent').textContent = value + '%';
  $('progress-fill').style.width = value + '%';
  const bar = $('progress-bar');
  bar.setAttribute('aria-valuenow', String(value));
  bar.setAttribute('aria-valuetext', `${value}% – ${stage}`);
  bar.dataset.done = String(job.status === 'succeeded');
  const eta = Number(job.eta_s);
  $('progress-eta').textContent = isActive(job) && Number.isFinite(eta) && eta > 0 && job.eta_s !== null
    ? `About ${duration(eta)} left.` : '';
}

/** Accept a job update (from the socket, a poll or a POST) if it is about our job and not stale. */
function applyJob(job) {
  if (!job || !state.job || job.id !== state.job.id) return;
  const old = state.job;
  if (!isActive(old) && isActive(job)) return;                     // a late update after the end
  if (isActive(job) && job.status === old.status && (job.progress || 0) < (old.progress || 0)) return;
  state.job = job;
  renderJob();
  if (isActive(job)) {
    ensurePolling();
    return;
  }
  stopPolling();
  if (isActive(old) && (job.status === 'succeeded' || job.status === 'failed')) {
    notify.trainingEnded(job, job.target);
  }
  if (job.model_id) loadModel(job.model_id, isActive(old));   // succeeded, or stopped early with a model
  else if (job.status === 'cancelled' && job.started_at) watchForKeptModel(job.id);
  renderSteps();
}

/** A training stopped mid-way hands in its best model a few seconds later: look for it. */
async function watchForKeptModel(id, attempt = 1) {
  if (attempt > 20 || !state.job || state.job.id !== id || state.job.model_id) return;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  try {
    const job = await api('GET', `/api/jobs/${encodeURIComponent(id)}`);
    if (job.model_id) return applyJob(job);
  } catch (err) {
    if (err.status === 404) return;
  }
  watchForKeptModel(id, attempt + 1);
}

async function pollJob() {
  pollTimer = null;
  const job = state.job;
  if (!isActive(job)) return;
  try {
    applyJob(await api('GET', `/api/jobs/${encodeURIComponent(job.id)}`));
  } catch (err) {
    if (err.status === 404) return;   // the job is gone: stop asking
  }
  if (isActive(state.job)) ensurePolling();
}

function ensurePolling() {
  if (pollTimer === null) pollTimer = setTimeout(pollJob, POLL_MS);
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

async function startTraining() {
  if (!state.dataset) return;
  clearError();
  notify.askPermission();
  const button = $('train-button');
  button.disabled = true;
  try {
    const job = await api('POST', '/api/jobs', { dataset_id: state.dataset.id, target: state.target });
    state.job = job;
    state.model = null;
    renderAll();
    if (isActive(job)) ensurePolling();
    else applyJob(job);
  } catch (err) {
    showError(err, $('step-train'));
  } finally {
    button.disabled = false;
  }
}

async function cancelTraining() {
  const job = state.job;
  if (!isActive(job)) return;
  clearError();
  const button = $('cancel-button');
  button.disabled = true;
  button.textContent = 'Stopping…';
  try {
    applyJob(await api('POST', `/api/jobs/${encodeURIComponent(job.id)}/cancel`));
  } catch (err) {
    button.disabled = false;
    button.textContent = 'Stop and keep the best so far';
    showError(err, $('step-train'));
  }
}

// ------------------------------------------------------------------ step 3: results

async function loadModel(id, announce, attempt = 1) {
  if ((state.model && state.model.id === id) || modelRequest === id) return;
  modelRequest = id;
  try {
    const model = await api('GET', `/api/models/${encodeURIComponent(id)}`);
    modelRequest = null;
    state.model = model;
    renderAll();
    if (announce) bringIntoView($('step-results'), $('results-title'));
  } catch (err) {
    modelRequest = null;
    if (attempt < 3 && err.code !== 'network') {
      setTimeout(() => loadModel(id, announce, attempt + 1), 1000 * attempt);
    } else {
      showError(err, $('step-results').hidden ? $('step-train') : $('step-results'));
    }
  }
}

function scoreSentence(model) {
  const metrics = model.metrics || {};
  if (model.task === 'regression') {
    const mae = metrics.mae ?? (model.score_name === 'mae' ? model.score : undefined);
    if (mae === undefined || mae === null) return '';
    return `Its guesses for “${model.target}” are typically off by about ${formatNumber(mae)}.`;
  }
  const accuracy = metrics.accuracy ?? (model.score_name === 'accuracy' ? model.score : undefined);
  if (accuracy === undefined || accuracy === null) return '';
  return `Right ${percent(accuracy)} times out of 100.`;
}

function topFeatures(model, count) {
  return (model.feature_importance || [])
    .filter((f) => f && f.feature !== undefined)
    .map((f) => ({ name: prettyFeature(f.feature), value: Math.max(0, Number(f.importance) || 0) }))
    .sort((a, b) => b.value - a.value)
    .slice(0, count);
}

function renderImportance(model) {
  const top = topFeatures(model, 5);
  const max = top.length ? top[0].value : 0;
  const list = $('importance-list');
  list.replaceChildren(...top.map((f) => {
    const share = max > 0 ? Math.round((f.value / max) * 100) : 0;
    const item = el('li', 'bar-item');
    const track = el('span', 'bar-track');
    const fill = el('span', 'bar-fill');
    fill.style.width = Math.max(share, 2) + '%';
    track.append(fill);
    track.setAttribute('aria-hidden', 'true');
    item.append(el('span', 'bar-label', f.name), track,
      el('span', 'visually-hidden', ` – ${share}% as much influence as the top one`));
    return item;
  }));
  if (!top.length) list.append(el('li', 'hint', 'No breakdown is available for this model.'));
}

const quote = (label) => `“${label}”`;

/** For each real answer: how often the model got it right, and what it said instead. */
function confusionSentences(labels, matrix) {
  return labels.map((label, i) => {
    const row = matrix[i] || [];
    const total = row.reduce((a, b) => a + b, 0);
    if (!total) return null;
    const right = Math.round((100 * (row[i] || 0)) / total);
    const wrong = row
      .map((count, j) => [labels[j], count])
      .filter(([other, count], j) => j !== i && count > 0)
      .sort((a, b) => b[1] - a[1]);
    let text = `When the answer was ${quote(label)}, it said so ${right} times out of 100`;
    if (wrong.length) text += `; otherwise it mostly said ${quote(wrong[0][0])}`;
    return text + '.';
  }).filter(Boolean);
}

function renderConfusion(model) {
  const cm = (model.metrics || {}).confusion_matrix;
  const usable = model.task === 'classification' && cm && Array.isArray(cm.labels) && cm.labels.length > 1;
  show($('confusion-area'), Boolean(usable));
  if (!usable) return;
  $('confusion-sentences').replaceChildren(
    ...confusionSentences(cm.labels.slice(0, 8), cm.matrix).map((t) => el('li', '', t)));
  const table = $('confusion-table');
  table.replaceChildren();
  if (cm.labels.length > 10) return;
  const caption = el('caption', 'visually-hidden', 'Real answer (rows) against what the model said (columns)');
  const head = el('tr');
  head.append(el('th', '', 'Real answer ↓ / Model said →'), ...cm.labels.map((l) => {
    const th = el('th', '', String(l));
    th.scope = 'col';
    return th;
  }));
  const rows = cm.labels.map((label, i) => {
    const tr = el('tr');
    const th = el('th', '', String(label));
    th.scope = 'row';
    tr.append(th, ...cm.labels.map((_, j) => el('td', i === j ? 'cell-right' : 'cell-wrong', formatNumber(cm.matrix[i][j]))));
    return tr;
  });
  const thead = el('thead');
  thead.append(head);
  const tbody = el('tbody');
  tbody.append(...rows);
  table.append(caption, thead, tbody);
}

function renderLeaderboard(model) {
  const table = $('detail-leaderboard');
  const rows = (model.leaderboard || []).slice(0, 10);
  table.replaceChildren();
  if (!rows.length) return;
  const head = el('tr');
  head.append(...['Approach', model.score_name || 'Score', 'Seconds'].map((t) => el('th', '', t)));
  const thead = el('thead');
  thead.append(head);
  const tbody = el('tbody');
  tbody.append(...rows.map((r) => {
    const tr = el('tr');
    tr.append(el('td', '', String(r.algorithm ?? '')), el('td', '', formatNumber(r.score)),
      el('td', '', formatNumber(r.fit_seconds)));
    return tr;
  }));
  table.append(thead, tbody);
}

function renderModel() {
  const model = shownModel();
  show($('step-results'), Boolean(model));
  if (!model) return;
  renderLight($('result-light'), model.light, 'model', model.light_reason || undefined);
  // The trainer's summary already says it in numbers ("Right about 86 times out of 100 ...").
  $('result-score').textContent = model.summary || scoreSentence(model);
  $('result-summary').textContent = 'Measured on examples the computer had not seen while learning.';
  const notes = $('result-notes');
  notes.replaceChildren(...(model.notes || []).map((n) => el('li', '', n)));
  show(notes, notes.children.length > 0);
  renderImportance(model);
  renderConfusion(model);
  $('detail-algorithm').textContent = ALGORITHM_WORDS[model.algorithm] || model.algorithm || '–';
  $('detail-score').textContent = model.score_name ? `${model.score_name} = ${formatNumber(model.score)}` : '–';
  $('detail-target').textContent = `${model.target || '–'} (${model.task || 'unknown task'})`;
  renderLeaderboard(model);
  $('detail-metrics').textContent = JSON.stringify(model.metrics || {}, null, 2);
}

// ------------------------------------------------------------------ step 4: use

function renderUse() {
  const model = shownModel();
  show($('step-use'), Boolean(model));
  if (!model) return;
  const deployed = Boolean(model.deployed);
  show($('deploy-area'), !deployed);
  show($('use-area'), deployed);
  $('deploy-status').textContent = deployed ? 'This model is switched on and ready to answer.' : '';
  $('deploy-status').classList.toggle('ok', deployed);
  if (deployed && state.formModelId !== model.id) buildForm(model);
}

async function deployModel() {
  const model = state.model;
  if (!model) return;
  clearError();
  const button = $('deploy-button');
  button.disabled = true;
  $('deploy-status').textContent = 'Switching the model on…';
  try {
    await api('POST', `/api/models/${encodeURIComponent(model.id)}/deploy`);
    model.deployed = true;
    renderAll();
    const first = $('predict-fields').querySelector('input, select');
    bringIntoView($('step-use'), first || $('use-title'));
  } catch (err) {
    $('deploy-status').textContent = '';
    showError(err, $('step-use'));
  } finally {
    button.disabled = false;
  }
}

/** The columns a prediction needs; older models may lack `features`, so fall back to the dataset. */
function modelFeatures(model) {
  if (Array.isArray(model.features) && model.features.length) return model.features;
  const columns = (state.dataset && state.dataset.id === model.dataset_id && state.dataset.columns) || [];
  return columns
    .filter((c) => c.name !== model.target && !NOT_TRAINABLE.includes(c.kind))
    .map((c) => ({ name: c.name, kind: c.kind }));
}

function buildControl(feature, id) {
  if (Array.isArray(feature.choices) && feature.choices.length) {
    const select = el('select');
    feature.choices.forEach((choice, index) => {
      const option = el('option', '', String(choice));
      option.value = String(index);
      if (String(choice) === String(feature.example)) option.selected = true;
      select.append(option);
    });
    select.choiceValues = feature.choices;
    select.id = id;
    return select;
  }
  const input = el('input');
  input.id = id;
  if (feature.kind === 'numeric') {
    input.type = 'number';
    input.step = 'any';
    input.inputMode = 'decimal';
  } else {
    input.type = 'text';
    input.autocomplete = 'off';
  }
  if (feature.example !== undefined && feature.example !== null) input.value = String(feature.example);
  return input;
}

function buildForm(model) {
  const fields = modelFeatures(model).map((feature, index) => {
    const id = 'feature-' + index;
    const wrap = el('div', 'field');
    const label = el('label', '', feature.name);
    label.htmlFor = id;
    const control = buildControl(feature, id);
    control.name = feature.name;
    control.dataset.feature = feature.name;
    control.dataset.kind = feature.kind || '';
    wrap.append(label, control);
    const hasRange = feature.min !== null && feature.max !== null && isFinite(feature.min) && isFinite(feature.max);
    if (hasRange) {
      const hint = el('p', 'hint', `Usually between ${formatNumber(feature.min)} and ${formatNumber(feature.max)}`);
      hint.id = id + '-hint';
      control.setAttribute('aria-describedby', hint.id);
      wrap.append(hint);
    }
    return wrap;
  });
  $('predict-fields').replaceChildren(...fields);
  state.formModelId = model.id;
  show($('prediction-output'), false);
}

function readRow() {
  const row = {};
  $('predict-fields').querySelectorAll('[data-feature]').forEach((control) => {
    const name = control.dataset.feature;
    if (control.choiceValues) row[name] = control.choiceValues[Number(control.value)];
    else if (control.value.trim() === '') row[name] = null;
    else if (control.dataset.kind === 'numeric') row[name] = Number(control.value);
    else row[name] = control.value;
  });
  return row;
}

function answerText(prediction) {
  if (prediction === true) return 'yes';
  if (prediction === false) return 'no';
  return typeof prediction === 'number' ? formatNumber(prediction) : String(prediction);
}

function renderPrediction(result) {
  const output = $('prediction-output');
  const prediction = (result.predictions || [])[0];
  const probs = (result.probabilities || [])[0] || null;
  let main = `Prediction: ${answerText(prediction)}`;
  let others = [];
  if (probs) {
    const entries = Object.entries(probs).map(([label, p]) => [label, Number(p)]);
    const own = probs[String(prediction)];
    const sure = own !== undefined ? Number(own) : Math.max(...entries.map((e) => e[1]));
    main += ` — ${percent(sure)}% sure`;
    others = entries
      .filter(([label]) => label !== String(prediction))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([label, p]) => `${label}: ${percent(p)}%`);
  }
  const how = (result.confidence || [])[0];
  if (how) main += ` (${how} confidence)`;
  output.replaceChildren(el('p', 'prediction-main', main));
  const target = state.model && state.model.target;
  if (target) output.append(el('p', 'hint', `What the model expects “${target}” to be for this example.`));
  if (others.length) output.append(el('p', 'hint', 'Other possibilities: ' + others.join(' · ')));
  const unusual = (result.unusual || [])[0];
  if (unusual && unusual.unusual) {
    output.append(el('p', 'notice', 'Take this one with care: ' + unusual.reasons.join(' ')));
  }
  show(output, true);
}

async function predictOne(event) {
  event.preventDefault();
  const model = state.model;
  if (!model) return;
  clearError();
  const button = $('predict-button');
  button.disabled = true;
  try {
    renderPrediction(await api('POST', '/api/predict', { rows: [readRow()], model_id: model.id }));
  } catch (err) {
    handleUseError(err);
  } finally {
    button.disabled = false;
  }
}

function handleUseError(err) {
  if (err.code === 'no_model_deployed' && state.model) {
    state.model.deployed = false;
    renderAll();
  }
  showError(err, $('step-use'));
}

async function scoreFile(file) {
  if (!file || !state.model) return;
  clearError();
  const status = $('batch-status');
  const link = $('download-link');
  show(link, false);
  status.textContent = `Scoring “${file.name}”…`;
  const form = new FormData();
  form.append('file', file);
  try {
    const blob = await api('POST', `/api/predict/csv?model_id=${encodeURIComponent(state.model.id)}`, form);
    const csv = blob instanceof Blob ? blob : new Blob([JSON.stringify(blob)], { type: 'text/csv' });
    if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
    state.downloadUrl = URL.createObjectURL(csv);
    link.href = state.downloadUrl;
    link.download = file.name.replace(/\.[^.]*$/, '') + '-with-predictions.csv';
    link.textContent = `Download ${link.download}`;
    show(link, true);
    status.textContent = 'Done. Your file with predictions is downloading. If it does not start, use the link below.';
    link.click();
  } catch (err) {
    status.textContent = '';
    handleUseError(err);
  } finally {
    $('batch-file-input').value = '';
  }
}

// ------------------------------------------------------------------ live updates

function onJobMessage(job) {
  if (!job || !job.id) return;
  const ours = state.job && state.job.id === job.id;
  const newForDataset = !ours && state.dataset && job.dataset_id === state.dataset.id &&
    isActive(job) && !isActive(state.job) && (!state.job || time(job) > time(state.job));
  if (newForDataset) {     // training started elsewhere (another tab) for the data on screen
    state.job = job;
    state.model = null;
    renderAll();
    ensurePolling();
    return;
  }
  if (ours) applyJob(job);
}

function onModelMessage(data) {
  const id = data && (data.model_id || data.id);
  if (!state.model) return;
  if (id === state.model.id && data.deployed === true && !state.model.deployed) {
    state.model.deployed = true;
    renderAll();
  } else if (id !== state.model.id && data.deployed === true && state.model.deployed) {
    state.model.deployed = false;   // another model was switched on in its place
    renderAll();
  }
}

/** After a reconnect: re-read what may have changed while we were not listening. */
async function resync() {
  notify.loadSettings().then(renderJob);
  if (!state.dataset) return restore();
  try {
    const dataset = await api('GET', `/api/datasets/${encodeURIComponent(state.dataset.id)}`);
    state.dataset = dataset;
    if (state.job) applyJob(await api('GET', `/api/jobs/${encodeURIComponent(state.job.id)}`));
    if (state.model) {
      const model = await api('GET', `/api/models/${encodeURIComponent(state.model.id)}`);
      state.model = { ...state.model, deployed: model.deployed };
    }
    renderAll();
  } catch (err) {
    if (err.status === 404) {     // deleted meanwhile: start from what is there now
      Object.assign(state, { dataset: null, job: null, model: null });
      renderAll();
      restore();
    }
  }
}

// ------------------------------------------------------------------ start-up

function renderAll() {
  renderDataset();
  renderJob();
  renderModel();
  renderUse();
  renderSteps();
}

/** Pick up where the user left off: the newest dataset or job, its latest job and model. */
async function restore() {
  let datasets;
  let jobs;
  let models;
  try {
    [datasets, jobs, models] = await Promise.all(['/api/datasets', '/api/jobs', '/api/models'].map(listItems));
  } catch (err) {
    showError(err, $('step-upload'));
    return;
  }
  if (state.dataset) return;   // the user already uploaded something meanwhile
  clearError();

  const latestJob = newest(jobs);
  const latestDataset = newest(datasets);
  let dataset = latestDataset;
  if (latestJob && (!latestDataset || time(latestJob) >= time(latestDataset))) {
    dataset = datasets.find((d) => d.id === latestJob.dataset_id) ||
      await api('GET', `/api/datasets/${encodeURIComponent(latestJob.dataset_id)}`).catch(() => null);
  }
  if (!dataset) return;

  const job = newest(jobs.filter((j) => j.dataset_id === dataset.id));
  state.dataset = dataset;
  state.job = job;
  state.target = (job && job.target) || dataset.target;
  let modelId = job && job.model_id ? job.model_id : null;
  if (!modelId && !isActive(job)) {
    const previous = newest(models.filter((m) => m.dataset_id === dataset.id));
    modelId = previous ? previous.id : null;
  }
  renderAll();
  if (isActive(job)) ensurePolling();
  if (modelId) loadModel(modelId, false);
}

function bindEvents() {
  setUpDropZone();
  $('target-select').addEventListener('change', (e) => {
    state.target = e.target.value;
    renderAll();   // a model for another column steps aside until training for this one
  });
  $('sample-select').addEventListener('change', renderSampleAbout);
  $('sample-button').addEventListener('click', useSample);
  $('train-button').addEventListener('click', startTraining);
  $('cancel-button').addEventListener('click', cancelTraining);
  $('deploy-button').addEventListener('click', deployModel);
  $('predict-form').addEventListener('submit', predictOne);
  $('batch-file-input').addEventListener('change', (e) => scoreFile(e.target.files[0]));
}

export function start() {
  bindEvents();
  renderAll();
  live.on('job', onJobMessage);
  live.on('model', onModelMessage);
  live.on('resumed', resync);
  if (location.protocol === 'file:') return;
  loadSamples();
  restore();
}

/** Back on Home (the router calls this): the settings may have changed on the Settings page. */
export function onShow() {
  if (location.protocol !== 'file:') notify.loadSettings().then(renderJob);
}

export { state };
