/* Step 3, Results: how good the model is in words and numbers, what mattered most, and for
 * labels where it gets confused; the technical details one click away. */

import {
  $, el, show, formatNumber, percent, api, renderLight, tableHead, ALGORITHM_WORDS,
} from '../core.js';
import { state, shownModel, renderAll, bringIntoView, showError } from './shared.js';

let modelRequest = null;   // id of the model being fetched, to avoid double fetches

function prettyFeature(name) {
  return String(name).replace(/^(num|cat|remainder|onehot|scaler)__/, '');
}

export async function loadModel(id, announce, attempt = 1) {
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
  const rows = cm.labels.map((label, i) => {
    const tr = el('tr');
    const th = el('th', '', String(label));
    th.scope = 'row';
    tr.append(th, ...cm.labels.map((_, j) => el('td', i === j ? 'cell-right' : 'cell-wrong', formatNumber(cm.matrix[i][j]))));
    return tr;
  });
  const tbody = el('tbody');
  tbody.append(...rows);
  table.append(caption, tableHead(['Real answer ↓ / Model said →', ...cm.labels.map(String)]), tbody);
}

function renderLeaderboard(model) {
  const table = $('detail-leaderboard');
  const rows = (model.leaderboard || []).slice(0, 10);
  table.replaceChildren();
  if (!rows.length) return;
  const thead = tableHead(['Approach', model.score_name || 'Score', 'Seconds']);
  const tbody = el('tbody');
  tbody.append(...rows.map((r) => {
    const tr = el('tr');
    tr.append(el('td', '', String(r.algorithm ?? '')), el('td', '', formatNumber(r.score)),
      el('td', '', formatNumber(r.fit_seconds)));
    return tr;
  }));
  table.append(thead, tbody);
}

export function renderModel() {
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
