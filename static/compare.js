// /compare: one room followed over three transports at once — Server-Sent Events, WebSocket
// and long-polling — with live counters, so the textbook's "polling vs WebSocket vs SSE"
// lesson can be watched in the Network tab. Messages are sent over REST (or the WebSocket).

import {
  ApiError, api, clearError, errorText, h, installGlobalErrorHandler, renderIdentity, sentence, showError,
} from '/api.js';

/** The events that are room messages (the ones counted); `members` etc. are not. */
const MESSAGE_EVENTS = ['chat', 'gif', 'system', 'whisper'];
const LOG_SIZE = 20;
const POLL_WAIT_S = 25;
const BURST_SIZE = 20;
/** Rough size of an HTTP response's status line and headers. */
const HTTP_HEADERS_ESTIMATE = 300;
/** Rough size of the 101 Switching Protocols answer. */
const WS_HANDSHAKE_ESTIMATE = 200;
const RETRY_DELAYS_MS = [1000, 2000, 5000, 10000, 20000, 30000];
const COMPARISON_TITLE = 'Transport comparison';

const encoder = new TextEncoder();
const byteLength = (text) => encoder.encode(text).length;
const roomPath = (id) => `/api/rooms/${encodeURIComponent(id)}`;
const retryDelay = (attempt) => RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)];

const pageError = document.getElementById('page-error');
const roomForm = document.getElementById('room-form');
const roomSelect = document.getElementById('room-select');
const openButton = document.getElementById('open-room');
const refreshButton = document.getElementById('refresh-rooms');
const createButton = document.getElementById('create-room');
const roomError = document.getElementById('room-error');
const roomStatus = document.getElementById('room-status');
const composer = document.getElementById('composer');
const composeText = document.getElementById('compose-text');
const sendRestButton = document.getElementById('send-rest');
const sendWsButton = document.getElementById('send-ws');
const burstButton = document.getElementById('burst');
const composerError = document.getElementById('composer-error');
const composerStatus = document.getElementById('composer-status');

// ---------------------------------------------------------------------------
// A column: counters and the last messages of one transport
// ---------------------------------------------------------------------------

class Column {
  constructor(id) {
    this.root = document.getElementById(id);
    const part = (role) => this.root.querySelector(`[data-role="${role}"]`);
    this.countEl = this.root.querySelector('.count');
    this.bytesEl = part('bytes');
    this.requestsEl = part('requests');
    this.lastIdEl = part('last-id');
    this.latencyEl = part('latency');
    this.statusEl = part('status');
    this.logEl = part('log');
    this.stateEl = part('state');
    this.endpointEl = part('endpoint');
    this.endpointTemplate = this.endpointEl.textContent;
    this.reset(null);
  }

  reset(roomId) {
    this.count = 0;
    this.bytes = 0;
    this.requests = 0;
    this.lastId = null;
    this.latency = { last: null, sum: 0, samples: 0, max: 0 };
    this.logEl.replaceChildren();
    this.setStatus('');
    this.endpointEl.textContent = roomId ? this.endpointTemplate.replace('{id}', roomId) : this.endpointTemplate;
    this.render();
  }

  addRequest() {
    this.requests += 1;
    this.render();
  }

  addBytes(count) {
    this.bytes += count;
    this.render();
  }

  /** Records one message; false for a duplicate (an id this column already has). */
  deliver(message, receivedAt = Date.now()) {
    if (!message || typeof message.id !== 'number') return false;
    if (this.lastId !== null && message.id <= this.lastId) return false;
    this.lastId = message.id;
    this.count += 1;
    const created = Date.parse(message.created_at);
    if (Number.isFinite(created)) {
      const latency = receivedAt - created;
      this.latency.last = latency;
      this.latency.sum += latency;
      this.latency.samples += 1;
      this.latency.max = this.latency.samples === 1 ? latency : Math.max(this.latency.max, latency);
    }
    this.logEl.prepend(messageItem(message));
    while (this.logEl.childElementCount > LOG_SIZE) this.logEl.lastElementChild.remove();
    this.render();
    return true;
  }

  render() {
    this.countEl.textContent = String(this.count);
    this.bytesEl.textContent = `≈ ${bytesText(this.bytes)}`;
    this.bytesEl.title = `about ${this.bytes.toLocaleString()} bytes`;
    this.requestsEl.textContent = String(this.requests);
    this.lastIdEl.textContent = this.lastId === null ? '–' : `#${this.lastId}`;
    const { last, sum, samples, max } = this.latency;
    this.latencyEl.textContent = samples === 0 ? '–' : `${last} · ${Math.round(sum / samples)} · ${max} ms`;
  }

  /** The pill: state is connected / reconnecting / offline (colours from app.css). */
  setState(state, label) {
    this.stateEl.dataset.state = state;
    this.stateEl.querySelector('.connection-label').textContent = label;
  }

  setStatus(text, tone = '') {
    this.statusEl.textContent = text;
    if (tone) this.statusEl.dataset.tone = tone;
    else delete this.statusEl.dataset.tone;
  }
}

function messageItem(message) {
  const body = message.kind === 'gif'
    ? `[GIF${message.gif_width ? ` ${message.gif_width}×${message.gif_height}` : ''}]`
    : String(message.text ?? '');
  const author = message.kind === 'system' ? null : message.user?.name;
  const who = author ? `${author}${message.kind === 'whisper' ? ' (whisper)' : ''}: ` : null;
  return h('li', { 'data-id': message.id, 'data-kind': message.kind },
    h('span', { class: 'message-id', text: `#${message.id}` }),
    h('span', { class: 'message-body' }, who && h('span', { class: 'message-who', text: who }), body));
}

function bytesText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

// ---------------------------------------------------------------------------
// The three transports. Each gets the column it fills and the session it belongs to; the
// session decides what happens when the room goes away.
// ---------------------------------------------------------------------------

class SseTransport {
  constructor(column) {
    this.column = column;
    this.source = null;
    this.timer = null;
  }

  open(session, after) {
    this.close();
    this.session = session;
    this.attempt = 0;
    this.connect(after);
  }

  close() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.source) this.source.close();
    this.source = null;
  }

  connect(after) {
    const { column } = this;
    const source = new EventSource(`${roomPath(this.session.roomId)}/events?after=${after}`);
    this.source = source;
    column.addRequest();
    column.setState('reconnecting', 'Connecting…');
    const mine = () => source === this.source;

    source.addEventListener('open', () => {
      if (!mine()) return;
      this.attempt = 0;
      column.addBytes(HTTP_HEADERS_ESTIMATE);
      column.setState('connected', 'Open');
      column.setStatus(column.requests === 1 ? 'One request, still open: events arrive on it.' : 'Reconnected; resumed after the last id.');
    });
    source.addEventListener('error', () => {
      if (!mine()) return;
      if (source.readyState === EventSource.CONNECTING) {
        // Dropped: the browser reconnects by itself and sends Last-Event-ID.
        column.addRequest();
        column.setState('reconnecting', 'Reconnecting…');
        column.setStatus('The connection dropped; the browser reconnects by itself.');
        return;
      }
      // Closed: the server refused the stream. Re-join, then open a new one.
      source.close();
      this.source = null;
      column.setState('offline', 'Closed');
      column.setStatus('The server refused the stream; trying again…', 'error');
      this.retry();
    });

    for (const name of MESSAGE_EVENTS) {
      source.addEventListener(name, (event) => {
        if (!mine()) return;
        column.addBytes(byteLength(`event: ${name}\nid: ${event.lastEventId}\ndata: ${event.data}\n\n`));
        column.deliver(parseJson(event.data));
      });
    }
    for (const name of ['members', 'resync']) {
      source.addEventListener(name, (event) => {
        if (mine()) column.addBytes(byteLength(`event: ${name}\ndata: ${event.data}\n\n`));
      });
    }
    source.addEventListener('room-deleted', () => {
      if (mine()) this.session.end('The room was deleted.');
    });
    source.addEventListener('kicked', (event) => {
      if (mine()) this.session.end(sentence(parseJson(event.data)?.message ?? 'You were removed from this room'));
    });
  }

  retry() {
    const delay = retryDelay(this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(async () => {
      this.timer = null;
      if (await this.session.recover()) this.connect(this.column.lastId ?? this.session.start);
    }, delay);
  }
}

class WsTransport {
  constructor(column) {
    this.column = column;
    this.socket = null;
    this.timer = null;
  }

  open(session, after) {
    this.close();
    this.session = session;
    this.attempt = 0;
    this.connect(after);
  }

  close() {
    clearTimeout(this.timer);
    this.timer = null;
    const { socket } = this;
    this.socket = null;
    if (socket) socket.close(1000, 'page closed the comparison');
  }

  connect(after) {
    const { column } = this;
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(`${scheme}${location.host}${roomPath(this.session.roomId)}/ws?after=${after}`);
    this.socket = socket;
    column.addRequest();
    column.setState('reconnecting', 'Connecting…');
    const mine = () => socket === this.socket;

    socket.addEventListener('open', () => {
      if (!mine()) return;
      this.attempt = 0;
      column.addBytes(WS_HANDSHAKE_ESTIMATE);
      column.setState('connected', 'Open');
      column.setStatus(column.requests === 1 ? 'One upgraded connection (101), used both ways.' : 'Reconnected; resumed after the last id.');
    });
    socket.addEventListener('message', (event) => {
      if (!mine() || typeof event.data !== 'string') return;
      const size = byteLength(event.data);
      column.addBytes(size + (size < 126 ? 2 : size < 65536 ? 4 : 10));
      const frame = parseJson(event.data);
      if (!frame || typeof frame.event !== 'string') return;
      if (MESSAGE_EVENTS.includes(frame.event)) {
        column.deliver(frame.data);
      } else if (frame.event === 'ack') {
        column.setStatus(`ack: your frame (ref ${frame.data?.ref}) became message #${frame.data?.id}.`, 'ok');
        this.session.onWsReply(frame.data, null);
      } else if (frame.event === 'error') {
        const message = sentence(frame.data?.message);
        column.setStatus(`error frame: ${message}`, 'error');
        this.session.onWsReply(frame.data, message);
      } else if (frame.event === 'room-deleted') {
        this.session.end('The room was deleted.');
      } else if (frame.event === 'kicked') {
        this.session.end(sentence(frame.data?.message ?? 'You were removed from this room'));
      }
    });
    socket.addEventListener('close', (event) => {
      if (!mine()) return;
      this.socket = null;
      column.setState('reconnecting', 'Reconnecting…');
      column.setStatus(`Closed (code ${event.code}${event.reason ? `: ${event.reason}` : ''}); reconnecting…`, 'error');
      this.retry();
    });
    // `error` is always followed by `close`, which handles it.
  }

  retry() {
    const delay = retryDelay(this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(async () => {
      this.timer = null;
      if (await this.session.recover()) this.connect(this.column.lastId ?? this.session.start);
    }, delay);
  }

  /** Sends a chat frame; false when the socket is not open. */
  send(text, ref) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify({ type: 'chat', text, ref }));
    return true;
  }
}

class PollTransport {
  constructor(column) {
    this.column = column;
    this.controller = null;
  }

  open(session, after) {
    this.close();
    this.session = session;
    this.controller = new AbortController();
    this.loop(after, this.controller.signal);
  }

  close() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async loop(after, signal) {
    const { column } = this;
    let attempt = 0;
    while (!signal.aborted) {
      column.addRequest();
      column.setState('connected', 'Polling');
      const askedAt = Date.now();
      let response;
      let text;
      try {
        response = await fetch(`${roomPath(this.session.roomId)}/messages?after=${after}&wait=${POLL_WAIT_S}`, {
          signal,
          cache: 'no-store',
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
        });
        text = await response.text();
      } catch {
        if (signal.aborted) return;
        column.setState('reconnecting', 'Retrying…');
        column.setStatus('The request failed (no answer from the server); trying again…', 'error');
        await sleep(retryDelay(attempt), signal);
        attempt += 1;
        continue;
      }
      if (signal.aborted) return;
      const receivedAt = Date.now();
      column.addBytes(byteLength(text) + HTTP_HEADERS_ESTIMATE);
      const data = parseJson(text);
      if (!response.ok) {
        const message = sentence(data?.message ?? `The server answered with an error (${response.status})`);
        if (response.status === 404 || response.status === 403) {
          this.session.end(message);
          return;
        }
        column.setState('reconnecting', 'Retrying…');
        column.setStatus(`${message} Trying again…`, 'error');
        await sleep(retryDelay(attempt), signal);
        attempt += 1;
        continue;
      }
      attempt = 0;
      const messages = Array.isArray(data?.messages) ? data.messages : [];
      for (const message of messages) {
        column.deliver(message, receivedAt);
        if (typeof message.id === 'number') after = Math.max(after, message.id);
      }
      if (messages.length > 0) {
        column.setStatus(`The last answer carried ${messages.length} message${messages.length === 1 ? '' : 's'} and ended; the page asked again.`);
      } else if (Date.now() - askedAt < (POLL_WAIT_S - 1) * 1000) {
        // Empty before the wait was up: the room was deleted, we were removed, or the server
        // is shutting down. Pause a moment, so the streams can report which, before asking.
        column.setStatus('The server ended the request early with nothing new; asking again shortly.');
        await sleep(1000, signal);
      } else {
        column.setStatus(`Nothing new for ${POLL_WAIT_S} s: the request ended empty, so the page asks again.`);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Sessions: one room followed over the three transports
// ---------------------------------------------------------------------------

const columns = {
  sse: new Column('compare-sse'),
  ws: new Column('compare-ws'),
  poll: new Column('compare-poll'),
};
const transports = {
  sse: new SseTransport(columns.sse),
  ws: new WsTransport(columns.ws),
  poll: new PollTransport(columns.poll),
};

/** The session being shown; a stale one (the user switched rooms) does nothing any more. */
let current = null;
let nextRef = 1;

class Session {
  constructor(roomId) {
    this.roomId = roomId;
    this.start = 0;
    this.ended = false;
  }

  get active() {
    return this === current && !this.ended;
  }

  /** Re-joins after a refused stream; false (and the session ends) when that is hopeless. */
  async recover() {
    if (!this.active) return false;
    try {
      await joinRoom(this.roomId);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 403 || error.status === 404)) {
        this.end(errorText(error));
        return false;
      }
      // Anything else (network, full room) may pass: let the transport try again later.
    }
    return this.active;
  }

  /** The room is gone for us (deleted, kicked): stop everything and say why. */
  end(reason) {
    if (!this.active) return;
    this.ended = true;
    stopTransports();
    for (const column of Object.values(columns)) column.setState('offline', 'Closed');
    setComposerEnabled(false);
    roomStatus.textContent = '';
    showError(roomError, `${reason} Pick another room.`);
    loadRooms();
  }

  onWsReply(data, errorMessage) {
    if (!this.active || typeof data?.ref !== 'number') return;
    if (errorMessage) {
      showError(composerError, `The WebSocket refused it: ${errorMessage}`);
    } else {
      composerStatus.textContent = `The server acknowledged ref ${data.ref} on the WebSocket: message #${data.id}.`;
    }
  }
}

function stopTransports() {
  for (const transport of Object.values(transports)) transport.close();
}

function joinRoom(roomId) {
  // An open room needs no password; `{}` says so explicitly.
  return api(`${roomPath(roomId)}/join`, { method: 'POST', body: {} });
}

async function openRoom(roomId) {
  if (current) current.ended = true;
  stopTransports();
  const session = new Session(roomId);
  current = session;
  setComposerEnabled(false);
  clearError(roomError);
  clearError(composerError);
  composerStatus.textContent = '';
  roomStatus.textContent = 'Joining the room…';

  let room;
  let start;
  try {
    room = await joinRoom(roomId);
    const latest = await api(`${roomPath(roomId)}/messages?limit=1`);
    start = latest?.messages?.[0]?.id ?? 0;
  } catch (error) {
    if (session !== current) return;
    current = null;
    roomStatus.textContent = '';
    if (error instanceof ApiError && error.code === 'wrong_password') {
      showError(roomError, 'This room is locked, and this page does not ask for passwords. '
        + 'Enter it once from the lobby (the server then remembers you), or pick an open room.');
    } else {
      showError(roomError, error);
    }
    return;
  }
  if (session !== current) return;

  session.start = start;
  for (const column of Object.values(columns)) column.reset(roomId);
  transports.sse.open(session, start);
  transports.ws.open(session, start);
  transports.poll.open(session, start);

  roomStatus.textContent = `Following “${room.title}” after message #${start}. New messages appear in all three columns.`;
  setComposerEnabled(true);
  const url = `/compare?room=${encodeURIComponent(roomId)}`;
  if (location.pathname + location.search !== url) history.replaceState(null, '', url);
}

// ---------------------------------------------------------------------------
// Room picker
// ---------------------------------------------------------------------------

/** Fills the <select>; selects `preferId` when listed. Resolves with the rooms. */
async function loadRooms(preferId) {
  let rooms;
  try {
    ({ rooms } = await api('/api/rooms'));
  } catch (error) {
    showError(roomError, error);
    return [];
  }
  const keep = preferId ?? current?.roomId ?? roomSelect.value;
  roomSelect.replaceChildren();
  if (rooms.length === 0) {
    roomSelect.append(h('option', { value: '', text: 'No rooms yet: create one below' }));
  }
  for (const room of rooms) {
    const lock = room.locked ? ' · locked' : '';
    roomSelect.append(h('option', { value: room.id, text: `${room.title} (${room.members}/${room.max})${lock}` }));
  }
  if (rooms.some((room) => room.id === keep)) roomSelect.value = keep;
  roomSelect.disabled = rooms.length === 0;
  openButton.disabled = rooms.length === 0;
  // With nothing to pick, creating a room is the thing to do.
  createButton.className = rooms.length === 0 ? 'button primary' : 'button link';
  return rooms;
}

roomForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (roomSelect.value) openRoom(roomSelect.value);
});

refreshButton.addEventListener('click', async () => {
  clearError(roomError);
  await loadRooms();
});

createButton.addEventListener('click', async () => {
  clearError(roomError);
  createButton.disabled = true;
  try {
    const room = await api('/api/rooms', { method: 'POST', body: { title: COMPARISON_TITLE } });
    await loadRooms(room.id);
    await openRoom(room.id);
  } catch (error) {
    showError(roomError, error);
  } finally {
    createButton.disabled = false;
  }
});

// ---------------------------------------------------------------------------
// Composer
// ---------------------------------------------------------------------------

let bursting = false;

function setComposerEnabled(enabled) {
  composeText.disabled = !enabled;
  composeText.placeholder = enabled ? 'Say something to the room' : 'Open a room first';
  sendRestButton.disabled = !enabled || bursting;
  sendWsButton.disabled = !enabled || bursting;
  burstButton.disabled = !enabled || bursting;
}

/** The composer's text, or null (with an error shown) when it is empty. */
function composedText() {
  const text = composeText.value.trim();
  if (!text) {
    composeText.setAttribute('aria-invalid', 'true');
    showError(composerError, 'Type a message first.');
    composeText.focus();
    return null;
  }
  composeText.removeAttribute('aria-invalid');
  clearError(composerError);
  return text;
}

function postMessage(roomId, text) {
  return api(`${roomPath(roomId)}/messages`, { method: 'POST', body: { text } });
}

composer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const session = current;
  if (!session?.active) return;
  const text = composedText();
  if (text === null) return;
  sendRestButton.disabled = true;
  try {
    const message = await postMessage(session.roomId, text);
    composeText.value = '';
    composerStatus.textContent = `Sent with POST …/messages: it is message #${message.id}. Watch it arrive in each column.`;
  } catch (error) {
    showError(composerError, error);
  } finally {
    sendRestButton.disabled = !session.active || bursting;
  }
});

sendWsButton.addEventListener('click', () => {
  const session = current;
  if (!session?.active) return;
  const text = composedText();
  if (text === null) return;
  const ref = nextRef;
  nextRef += 1;
  if (!transports.ws.send(text, ref)) {
    showError(composerError, 'The WebSocket is not open right now. Wait for it to reconnect, or send with REST.');
    return;
  }
  composeText.value = '';
  composerStatus.textContent = `Sent as a WebSocket frame (ref ${ref}); waiting for the server's ack…`;
});

burstButton.addEventListener('click', async () => {
  const session = current;
  if (!session?.active || bursting) return;
  bursting = true;
  setComposerEnabled(true);
  clearError(composerError);
  const began = performance.now();
  const stamp = new Date().toLocaleTimeString();
  let first = null;
  let last = null;
  try {
    for (let i = 1; i <= BURST_SIZE && session.active; i += 1) {
      const message = await postMessage(session.roomId, `Burst ${i}/${BURST_SIZE} (${stamp})`);
      first ??= message.id;
      last = message.id;
      composerStatus.textContent = `Burst: sent ${i} of ${BURST_SIZE}…`;
    }
    if (session.active) {
      const took = Math.round(performance.now() - began);
      composerStatus.textContent = `Burst done: ${BURST_SIZE} messages (#${first}–#${last}) posted one after another in ${took} ms. `
        + 'Compare how many requests each column needed for them.';
    }
  } catch (error) {
    showError(composerError, error);
  } finally {
    bursting = false;
    setComposerEnabled(session.active);
  }
});

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

installGlobalErrorHandler(pageError);
start();

async function start() {
  // Identity first: a first-time visitor gets the session cookie from this answer, and the
  // streams opened in parallel below must all carry that same cookie.
  try {
    renderIdentity(await api('/api/me'));
  } catch (error) {
    showError(pageError, error);
  }
  const wanted = new URLSearchParams(location.search).get('room');
  const rooms = await loadRooms(wanted);
  if (!wanted) return;
  if (rooms.some((room) => room.id === wanted)) {
    await openRoom(wanted);
  } else {
    showError(roomError, 'The room in the address does not exist any more. Pick another one.');
  }
}
