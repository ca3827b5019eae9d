/* Step 1, Upload: a CSV dropped or picked, or a sample in one click; its light and notes. */

import { $, el, show, formatNumber, api, renderLight } from '../core.js';
import { state, NOT_TRAINABLE, renderAll, bringIntoView, showError, clearError } from './shared.js';
import { stopPolling } from './train.js';

function targetOptions(dataset) {
  const columns = dataset.columns || [];
  const usable = columns.filter((c) =>
    c.name === dataset.target || (!NOT_TRAINABLE.includes(c.kind) && !c.leaks_target));
  return usable.length ? usable : columns;
}

export function renderDataset() {
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

export function setDataset(dataset) {
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

export function useSample() {
  const sample = state.samples.find((s) => s.name === $('sample-select').value);
  if (!sample) return;
  uploadWith(sample.filename, () => api('POST', `/api/samples/${encodeURIComponent(sample.name)}/use`));
}

export function renderSampleAbout() {
  const sample = state.samples.find((s) => s.name === $('sample-select').value);
  $('sample-about').textContent = sample ? sample.about : '';
}

export async function loadSamples() {
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

export function setUpDropZone() {
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
