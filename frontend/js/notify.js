/* Browser notifications when training finishes, obeying the saved "notify_on_complete" setting.
 * Permission is asked for on a click (browsers ignore it otherwise). Email is the server's job. */

import { api } from './core.js';

let settings = null;
const told = new Set();   // job ids already notified, so a reconnect does not repeat one

export async function loadSettings() {
  try {
    settings = await api('GET', '/api/settings');
  } catch (_) { /* keep what we had */ }
  return settings;
}

export function currentSettings() {
  return settings;
}

const supported = () => typeof window.Notification === 'function';

/** Call from a click: ask once, if notifications are wanted and the browser has not been asked. */
export function askPermission() {
  if (!supported() || !settings || !settings.notify_on_complete) return;
  if (Notification.permission === 'default') {
    Notification.requestPermission().catch(() => { /* the user or browser said no */ });
  }
}

/** Tell the user a training run ended (only once per job, only if wanted and allowed). */
export function trainingEnded(job, target) {
  if (!supported() || !settings || !settings.notify_on_complete) return;
  if (Notification.permission !== 'granted' || told.has(job.id)) return;
  told.add(job.id);
  const title = job.status === 'succeeded' ? 'Your model is ready' : 'Training did not finish';
  const body = job.status === 'succeeded'
    ? `The model that predicts “${target}” has finished learning. Open Prediction Studio to see how good it is.`
    : job.error || 'Open Prediction Studio to see what happened.';
  try {
    const note = new Notification(title, { body, tag: `job-${job.id}` });
    note.onclick = () => { window.focus(); note.close(); };
  } catch (_) { /* some browsers only allow notifications from a service worker */ }
}
