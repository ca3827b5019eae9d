/* Step 4, Use: switch the model on, ask about one example, score a whole file. */

import { $, el, show, formatNumber, percent, api } from '../core.js';
import {
  state, NOT_TRAINABLE, shownModel, renderAll, bringIntoView, showError, clearError,
} from './shared.js';

export function renderUse() {
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

export async function deployModel() {
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

const SURE_WORDS = { high: 'very sure', medium: 'fairly sure', low: 'not very sure' };

function renderPrediction(result) {
  const output = $('prediction-output');
  const prediction = (result.predictions || [])[0];
  const probs = (result.probabilities || [])[0] || null;
  const how = (result.confidence || [])[0];
  let main = `Prediction: ${answerText(prediction)}`;
  if (how) main += ` (${SURE_WORDS[how] || how})`;
  output.replaceChildren(el('p', 'prediction-main', main));
  const target = state.model && state.model.target;
  if (target) output.append(el('p', 'hint', `What the model expects “${target}” to be for this example.`));
  if (probs) {
    const chances = Object.entries(probs)
      .map(([label, p]) => [label, Number(p)])
      .sort((a, b) => b[1] - a[1]);
    const shown = chances.slice(0, 4).map(([label, p]) => `${label} ${percent(p)}%`);
    output.append(el('p', 'hint', 'Chances: ' + shown.join(' · ')));
    // Tuned to spot rare answers, the model may pick one that is not the likeliest: say why.
    if (chances.length && chances[0][0].toLowerCase() !== String(prediction).toLowerCase()) {
      output.append(el('p', 'hint', `It answers “${answerText(prediction)}” even below the ` +
        `top chance, because it is tuned to spot the rarer “${answerText(prediction)}” cases.`));
    }
  }
  const unusual = (result.unusual || [])[0];
  if (unusual && unusual.unusual) {
    output.append(el('p', 'notice', 'Take this one with care: ' + unusual.reasons.join(' ')));
  }
  show(output, true);
}

export async function predictOne(event) {
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

export async function scoreFile(file) {
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
