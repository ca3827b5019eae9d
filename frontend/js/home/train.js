/* Step 2, Train: start, watch live (socket, with polling as a fallback), cancel. */

import { $, show, percent, duration, api } from '../core.js';
import * as notify from '../notify.js';
import {
  state, isActive, shownModel, renderAll, showError, clearError,
} from './shared.js';
import { loadModel } from './results.js';

const POLL_MS = 2000;
let pollTimer = null;

const JOB_NOTES = {
  succeeded: ['success', 'Finished! Your results are below.'],
  cancelled: ['info', 'Training was stopped. You can start again whenever you like.'],
};

export function renderJob() {
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
  show($('cancel-hint'), active);
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
  const eta = Number(job.eta_s);
  $('progress-eta').textContent = isActive(job) && Number.isFinite(eta) && eta > 0 && job.eta_s !== null
    ? `About ${duration(eta)} left.` : '';
}

/** Accept a job update (from the socket, a poll or a POST) if it is about our job and not stale. */
export function applyJob(job) {
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
  renderAll();
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

export function ensurePolling() {
  if (pollTimer === null) pollTimer = setTimeout(pollJob, POLL_MS);
}

export function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

export async function startTraining() {
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

export async function cancelTraining() {
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
