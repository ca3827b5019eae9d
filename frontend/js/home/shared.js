/* What the four steps share: the state on screen, the error box, and one way to redraw. */

import { $, show } from '../core.js';

const ACTIVE = new Set(['queued', 'running']);
export const NOT_TRAINABLE = ['identifier', 'constant'];

export const state = {
  dataset: null,   // Dataset
  target: null,    // column chosen in the select
  job: null,       // latest Job for the dataset
  model: null,     // Model being shown
  samples: [],
  formModelId: null,
  downloadUrl: null,
};

export const isActive = (job) => Boolean(job) && ACTIVE.has(job.status);

/** The model the Results and Use steps show: none while another column is picked to predict. */
export function shownModel() {
  return state.model && (!state.target || state.model.target === state.target) ? state.model : null;
}

/** Redraw every step; home.js supplies it (the steps call it after changing the state). */
let redraw = () => {};
export function setRedraw(fn) { redraw = fn; }
export function renderAll() { redraw(); }

export function bringIntoView(section, focusTarget) {
  const reduced = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  section.scrollIntoView({ behavior: reduced ? 'auto' : 'smooth', block: 'start' });
  if (focusTarget) focusTarget.focus({ preventScroll: true });
}

/** Show a friendly error box at the top of the given step. */
export function showError(err, section) {
  const box = $('error-box');
  $('error-message').textContent = (err && err.message) || String(err);
  if (section) section.insertBefore(box, section.children[1] || null);
  show(box, true);
}

export function clearError() {
  show($('error-box'), false);
}
