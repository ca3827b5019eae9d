/* Settings: how long training may take, which kind of model to make, whether to be told when
 * training finishes, and whether old data is deleted by itself. GET and PUT /api/settings. */

import { el, api, ALGORITHM_WORDS } from '../core.js';

const TIME_CHOICES = [30, 60, 120, 300, 600, 1800, 3600];
const ALGORITHM_HELP = {
  auto: 'Tries every kind below and keeps the best one, or a mix of the best. Right for most data.',
  gradient_boosting: 'Many small decision trees, each one fixing the mistakes of those before it. Often the most accurate.',
  random_forest: 'Many decision trees that each look at the data a little differently, then vote. Steady and hard to fool.',
  extra_trees: 'Like a random forest, but the trees are built more randomly. Quick, and copes well with messy data.',
  linear: 'One simple formula that adds up the details. Easy to follow; best when things go up or down steadily.',
  nearest_neighbours: 'Finds the past examples most like the new one and goes with what happened to them.',
};
const DEFAULT_DAYS = 90;

const form = {};
let emailOn = null;       // whether the server sends emails (from /api/system), when known

// ------------------------------------------------------------------ words

function timeWords(s) {
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  const rest = s % 60;
  const minutes = `${m} minute${m === 1 ? '' : 's'}`;
  return rest ? `${minutes} ${rest} seconds` : minutes;
}

function say(message, kind) {
  form.status.textContent = message || '';
  form.status.hidden = !message;
  form.status.dataset.kind = kind || '';
}

function notifyNote(message, kind) {
  form.notifyStatus.textContent = message || '';
  form.notifyStatus.hidden = !message;
  form.notifyStatus.dataset.kind = kind || '';
}

function emailWords() {
  if (emailOn === true) return 'Your administrator has set up email, so an email is sent as well.';
  if (emailOn === false) return 'An email is sent as well if your administrator sets up email; it is not set up on this server yet.';
  return 'An email is sent as well if your administrator has set up email.';
}

// ------------------------------------------------------------------ building the form

function field(className) {
  return el('div', `field ${className || ''}`.trim());
}

function labelFor(id, text) {
  const label = el('label', null, text);
  label.htmlFor = id;
  return label;
}

function hint(id, text) {
  const p = el('p', 'hint', text);
  p.id = id;
  return p;
}

function build(body) {
  const node = el('form', 'card settings-form');
  node.noValidate = true;
  node.setAttribute('aria-labelledby', 'settings-title');

  // Time limit
  const time = field();
  form.time = el('select');
  form.time.id = 'settings-time';
  form.time.setAttribute('aria-describedby', 'settings-time-hint');
  time.append(labelFor('settings-time', 'Time limit for training'), form.time,
    hint('settings-time-hint', 'The most one training run may take. A longer limit can find a slightly better model; most files need only a minute.'));

  // Kind of model
  const kind = field();
  form.algorithm = el('select');
  form.algorithm.id = 'settings-algorithm';
  form.algorithm.setAttribute('aria-describedby', 'settings-algorithm-hint');
  for (const [value, words] of Object.entries(ALGORITHM_WORDS)) {
    const option = el('option', null, words);
    option.value = value;
    form.algorithm.append(option);
  }
  form.algorithmHint = hint('settings-algorithm-hint', '');
  form.algorithm.addEventListener('change', () => { form.algorithmHint.textContent = ALGORITHM_HELP[form.algorithm.value] || ''; });
  kind.append(labelFor('settings-algorithm', 'Kind of model'), form.algorithm, form.algorithmHint);

  // Notifications
  const notify = field('check-field');
  form.notify = el('input');
  form.notify.type = 'checkbox';
  form.notify.id = 'settings-notify';
  form.notify.setAttribute('aria-describedby', 'settings-notify-hint');
  const notifyRow = el('div', 'check-row');
  notifyRow.append(form.notify, labelFor('settings-notify', 'Tell me when training finishes'));
  form.notifyHint = hint('settings-notify-hint', '');
  form.notifyStatus = el('p', 'notice');
  form.notifyStatus.setAttribute('role', 'status');
  form.notifyStatus.hidden = true;
  form.notify.addEventListener('change', askPermission);
  notify.append(notifyRow, form.notifyHint, form.notifyStatus);

  // Clean-up
  const cleanup = field('check-field');
  form.cleanup = el('input');
  form.cleanup.type = 'checkbox';
  form.cleanup.id = 'settings-cleanup';
  form.cleanup.setAttribute('aria-describedby', 'settings-cleanup-hint');
  const cleanupRow = el('div', 'check-row');
  cleanupRow.append(form.cleanup, labelFor('settings-cleanup', 'Delete old data automatically'));
  const daysRow = el('div', 'days-row');
  form.days = el('input');
  form.days.type = 'number';
  form.days.id = 'settings-days';
  form.days.min = '1';
  form.days.max = '3650';
  form.days.step = '1';
  form.days.inputMode = 'numeric';
  form.days.setAttribute('aria-describedby', 'settings-cleanup-hint');
  daysRow.append(labelFor('settings-days', 'after'), form.days, el('span', null, 'days'));
  form.cleanup.addEventListener('change', () => {
    form.days.disabled = !form.cleanup.checked;
    if (form.cleanup.checked && !form.days.value) form.days.value = String(DEFAULT_DAYS);
  });
  cleanup.append(cleanupRow, daysRow, hint('settings-cleanup-hint',
    'Uploaded files, finished training runs and models older than this are removed. Models that were ever switched on are kept.'));

  const actions = el('div', 'actions');
  form.save = el('button', 'btn btn-primary', 'Save');
  form.save.type = 'submit';
  actions.append(form.save);
  form.status = el('p', 'notice');
  form.status.setAttribute('role', 'status');
  form.status.hidden = true;

  node.append(time, kind, notify, cleanup, actions, form.status);
  node.addEventListener('submit', (event) => { event.preventDefault(); save(); });
  form.node = node;
  body.append(el('p', 'lead', 'These choices apply to every new training run.'), node);
}

// ------------------------------------------------------------------ filling in and reading back

function timeOptions(current) {
  const values = [...new Set([...TIME_CHOICES, current].filter((v) => Number.isInteger(v)))].sort((a, b) => a - b);
  form.time.replaceChildren(...values.map((s) => {
    const option = el('option', null, timeWords(s));
    option.value = String(s);
    return option;
  }));
  form.time.value = String(current);
}

function fill(settings) {
  timeOptions(settings.time_budget_s);
  if (!form.algorithm.querySelector(`option[value="${CSS.escape(settings.algorithm)}"]`)) {
    const option = el('option', null, settings.algorithm);   // a kind this page does not know yet
    option.value = settings.algorithm;
    form.algorithm.append(option);
  }
  form.algorithm.value = settings.algorithm;
  form.algorithmHint.textContent = ALGORITHM_HELP[settings.algorithm] || '';
  form.notify.checked = Boolean(settings.notify_on_complete);
  const days = settings.cleanup_after_days;
  form.cleanup.checked = days !== null && days !== undefined;
  form.days.value = form.cleanup.checked ? String(days) : '';
  form.days.disabled = !form.cleanup.checked;
  form.notifyHint.textContent = `This browser shows a message when a training run ends, even while you are on another tab. ${emailWords()}`;
}

/** The form as a settings object, or a plain sentence saying what to fix. */
function read() {
  const value = {
    time_budget_s: Number(form.time.value),
    algorithm: form.algorithm.value,
    notify_on_complete: form.notify.checked,
    cleanup_after_days: null,
  };
  if (form.cleanup.checked) {
    const days = Number(form.days.value);
    if (!form.days.value.trim() || !Number.isInteger(days) || days < 1 || days > 3650) {
      return { problem: 'Please enter a whole number of days between 1 and 3650, or untick “Delete old data automatically”.', focus: form.days };
    }
    value.cleanup_after_days = days;
  }
  return { value };
}

async function load() {
  form.save.disabled = true;
  try {
    const [settings, system] = await Promise.all([
      api('GET', '/api/settings'),
      api('GET', '/api/system?history=false').catch(() => null),
    ]);
    if (system && system.setup) emailOn = Boolean(system.setup.email);
    fill(settings);
    form.save.disabled = false;
  } catch (err) {
    say(`The settings could not be read. ${err.message}`, 'error');
  }
}

async function save() {
  const { value, problem, focus } = read();
  if (problem) {
    say(problem, 'error');
    form.days.setAttribute('aria-invalid', 'true');
    focus.focus();
    return;
  }
  form.days.removeAttribute('aria-invalid');
  form.save.disabled = true;
  say('Saving…');
  try {
    fill(await api('PUT', '/api/settings', value));
    say('Saved. New training runs use these settings.', 'success');
  } catch (err) {
    say(err.message, 'error');
  } finally {
    form.save.disabled = false;
  }
}

// ------------------------------------------------------------------ notifications

async function askPermission() {
  notifyNote('');
  if (!form.notify.checked) return;
  if (!('Notification' in window)) {
    notifyNote('This browser cannot show messages. You will still see the result on the Home and Pipeline pages.');
    return;
  }
  let permission = Notification.permission;
  if (permission === 'default') {
    try {
      permission = await Notification.requestPermission();
    } catch (_) {
      permission = Notification.permission;
    }
  }
  if (permission === 'granted') notifyNote('This browser will show a message when training finishes. Press Save to keep this choice.', 'success');
  else if (permission === 'denied') notifyNote('Your browser blocked messages from this page. To allow them, open the site settings in your browser (often the icon left of the address) and allow notifications.', 'error');
  else notifyNote('The browser did not allow messages yet. You can still save; you will see the result on the Home and Pipeline pages.');
}

export default {
  mount(body) {
    body.classList.add('settings-page');
    build(body);
  },

  show() {
    say('');
    notifyNote('');
    load();
  },

  hide() {},
};
