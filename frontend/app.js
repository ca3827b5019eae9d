/* Prediction Studio: a four-step page (Upload, Train, Results, Use) on top of the HTTP API
 * described in docs/API.md. Plain JavaScript, no build step, no third-party code.
 * Text from the server is always inserted with textContent (or esc() where HTML is built). */
'use strict';

(() => {
  // ---------------------------------------------------------------- constants

  const POLL_MS = 2000;
  const SOCKET_SILENCE_MS = 30000;   // no message for this long: the socket is considered dead
  const SOCKET_MAX_DELAY_MS = 30000;
  const OFFLINE_AFTER_ATTEMPTS = 3;
  const NETWORK_MESSAGE = "We couldn't reach the server. Check that it is running, then try again.";

  const LIGHTS = {
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
  };
  const LIGHT_ICONS = { green: '✓', yellow: '!', red: '✕' };
  const ACTIVE = new Set(['queued', 'running']);

  // ---------------------------------------------------------------- state

  const state = {
    dataset: null,   // Dataset
    target: null,    // column chosen in the select
    job: null,       // latest Job for the dataset
    model: null,     // Model being shown
    formModelId: null,
    downloadUrl: null,
  };
  let pollTimer = null;
  let modelRequest = null;   // id of the model being fetched, to avoid double fetches

  // ---------------------------------------------------------------- small helpers

  const $ = (id) => document.getElementById(id);

  /** Escape text for use inside HTML. */
  function esc(value) {
    return String(value ?? '').replace(/[&<>"']/g, (c) => ({
      '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    }[c]));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function isActive(job) {
    return Boolean(job) && ACTIVE.has(job.status);
  }

  function time(item) {
    const t = Date.parse(item && item.created_at);
    return Number.isNaN(t) ? -Infinity : t;
  }

  /** The most recently created item of a list (the first one wins a tie). */
  function newest(items) {
    return (items || []).reduce((best, item) => (best === null || time(item) > time(best) ? item : best), null);
  }

  function formatNumber(value) {
    const n = Number(value);
    if (!Number.isFinite(n)) return String(value);
    const abs = Math.abs(n);
    if (abs >= 1000) return n.toLocaleString(undefined, { maximumFractionDigits: 0 });
    if (abs >= 1) return n.toLocaleString(undefined, { maximumFractionDigits: 2 });
    if (abs === 0) return '0';
    return n.toLocaleString(undefined, { maximumSignificantDigits: 3 });
  }

  function percent(fraction) {
    return Math.round(Math.max(0, Math.min(1, Number(fraction) || 0)) * 100);
  }

  function prettyFeature(name) {
    return String(name).replace(/^(num|cat|remainder|onehot|scaler)__/, '');
  }

  function prefersReducedMotion() {
    return window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  }

  function bringIntoView(section, focusTarget) {
    section.scrollIntoView({ behavior: prefersReducedMotion() ? 'auto' : 'smooth', block: 'start' });
    if (focusTarget) focusTarget.focus({ preventScroll: true });
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
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

  /** The one way this page talks to the server. JSON in, JSON (or a Blob for files) out. */
  async function api(method, path, body) {
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
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    const type = response.headers.get('content-type') || '';
    return type.includes('json') ? response.json() : response.blob();
  }

  async function listItems(path) {
    try {
      const body = await api('GET', path);
      return (body && body.items) || [];
    } catch (err) {
      if (err.code === 'network') throw err;
      return [];
    }
  }

  // ---------------------------------------------------------------- errors

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

  // ---------------------------------------------------------------- lights

  function renderLight(node, light, kind) {
    const words = (LIGHTS[kind] || LIGHTS.model)[light];
    node.className = node.className.replace(/\blight-(green|yellow|red)\b/g, '').trim();
    node.replaceChildren();
    if (!words) return;
    node.classList.add('light-' + light);
    node.dataset.light = light;
    node.append(
      el('span', 'light-dot', LIGHT_ICONS[light]),
      el('span', 'light-title', words[0]),
      el('span', 'light-meaning', words[1]),
    );
    node.firstChild.setAttribute('aria-hidden', 'true');
  }

  // ---------------------------------------------------------------- step indicator

  function currentStep() {
    if (!state.dataset) return 'upload';
    if (!state.model) return 'train';
    return state.model.deployed ? 'use' : 'results';
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

  // ---------------------------------------------------------------- step 1: upload

  function targetOptions(dataset) {
    const columns = dataset.columns || [];
    const usable = columns.filter((c) => !['identifier', 'constant'].includes(c.kind) || c.name === dataset.target);
    return usable.length ? usable : columns;
  }

  function renderDataset() {
    const ds = state.dataset;
    show($('dataset-info'), Boolean(ds));
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
    const options = targetOptions(ds).map((c) => {
      const option = el('option', '', c.name);
      option.value = c.name;
      return option;
    });
    select.replaceChildren(...options);
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

  async function uploadFile(file) {
    if (!file) return;
    clearError();
    const status = $('upload-status');
    status.textContent = `Uploading “${file.name}” and checking it…`;
    $('drop-zone').classList.add('busy');
    const form = new FormData();
    form.append('file', file);
    try {
      const dataset = await api('POST', '/api/datasets', form);
      status.textContent = '';
      setDataset(dataset);
      bringIntoView($('step-upload'));
    } catch (err) {
      status.textContent = '';
      showError(err, $('step-upload'));
    } finally {
      $('drop-zone').classList.remove('busy');
      $('file-input').value = '';
    }
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

  // ---------------------------------------------------------------- step 2: train

  const JOB_NOTES = {
    queued: ['info', 'Waiting for the computer to be free…'],
    succeeded: ['success', 'Finished! Your results are below.'],
    cancelled: ['info', 'Training was stopped. You can start again whenever you like.'],
  };

  function renderJob() {
    const job = state.job;
    const active = isActive(job);
    show($('step-train'), Boolean(state.dataset));
    $('train-target').textContent = state.target || '';

    const showBar = Boolean(job) && (active || job.status === 'succeeded');
    show($('train-progress'), showBar);
    if (showBar) renderProgress(job);

    const note = $('train-status');
    let kind = null;
    let text = '';
    if (job && job.status === 'failed') {
      kind = 'error';
      text = 'Training did not finish. ' + (job.error || 'Please try again.');
    } else if (job && job.status === 'cancelled' && job.model_id) {
      [kind, text] = ['info', 'Training was stopped early. The best model it had found is below.'];
    } else if (job && JOB_NOTES[job.status] && !(job.status === 'succeeded' && !state.model)) {
      [kind, text] = JOB_NOTES[job.status];
    }
    note.textContent = text;
    note.dataset.kind = kind || '';
    show(note, Boolean(text));

    const trainButton = $('train-button');
    show(trainButton, !active);
    trainButton.textContent = job || state.model ? 'Train again' : 'Start training';
    trainButton.className = 'btn ' + (state.model ? 'btn-secondary' : 'btn-primary');
    const cancel = $('cancel-button');
    show(cancel, active);
    if (!active) {
      cancel.disabled = false;
      cancel.textContent = 'Cancel';
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
    if (job.model_id) loadModel(job.model_id, true);   // succeeded, or stopped early with a model
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
      button.textContent = 'Cancel';
      showError(err, $('step-train'));
    }
  }

  // ---------------------------------------------------------------- step 3: results

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
      return `Its guesses for “${model.target}” are typically off by about ${formatNumber(mae)}, ` +
        'judged on examples it had not seen while learning.';
    }
    const accuracy = metrics.accuracy ?? (model.score_name === 'accuracy' ? model.score : undefined);
    if (accuracy === undefined || accuracy === null) return '';
    return `It was right ${percent(accuracy)} times out of 100 on examples it had not seen while learning.`;
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
      const label = el('span', 'bar-label', f.name);
      const track = el('span', 'bar-track');
      const fill = el('span', 'bar-fill');
      fill.style.width = Math.max(share, 2) + '%';
      track.append(fill);
      track.setAttribute('aria-hidden', 'true');
      item.append(label, track, el('span', 'visually-hidden', ` – ${share}% as much influence as the top one`));
      return item;
    }));
    if (!top.length) list.append(el('li', 'hint', 'No breakdown is available for this model.'));
  }

  function renderModel() {
    const model = state.model;
    show($('step-results'), Boolean(model));
    if (!model) return;
    renderLight($('result-light'), model.light, 'model');
    $('result-summary').textContent = model.summary || '';
    $('result-score').textContent = scoreSentence(model);
    renderImportance(model);
    $('detail-algorithm').textContent = model.algorithm || '–';
    $('detail-score').textContent = model.score_name
      ? `${model.score_name} = ${formatNumber(model.score)}` : '–';
    $('detail-target').textContent = `${model.target || '–'} (${model.task || 'unknown task'})`;
    $('detail-metrics').textContent = JSON.stringify(
      { metrics: model.metrics || {}, leaderboard: model.leaderboard || [] }, null, 2);
  }

  // ---------------------------------------------------------------- step 4: use

  function renderUse() {
    const model = state.model;
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
      .filter((c) => c.name !== model.target && !['identifier', 'constant'].includes(c.kind))
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
    const container = $('predict-fields');
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
      if (isFinite(feature.min) && isFinite(feature.max) && feature.min !== null && feature.max !== null) {
        const hint = el('p', 'hint', `Usually between ${formatNumber(feature.min)} and ${formatNumber(feature.max)}`);
        hint.id = id + '-hint';
        control.setAttribute('aria-describedby', hint.id);
        wrap.append(hint);
      }
      return wrap;
    });
    container.replaceChildren(...fields);
    state.formModelId = model.id;
    show($('prediction-output'), false);
  }

  function readRow() {
    const row = {};
    $('predict-fields').querySelectorAll('[data-feature]').forEach((control) => {
      const name = control.dataset.feature;
      if (control.choiceValues) {
        row[name] = control.choiceValues[Number(control.value)];
      } else if (control.value.trim() === '') {
        row[name] = null;
      } else if (control.dataset.kind === 'numeric') {
        row[name] = Number(control.value);
      } else {
        row[name] = control.value;
      }
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
      const how = (result.confidence || [])[0];
      if (how) main += `, ${how} confidence`;
      others = entries
        .filter(([label]) => label !== String(prediction))
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([label, p]) => `${label}: ${percent(p)}%`);
    }
    output.replaceChildren(el('p', 'prediction-main', main));
    const target = state.model && state.model.target;
    if (target) output.append(el('p', 'hint', `What the model expects “${target}” to be for this example.`));
    if (others.length) output.append(el('p', 'hint', 'Other possibilities: ' + others.join(' · ')));
    const unusual = (result.unusual || [])[0];
    if (unusual && unusual.unusual) {
      output.append(el('p', 'hint', 'Take this one with care: ' + unusual.reasons.join(' ')));
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

  // ---------------------------------------------------------------- live updates (WebSocket)

  const socket = { ws: null, attempts: 0, timer: null, lastSeen: 0 };

  function setConnection(kind) {
    const badge = $('connection-status');
    const words = { connected: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };
    badge.dataset.state = kind;
    badge.textContent = words[kind];
    badge.title = kind === 'connected'
      ? 'Live updates are on.'
      : 'Live updates are paused. The page still checks for progress every few seconds.';
  }

  function socketUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws`;
  }

  function connectSocket() {
    clearTimeout(socket.timer);
    if (!location.host) {        // opened as a file: there is no server to talk to
      setConnection('offline');
      return;
    }
    let ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    socket.ws = ws;
    ws.onopen = () => {
      socket.attempts = 0;
      socket.lastSeen = Date.now();
      setConnection('connected');
    };
    ws.onmessage = (event) => {
      socket.lastSeen = Date.now();
      handleMessage(ws, event.data);
    };
    ws.onclose = () => {
      if (socket.ws !== ws) return;
      socket.ws = null;
      scheduleReconnect();
    };
    ws.onerror = () => { /* a close event follows; reconnecting happens there */ };
  }

  function scheduleReconnect() {
    socket.attempts += 1;
    setConnection(socket.attempts > OFFLINE_AFTER_ATTEMPTS || navigator.onLine === false ? 'offline' : 'reconnecting');
    const base = Math.min(SOCKET_MAX_DELAY_MS, 1000 * 2 ** (socket.attempts - 1));
    clearTimeout(socket.timer);
    socket.timer = setTimeout(connectSocket, base * (0.8 + Math.random() * 0.4));
  }

  function watchSocket() {
    const ws = socket.ws;
    if (ws && ws.readyState === WebSocket.OPEN && Date.now() - socket.lastSeen > SOCKET_SILENCE_MS) ws.close();
  }

  function handleMessage(ws, raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch (_) {
      return;
    }
    if (!message || typeof message !== 'object') return;
    const data = message.data || {};
    if (message.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    else if (message.type === 'metrics') renderMetrics(data);
    else if (message.type === 'job') onJobMessage(data);
    else if (message.type === 'model') onModelMessage(data);
  }

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
    if (!state.model || id !== state.model.id) return;
    if (data.deployed === true && !state.model.deployed) {
      state.model.deployed = true;
      renderAll();
    }
  }

  function renderMetrics(data) {
    const parts = [['CPU', data.cpu_percent], ['memory', data.memory_percent], ['disk', data.disk_percent]]
      .filter(([, v]) => typeof v === 'number' && Number.isFinite(v))
      .map(([name, v]) => `${name} ${Math.round(v)}%`);
    if (parts.length) $('system-status').textContent = 'Computer: ' + parts.join(' · ');
  }

  // ---------------------------------------------------------------- start-up

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
      [datasets, jobs, models] = await Promise.all(
        ['/api/datasets', '/api/jobs', '/api/models'].map(listItems));
    } catch (err) {
      showError(err, $('step-upload'));
      return;
    }
    if (state.dataset) return;   // the user already uploaded something meanwhile

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
    let modelId = job && job.status === 'succeeded' ? job.model_id : null;
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
      renderJob();
    });
    $('train-button').addEventListener('click', startTraining);
    $('cancel-button').addEventListener('click', cancelTraining);
    $('deploy-button').addEventListener('click', deployModel);
    $('predict-form').addEventListener('submit', predictOne);
    $('batch-file-input').addEventListener('change', (e) => scoreFile(e.target.files[0]));
    window.addEventListener('online', () => { socket.attempts = 0; if (!socket.ws) connectSocket(); });
    window.addEventListener('offline', () => setConnection('offline'));
  }

  function start() {
    bindEvents();
    renderAll();
    connectSocket();
    setInterval(watchSocket, 5000);
    if (location.protocol !== 'file:') restore();
  }

  // Exposed for debugging and browser tests only.
  window.predictionStudio = { state, esc };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
