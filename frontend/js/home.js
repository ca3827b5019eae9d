/* Home: the four steps (Upload, Train, Results, Use) on top of the HTTP API (docs/API.md).
 * Each step lives in home/<step>.js; this module ties them together and keeps them current:
 * state is re-read from the API on start and after every reconnect, so nothing is missed. */

import { $, time, newest, api, listItems } from './core.js';
import * as live from './live.js';
import * as notify from './notify.js';
import {
  state, isActive, shownModel, setRedraw, showError, clearError,
} from './home/shared.js';
import {
  renderDataset, useSample, renderSampleAbout, loadSamples, setUpDropZone,
} from './home/upload.js';
import {
  renderJob, applyJob, ensurePolling, startTraining, cancelTraining,
} from './home/train.js';
import { loadModel, renderModel } from './home/results.js';
import { renderUse, deployModel, predictOne, scoreFile } from './home/use.js';

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
  setRedraw(renderAll);
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

