/* The page's one WebSocket to /ws: job progress, activity, health and machine readings.
 * Answers the server's heartbeat, measures the round trip itself, reconnects with exponential
 * backoff and jitter, and tells subscribers when it is back so they re-read what they missed. */

const PROBE_MS = 5000;          // how often the page measures the round trip
const SLOW_MS = 800;            // a round trip slower than this reads as "slow"
const SILENCE_MS = 25000;       // nothing heard for this long: the connection is dead
const MAX_DELAY_MS = 30000;
const OFFLINE_AFTER_ATTEMPTS = 4;

const handlers = new Map();     // type -> Set of functions
const state = {
  ws: null, attempts: 0, timer: null, nextAttempt: 0, shortcut: 0, lastSeen: 0, everOpen: false,
  probeId: 0, probeSent: 0, waitingFor: null, rtt: null, status: 'reconnecting',
};

/** Subscribe to a message type ("job", "metrics", ...), or to "status" and "resumed". */
export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

function emit(type, data) {
  for (const fn of handlers.get(type) || []) {
    try { fn(data); } catch (err) { console.warn('live update handler failed', err); }
  }
}

export function status() {
  return { status: state.status, rtt: state.rtt };
}

function setStatus(value) {
  if (state.status === value && value !== 'good' && value !== 'slow') return;
  state.status = value;
  emit('status', { status: value, rtt: state.rtt });
}

function url() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

export function connect() {
  clearTimeout(state.timer);
  if (!location.host) { setStatus('offline'); return; }   // opened as a file: no server
  if (state.ws) return;
  let ws;
  try {
    ws = new WebSocket(url());
  } catch (_) {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  ws.onopen = () => {
    const resumed = state.everOpen;
    state.attempts = 0;
    state.everOpen = true;
    state.lastSeen = Date.now();
    state.waitingFor = null;
    setStatus('good');
    probe();
    if (resumed) emit('resumed', {});
  };
  ws.onmessage = (event) => {
    state.lastSeen = Date.now();
    receive(ws, event.data);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    scheduleReconnect();
  };
  ws.onerror = () => { /* a close event follows; reconnecting happens there */ };
}

function scheduleReconnect() {
  state.attempts += 1;
  const offline = state.attempts > OFFLINE_AFTER_ATTEMPTS || navigator.onLine === false;
  setStatus(offline ? 'offline' : 'reconnecting');
  // Exponential backoff with jitter, so many pages do not all come back at the same instant.
  const ceiling = Math.min(MAX_DELAY_MS, 1000 * 2 ** (state.attempts - 1));
  const delay = ceiling / 2 + Math.random() * ceiling / 2;
  clearTimeout(state.timer);
  state.timer = setTimeout(connect, delay);
  state.nextAttempt = Date.now() + delay;
}

/** An HTTP request just got an answer, so the server is back: do not sit out a long backoff.
 * At most once every 10 s, in case something between us lets HTTP through but not WebSockets. */
function serverAnswered() {
  const now = Date.now();
  if (state.ws || state.nextAttempt - now < 2000 || now - state.shortcut < 10000) return;
  state.shortcut = now;
  connect();
}

/** Try again now (the network came back, or the tab became visible). */
export function retryNow() {
  if (state.ws) return;
  state.attempts = 0;
  connect();
}

function send(ws, body) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(body));
}

function receive(ws, raw) {
  let message;
  try {
    message = JSON.parse(raw);
  } catch (_) {
    return;
  }
  if (!message || typeof message !== 'object') return;
  if (message.type === 'ping') {
    send(ws, { type: 'pong' });
  } else if (message.type === 'pong') {
    const data = message.data || {};
    if (data.id === state.waitingFor) {
      state.rtt = Date.now() - state.probeSent;
      state.waitingFor = null;
      setStatus(state.rtt > SLOW_MS ? 'slow' : 'good');
    }
  } else {
    emit(message.type, message.data || {});
  }
}

/** Measure the round trip; an unanswered probe marks the connection slow. */
function probe() {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  if (Date.now() - state.lastSeen > SILENCE_MS) { ws.close(); return; }
  if (state.waitingFor !== null && Date.now() - state.probeSent > SLOW_MS) setStatus('slow');
  if (state.waitingFor !== null && Date.now() - state.probeSent > 3 * PROBE_MS) state.waitingFor = null;
  if (state.waitingFor === null) {
    state.probeId += 1;
    state.waitingFor = state.probeId;
    state.probeSent = Date.now();
    send(ws, { type: 'ping', id: state.probeId });
  }
}

export function start() {
  connect();
  setInterval(probe, PROBE_MS);
  window.addEventListener('online', retryNow);
  window.addEventListener('mlops:server-answered', serverAnswered);
  window.addEventListener('offline', () => setStatus('offline'));
  document.addEventListener('visibilitychange', () => { if (!document.hidden) retryNow(); });
}
