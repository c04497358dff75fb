// /demo/ws: one WebSocket, messages in both directions. The server pushes a line every few
// seconds; the page answers each with "Hello, server! (reply #n)" on the same connection.

import { clearError, installGlobalErrorHandler, showError } from '/shared/errors.js';
import { h } from '/shared/dom.js';
import { setConnectionState } from '/shared/connection-indicator.js';

const SOCKET_URL = `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}/demo/ws/socket`;
/** Entries kept in the log; older ones are dropped so a tab left open does not grow forever. */
const LOG_LIMIT = 200;
/** Delays before reconnecting after the server went away (not after Disconnect). */
const RECONNECT_DELAYS_MS = [1000, 2000, 5000, 10000];

const log = document.getElementById('ws-log');
const stateText = document.getElementById('ws-state');
const receivedText = document.getElementById('ws-received');
const sentText = document.getElementById('ws-sent');
const openedText = document.getElementById('ws-opened');
const toggle = document.getElementById('toggle');
const autoReply = document.getElementById('auto-reply');
const sendForm = document.getElementById('send-form');
const sendInput = document.getElementById('send-text');
const sendError = document.getElementById('send-error');

let socket = null;
let wanted = true; // false after Disconnect: then a close is not followed by a reconnect
let reconnectTimer = null;
let attempt = 0;
let received = 0;
let sent = 0;
let opened = 0;

installGlobalErrorHandler(document.getElementById('page-error'));
toggle.addEventListener('click', () => (wanted ? disconnect() : connect()));
document.getElementById('clear').addEventListener('click', () => log.replaceChildren());
sendForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = sendInput.value.trim();
  if (!text) {
    showError(sendError, 'Type something to send first.');
    sendInput.focus();
    return;
  }
  if (send(text)) {
    sendInput.value = '';
    clearError(sendError);
  } else {
    showError(sendError, 'The socket is not open. Press Connect and try again.');
  }
});
connect();

function connect() {
  wanted = true;
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  if (socket) return;
  toggle.textContent = 'Disconnect';
  setState('reconnecting', 'Connecting…');
  addEntry('info', 'connect', `Opening ${SOCKET_URL}`);

  const ws = new WebSocket(SOCKET_URL);
  socket = ws;
  ws.addEventListener('open', () => {
    if (ws !== socket) return;
    attempt = 0;
    opened += 1;
    openedText.textContent = String(opened);
    setState('connected', 'Open');
    addEntry('info', 'open', 'Connected (HTTP 101 Switching Protocols). Waiting for the server…');
  });
  ws.addEventListener('message', (event) => {
    if (ws !== socket) return;
    const text = typeof event.data === 'string' ? event.data : '(binary frame)';
    received += 1;
    receivedText.textContent = String(received);
    addEntry('in', '↓ server', text);
    if (autoReply.checked) send(`Hello, server! (reply #${received})`);
  });
  ws.addEventListener('close', (event) => {
    if (ws !== socket) return;
    socket = null;
    const reason = event.reason ? `: ${event.reason}` : '';
    addEntry('info', 'closed', `Connection closed (code ${event.code}${reason}).`);
    if (!wanted) {
      setState('offline', 'Closed');
      return;
    }
    const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
    attempt += 1;
    setState('reconnecting', `Reconnecting in ${Math.round(delay / 1000)} s…`);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      if (wanted) connect();
    }, delay);
  });
  // An `error` event is always followed by `close`, which handles it.
}

function disconnect() {
  wanted = false;
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  toggle.textContent = 'Connect';
  if (socket) {
    addEntry('info', 'closing', 'Closing the connection (code 1000).');
    socket.close(1000, 'page asked to disconnect');
  } else {
    setState('offline', 'Closed');
  }
}

/** Sends a text frame; false when there is no open socket to send it on. */
function send(text) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(text);
  sent += 1;
  sentText.textContent = String(sent);
  addEntry('out', '↑ you', text);
  return true;
}

function setState(state, label) {
  setConnectionState(state);
  stateText.textContent = label;
}

function addEntry(direction, label, text) {
  // The textbook told its readers to watch the console: the log is there too.
  console.info(`${label}: ${text}`);
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const now = new Date();
  log.append(
    h('li', { 'data-direction': direction },
      h('time', { datetime: now.toISOString(), text: clockText(now) }),
      h('span', { class: 'direction', text: label }),
      h('span', { class: 'text', text })),
  );
  while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

/** HH:MM:SS.mmm in local time. */
function clockText(date) {
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
