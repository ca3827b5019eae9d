/* Data: every uploaded file with its quality light; for the one picked, its notes, its columns,
 * its first rows, and a way to delete it. `#/data/<id>` opens one file directly. */

import {
  el, api, listItems, formatNumber, ago, bytes, renderLight, tableHead, LIGHTS, LIGHT_ICONS,
} from '../core.js';
import * as live from '../live.js';

const PREVIEW_ROWS = 20;
const KIND_WORDS = {
  numeric: 'number',
  categorical: 'category',
  datetime: 'date',
  text: 'free text',
  identifier: 'ID (not used)',
  constant: 'same in every row (not used)',
};
const TASK_WORDS = { classification: 'one of a few values', regression: 'a number' };

const state = {
  body: null, tableBody: null, listStatus: null, empty: null, detail: null, dialog: null,
  datasets: [], selected: null, unsubscribe: [], loadToken: 0,
};

// ------------------------------------------------------------------ helpers

function idFromHash() {
  const match = location.hash.match(/^#\/?data\/([^/?]+)/);
  return match ? decodeURIComponent(match[1]) : null;
}

function say(node, message, kind) {
  node.textContent = message || '';
  node.hidden = !message;
  if (kind) node.dataset.kind = kind;
  else delete node.dataset.kind;
}

/** A small light for a table cell: icon and word (the meaning goes in the title). */
function smallLight(light) {
  const words = LIGHTS.dataset[light];
  const node = el('span', `light-chip light-${light}`);
  if (!words) { node.textContent = '–'; return node; }
  const icon = el('span', 'light-chip-icon', LIGHT_ICONS[light]);
  icon.setAttribute('aria-hidden', 'true');
  node.append(icon, words[0]);
  node.title = words[1];
  return node;
}

function cell(tag, text, className) {
  return el(tag, className, text);
}

// ------------------------------------------------------------------ the list

function renderList() {
  const rows = state.datasets.map((d) => {
    const tr = el('tr');
    tr.dataset.id = d.id;
    if (state.selected === d.id) tr.setAttribute('aria-current', 'true');
    const nameCell = el('th');
    nameCell.scope = 'row';
    const button = el('button', 'link-button', d.name);
    button.type = 'button';
    button.setAttribute('aria-pressed', String(state.selected === d.id));
    button.addEventListener('click', () => select(d.id, true));
    nameCell.append(button);
    const when = el('time', null, ago(d.created_at));
    when.dateTime = d.created_at;
    when.title = new Date(d.created_at).toLocaleString();
    const whenCell = el('td');
    whenCell.append(when);
    const lightCell = el('td');
    lightCell.append(smallLight(d.light));
    tr.append(
      nameCell,
      cell('td', formatNumber(d.rows), 'num'),
      cell('td', formatNumber(d.columns.length), 'num'),
      cell('td', bytes(d.size_bytes), 'num'),
      whenCell,
      lightCell,
    );
    return tr;
  });
  state.tableBody.replaceChildren(...rows);
  state.tableBody.closest('.table-wrap').hidden = rows.length === 0;
  state.empty.hidden = rows.length > 0;
}

async function loadList() {
  try {
    state.datasets = await listItems('/api/datasets');
    say(state.listStatus, '');
  } catch (err) {
    say(state.listStatus, err.message, 'error');
  }
  const wanted = idFromHash() || state.selected;
  const pick = state.datasets.find((d) => d.id === wanted) || state.datasets[0];
  renderList();
  if (wanted && !state.datasets.some((d) => d.id === wanted) && idFromHash() === wanted) {
    say(state.listStatus, 'That file is no longer here. It may have been deleted.', 'error');
  }
  if (pick) select(pick.id, false);
  else { state.selected = null; state.detail.replaceChildren(); }
}

// ------------------------------------------------------------------ one dataset

function columnsTable(dataset) {
  const table = el('table', 'table');
  table.append(el('caption', 'visually-hidden', `Columns of ${dataset.name}`));
  const thead = tableHead(['Column', 'Kind', ['Gaps', 'num'], ['Different values', 'num'], 'Note']);
  const tbody = el('tbody');
  for (const column of dataset.columns) {
    const tr = el('tr');
    const name = el('th', null, column.name);
    name.scope = 'row';
    const missing = column.missing
      ? `${formatNumber(column.missing)} (${Math.max(1, Math.round((100 * column.missing) / Math.max(1, dataset.rows)))}%)`
      : 'none';
    let note = '';
    if (column.name === dataset.target) note = 'The column to predict';
    else if (column.leaks_target) note = 'Gives the answer away, so it is not used';
    tr.append(name, cell('td', KIND_WORDS[column.kind] || column.kind), cell('td', missing, 'num'),
      cell('td', formatNumber(column.unique), 'num'), cell('td', note));
    if (column.name === dataset.target) tr.dataset.target = 'true';
    tbody.append(tr);
  }
  table.append(thead, tbody);
  return wrap(table);
}

function previewTable(dataset, preview) {
  const table = el('table', 'table preview');
  table.append(el('caption', 'visually-hidden', `The first ${preview.rows.length} rows of ${dataset.name}`));
  const thead = tableHead(preview.columns.map(String));
  const tbody = el('tbody');
  for (const row of preview.rows) {
    const tr = el('tr');
    for (const value of row) {
      const blank = value === null || value === undefined || value === '';
      tr.append(cell('td', blank ? '(blank)' : String(value), blank ? 'blank' : null));
    }
    tbody.append(tr);
  }
  table.append(thead, tbody);
  return wrap(table);
}

function wrap(table) {
  const box = el('div', 'table-wrap');
  box.tabIndex = 0;   // lets keyboard users scroll a wide table
  box.setAttribute('role', 'region');
  box.setAttribute('aria-label', table.querySelector('caption').textContent);
  box.append(table);
  return box;
}

function renderDetail(dataset) {
  const card = el('section', 'card dataset-detail');
  card.setAttribute('aria-labelledby', 'data-detail-title');
  const head = el('div', 'dataset-head');
  const title = el('h2', 'dataset-name', dataset.name);
  title.id = 'data-detail-title';
  title.tabIndex = -1;
  const light = el('div', 'light');
  renderLight(light, dataset.light, 'dataset');
  head.append(title, light);

  const facts = el('dl', 'facts');
  for (const [label, value] of [
    ['Rows', formatNumber(dataset.rows)],
    ['Columns', formatNumber(dataset.columns.length)],
    ['Size', bytes(dataset.size_bytes)],
  ]) {
    const div = el('div');
    div.append(el('dt', null, label), el('dd', null, value));
    facts.append(div);
  }
  const about = el('p', 'hint', `Uploaded ${ago(dataset.created_at)}. Predicts “${dataset.target}” (${TASK_WORDS[dataset.task] || dataset.task}).`);

  const notesTitle = el('h3', 'subhead', 'Notes about this data');
  const notes = el('ul', 'messages');
  for (const message of dataset.messages || []) notes.append(el('li', null, message));
  if (!notes.children.length) notes.append(el('li', null, 'Nothing to point out.'));

  const columnsTitle = el('h3', 'subhead', 'Columns');
  const columnsHint = el('p', 'hint', '“Gaps” are empty cells. Columns marked “not used” are left out when the computer learns.');

  const previewTitle = el('h3', 'subhead', `First ${PREVIEW_ROWS} rows`);
  const previewBox = el('div', 'preview-box');
  previewBox.append(el('p', 'hint', 'Loading the first rows…'));

  const actions = el('div', 'actions');
  const remove = el('button', 'btn btn-secondary btn-danger', 'Delete this file');
  remove.type = 'button';
  remove.addEventListener('click', () => confirmDelete(dataset));
  actions.append(remove);
  const status = el('p', 'notice');
  status.hidden = true;
  status.setAttribute('role', 'status');
  status.id = 'data-detail-status';

  card.append(head, facts, about, notesTitle, notes, columnsTitle, columnsHint, columnsTable(dataset),
    previewTitle, previewBox, actions, status);
  state.detail.replaceChildren(card);
  loadPreview(dataset, previewBox);
}

async function loadPreview(dataset, box) {
  const token = state.loadToken;
  try {
    const preview = await api('GET', `/api/datasets/${encodeURIComponent(dataset.id)}/preview?rows=${PREVIEW_ROWS}`);
    if (token !== state.loadToken) return;
    box.replaceChildren(previewTable(dataset, preview));
  } catch (err) {
    if (token !== state.loadToken) return;
    const message = err.status === 404 ? 'The rows of this file could not be found. It may have been deleted.' : err.message;
    const note = el('p', 'notice', message);
    note.dataset.kind = 'error';
    box.replaceChildren(note);
  }
}

function select(id, byUser) {
  const dataset = state.datasets.find((d) => d.id === id);
  if (!dataset) return;
  const changed = state.selected !== id || !state.detail.firstElementChild;
  state.selected = id;
  const hash = `#/data/${encodeURIComponent(id)}`;
  if (location.hash !== hash) history.replaceState(null, '', hash);
  for (const tr of state.tableBody.children) {
    const mine = tr.dataset.id === id;
    tr.querySelector('button').setAttribute('aria-pressed', String(mine));
    if (mine) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
  }
  if (!changed) return;
  state.loadToken += 1;
  renderDetail(dataset);
  if (byUser) state.detail.querySelector('h2').focus({ preventScroll: false });
}

// ------------------------------------------------------------------ delete

function buildDialog() {
  const dialog = el('dialog', 'confirm-dialog');
  dialog.setAttribute('aria-labelledby', 'data-delete-question');
  const form = el('form');
  form.method = 'dialog';
  const question = el('p', 'confirm-question');
  question.id = 'data-delete-question';
  const hint = el('p', 'hint', 'Models already made from it keep working.');
  const actions = el('div', 'actions');
  const keep = el('button', 'btn btn-secondary', 'Keep it');
  keep.value = 'keep';
  const yes = el('button', 'btn btn-primary btn-danger-solid', 'Delete');
  yes.value = 'delete';
  actions.append(keep, yes);
  form.append(question, hint, actions);
  dialog.append(form);
  return dialog;
}

function ask(question) {
  const dialog = state.dialog;
  if (typeof dialog.showModal !== 'function') return Promise.resolve(window.confirm(`${question} Models already made from it keep working.`));
  dialog.querySelector('.confirm-question').textContent = question;
  return new Promise((resolve) => {
    dialog.returnValue = '';
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), { once: true });
    dialog.showModal();
    dialog.querySelector('button[value="keep"]').focus();
  });
}

async function confirmDelete(dataset) {
  if (!(await ask(`Delete “${dataset.name}”?`))) {
    const button = state.detail.querySelector('.btn-danger');
    if (button) button.focus();
    return;
  }
  const status = document.getElementById('data-detail-status');
  try {
    await api('DELETE', `/api/datasets/${encodeURIComponent(dataset.id)}`);
  } catch (err) {
    if (err.status !== 404) {
      if (status) say(status, err.message, 'error');
      return;
    }
  }
  state.selected = null;
  if (idFromHash()) history.replaceState(null, '', '#/data');
  await loadList();
  say(state.listStatus, `Deleted “${dataset.name}”. Models already made from it keep working.`, 'success');
  state.listStatus.focus();
}

// ------------------------------------------------------------------ page

function onHash() {
  const id = idFromHash();
  if (id && id !== state.selected) {
    if (state.datasets.some((d) => d.id === id)) select(id, true);
    else loadList();
  }
}

function onActivity(item) {
  if (item && /dataset|upload|clean|sample/i.test(item.kind || '')) loadList();
}

export default {
  mount(body) {
    state.body = body;
    body.classList.add('data-page');
    const intro = el('p', 'lead', 'Every file you have uploaded. Pick one to see its columns, its first rows and what we noticed about it.');
    const listCard = el('section', 'card');
    listCard.setAttribute('aria-labelledby', 'data-list-title');
    const listTitle = el('h2', null, 'Your files');
    listTitle.id = 'data-list-title';
    state.listStatus = el('p', 'notice');
    state.listStatus.setAttribute('role', 'status');
    state.listStatus.tabIndex = -1;
    state.listStatus.hidden = true;
    state.empty = el('p', 'hint', 'No files yet. Upload one on the Home page.');
    state.empty.hidden = true;

    const table = el('table', 'table datasets-table');
    table.append(el('caption', 'visually-hidden', 'Uploaded files, newest first'));
    const thead = tableHead(['Name', ['Rows', 'num'], ['Columns', 'num'], ['Size', 'num'], 'Uploaded', 'Quality']);
    state.tableBody = el('tbody');
    table.append(thead, state.tableBody);
    const tableWrap = el('div', 'table-wrap');
    tableWrap.tabIndex = 0;   // lets keyboard users scroll it on a small screen
    tableWrap.setAttribute('role', 'region');
    tableWrap.setAttribute('aria-label', 'Uploaded files');
    tableWrap.append(table);
    listCard.append(listTitle, state.listStatus, state.empty, tableWrap);

    state.detail = el('div', 'data-detail');
    state.dialog = buildDialog();
    body.append(intro, listCard, state.detail, state.dialog);
  },

  show() {
    if (!state.unsubscribe.length) {
      state.unsubscribe = [live.on('resumed', loadList), live.on('activity', onActivity)];
      window.addEventListener('hashchange', onHash);
    }
    loadList();
  },

  hide() {
    state.unsubscribe.forEach((off) => off());
    state.unsubscribe = [];
    window.removeEventListener('hashchange', onHash);
    if (state.dialog.open) state.dialog.close();
  },
};
