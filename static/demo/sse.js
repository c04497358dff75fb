// /demo/sse: an EventSource on /demo/sse/clock, whose unnamed events carry the server's clock
// (epoch milliseconds) once a second. The page shows that clock, a countdown computed with it
// (as the original's auction page did), and how far the two clocks are apart.

import { installGlobalErrorHandler } from '/shared/errors.js';
import { h } from '/shared/dom.js';
import { setConnectionState } from '/shared/connection-indicator.js';

const STREAM_URL = '/demo/sse/clock';
const COUNTDOWN_MS = 60_000;
const LOG_LIMIT = 30;
/** When the browser gives up (the server answered with an error), the page tries again. */
const REOPEN_DELAY_MS = 3000;
/** Clock-difference samples kept; the estimate is the largest of them (see `tick`). */
const DRIFT_SAMPLES = 10;

/** This computer's clock when the page started; the deadline is one minute after it. */
const pageLoadedAt = Date.now();

const serverTime = document.getElementById('server-time');
const clientTime = document.getElementById('client-time');
const driftText = document.getElementById('drift');
const eventsText = document.getElementById('events');
const opensText = document.getElementById('opens');
const countdown = document.getElementById('countdown');
const countdownPanel = document.getElementById('countdown-panel');
const countdownProgress = document.getElementById('countdown-progress');
const countdownDetail = document.getElementById('countdown-detail');
const restart = document.getElementById('restart');
const toggle = document.getElementById('toggle');
const log = document.getElementById('event-log');

let source = null;
let reopenTimer = null;
let events = 0;
let opens = 0;
/** The deadline in server milliseconds; null until the first event tells us the server clock. */
let deadline = null;
let lastServerMs = null;
/** Recent (server clock − this computer's clock) measurements, in ms. */
const driftSamples = [];

installGlobalErrorHandler(document.getElementById('page-error'));
toggle.addEventListener('click', () => (source ? close() : open()));
restart.addEventListener('click', () => {
  if (lastServerMs === null) return;
  deadline = lastServerMs + COUNTDOWN_MS;
  restart.hidden = true;
  renderCountdown(lastServerMs);
});
open();

function open() {
  clearTimeout(reopenTimer);
  reopenTimer = null;
  if (source) return;
  toggle.textContent = 'Close stream';
  setConnectionState('reconnecting');
  addEntry('info', 'connect', `new EventSource('${STREAM_URL}')`);

  const stream = new EventSource(STREAM_URL);
  source = stream;
  stream.addEventListener('open', () => {
    if (stream !== source) return;
    opens += 1;
    opensText.textContent = String(opens);
    setConnectionState('connected');
    addEntry('info', 'open', opens === 1 ? 'Connected: one long HTTP response.' : 'Reconnected.');
  });
  // Unnamed events (no `event:` line) arrive as `message`.
  stream.addEventListener('message', (event) => {
    if (stream !== source) return;
    const receivedAt = Date.now();
    const serverMs = Number(event.data);
    if (!Number.isFinite(serverMs)) return;
    tick(serverMs, receivedAt);
    addEntry('in', 'message', `data: ${event.data}  →  ${clockText(new Date(serverMs), true)}`);
  });
  stream.addEventListener('error', () => {
    if (stream !== source) return;
    if (stream.readyState === EventSource.CONNECTING) {
      // The connection dropped; the browser itself reconnects after the `retry:` delay.
      setConnectionState(navigator.onLine === false ? 'offline' : 'reconnecting');
      addEntry('info', 'error', 'Connection lost. The browser will reconnect by itself…');
      return;
    }
    // CLOSED: the server answered with an error status and the browser gave up.
    stream.close();
    source = null;
    setConnectionState('offline');
    addEntry('info', 'closed', `The stream was refused. Trying again in ${REOPEN_DELAY_MS / 1000} s…`);
    reopenTimer = setTimeout(open, REOPEN_DELAY_MS);
  });
}

function close() {
  clearTimeout(reopenTimer);
  reopenTimer = null;
  if (source) source.close();
  source = null;
  toggle.textContent = 'Open stream';
  setConnectionState('offline');
  addEntry('info', 'closed', 'Closed by the page (EventSource.close()). The browser will not reconnect.');
}

function tick(serverMs, receivedAt) {
  events += 1;
  eventsText.textContent = String(events);
  lastServerMs = serverMs;
  // Travel time only ever makes the server look further behind (and the first event after
  // connecting may be the previous tick, up to a second old), so the largest recent
  // difference is the best estimate of how far apart the clocks really are.
  driftSamples.push(serverMs - receivedAt);
  if (driftSamples.length > DRIFT_SAMPLES) driftSamples.shift();
  const drift = Math.max(...driftSamples);
  if (deadline === null) {
    // The server's clock at page load = this computer's clock then, plus the difference.
    deadline = pageLoadedAt + drift + COUNTDOWN_MS;
  }
  const server = new Date(serverMs);
  serverTime.textContent = clockText(server);
  serverTime.setAttribute('datetime', server.toISOString());
  clientTime.textContent = clockText(new Date(receivedAt));
  const direction = drift === 0 ? 'same' : drift > 0 ? 'server ahead' : 'server behind';
  driftText.textContent = `${drift > 0 ? '+' : drift < 0 ? '−' : ''}${Math.abs(drift)} ms (${direction})`;
  renderCountdown(serverMs);
}

function renderCountdown(serverMs) {
  const remaining = Math.max(0, deadline - serverMs);
  const seconds = Math.ceil(remaining / 1000);
  const pad = (n) => String(n).padStart(2, '0');
  countdown.textContent = `${pad(Math.floor(seconds / 60))}:${pad(seconds % 60)}`;
  countdownProgress.value = remaining;
  const end = clockText(new Date(deadline));
  if (remaining > 0) {
    countdownPanel.dataset.state = 'running';
    countdownDetail.textContent = `Ends at ${end} server time. Computed from the server clock, so every visitor sees the same deadline.`;
  } else {
    countdownPanel.dataset.state = 'ended';
    countdownDetail.textContent = `Time is up: the deadline passed at ${end} server time.`;
    restart.hidden = false;
  }
}

function addEntry(direction, label, text) {
  // The textbook told its readers to watch the console: the log is there too.
  console.info(`${label}: ${text}`);
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const now = new Date();
  log.append(
    h('li', { 'data-direction': direction },
      h('time', { datetime: now.toISOString(), text: clockText(now, true) }),
      h('span', { class: 'direction', text: label }),
      h('span', { class: 'text', text })),
  );
  while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

/** HH:MM:SS (or HH:MM:SS.mmm) in local time. */
function clockText(date, millis = false) {
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  const base = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return millis ? `${base}.${pad(date.getMilliseconds(), 3)}` : base;
}
