/* The page shell: navigation between pages, the computer's readings and the connection badge in
 * the top bar, and the activity feed. Home (the four steps) lives in home.js; every other page in
 * pages/<name>.js, loaded the first time it is opened. */

import { $, el, ago, usageLight, listItems } from './core.js';
import * as live from './live.js';
import * as home from './home.js';

const PAGES = ['home', 'pipeline', 'data', 'monitoring', 'architecture', 'settings'];
const modules = { home: { mount() {}, show: home.onShow } };  // Home is built in index.html
const mounted = new Set();
let current = null;

// ------------------------------------------------------------------ navigation

function pageFromHash() {
  const name = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return PAGES.includes(name) ? name : 'home';
}

async function loadPage(name) {
  if (!modules[name]) modules[name] = (await import(`./pages/${name}.js`)).default;
  return modules[name];
}

async function route() {
  const name = pageFromHash();
  if (name === current) return;
  const previous = current;
  current = name;
  for (const section of document.querySelectorAll('main > .page')) section.hidden = section.dataset.page !== name;
  for (const link of document.querySelectorAll('.nav a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const title = name === 'home' ? 'Prediction Studio' : `${$(name + '-title').textContent} – Prediction Studio`;
  document.title = title;
  if (previous && modules[previous] && modules[previous].hide) modules[previous].hide();
  const section = $('page-' + name);
  try {
    const page = await loadPage(name);
    if (!mounted.has(name)) {
      mounted.add(name);
      page.mount(section.querySelector('.page-body') || section);
    }
    if (current === name && page.show) page.show();
  } catch (err) {
    console.warn(`page ${name} failed to load`, err);
    const body = section.querySelector('.page-body') || section;
    body.replaceChildren(el('p', 'notice', 'This page could not be shown. Please reload to try again.'));
  }
  if (previous) $(name + '-title').focus({ preventScroll: true });
}

// ------------------------------------------------------------------ top bar

const READINGS = [['cpu', 'cpu_percent', 'Processor'], ['memory', 'memory_percent', 'Memory'], ['disk', 'disk_percent', 'Disk']];
const USAGE_WORDS = { green: 'fine', yellow: 'busy', red: 'nearly full' };

function renderReadings(sample) {
  for (const [id, field, label] of READINGS) {
    const value = sample[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    const item = $('reading-' + id);
    const light = usageLight(value);
    item.dataset.light = light;
    item.querySelector('.reading-value').textContent = `${Math.round(value)}%`;
    item.title = `${label}: ${Math.round(value)}% in use (${USAGE_WORDS[light]})`;
  }
}

const BADGE = {
  good: ['Connection: good', 'Live updates are on.'],
  slow: ['Connection: slow', 'Live updates are arriving slowly.'],
  reconnecting: ['Reconnecting…', 'The connection dropped. Trying again; the page keeps working.'],
  offline: ['Offline', 'The server cannot be reached. The page will reconnect by itself.'],
};

function renderBadge({ status, rtt }) {
  const badge = $('connection-status');
  const [text, title] = BADGE[status] || BADGE.reconnecting;
  badge.dataset.state = status === 'good' ? 'connected' : status;
  badge.textContent = text;
  badge.title = rtt !== null && (status === 'good' || status === 'slow') ? `${title} Round trip: ${rtt} ms.` : title;
}

// ------------------------------------------------------------------ activity feed

const FEED_SIZE = 12;

function feedItem(item) {
  const li = el('li', 'feed-item');
  li.dataset.kind = item.kind || '';
  const when = el('time', 'feed-time', ago(item.created_at || new Date().toISOString()));
  if (item.created_at) when.dateTime = item.created_at;
  li.append(el('span', 'feed-text', item.message), when);
  return li;
}

function renderFeed(items) {
  const feed = $('activity-feed');
  feed.replaceChildren(...items.slice(0, FEED_SIZE).map(feedItem));
  $('activity-empty').hidden = feed.children.length > 0;
}

function addToFeed(item) {
  const feed = $('activity-feed');
  feed.prepend(feedItem({ ...item, created_at: item.created_at || new Date().toISOString() }));
  while (feed.children.length > FEED_SIZE) feed.lastElementChild.remove();
  $('activity-empty').hidden = true;
}

async function loadFeed() {
  try {
    renderFeed(await listItems(`/api/activity?limit=${FEED_SIZE}`));
  } catch (_) { /* offline: the feed fills in once the connection is back */ }
}

// ------------------------------------------------------------------ start-up

function start() {
  live.on('status', renderBadge);
  live.on('metrics', renderReadings);
  live.on('activity', addToFeed);
  live.on('resumed', loadFeed);
  home.start();
  window.addEventListener('hashchange', route);
  route();
  live.start();
  if (location.protocol !== 'file:') loadFeed();
  setInterval(() => {   // keep "5 minutes ago" true
    for (const node of document.querySelectorAll('.feed-time[datetime]')) node.textContent = ago(node.dateTime);
  }, 30000);
}

// Exposed for debugging and browser tests only.
window.predictionStudio = { live, home };

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
