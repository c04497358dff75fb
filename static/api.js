// Shared helpers for the gif-chat pages: JSON fetch, GIF upload, error display,
// safe DOM building, the live transports (SSE, WebSocket, long-polling) and the room password
// dialog.
//
// Everything user-supplied is put into the page with textContent / text nodes only:
// the CSP forbids inline scripts, and we never want to parse user data as HTML.

/** Largest GIF the server accepts (5 MiB); checked before uploading to save a round trip. */
export const MAX_GIF_BYTES = 5 * 1024 * 1024;

const NETWORK_MESSAGE = 'Could not reach the server. Check your connection and try again.';

/** An error answer from the API (`{error, message}`), or status 0 for network failures. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/**
 * Calls the JSON API. Resolves with the parsed body (null for 204), rejects with ApiError.
 * A body of `undefined` sends no body at all (POST /join of an open room wants none).
 */
export async function api(path, { method = 'GET', body } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network_error', NETWORK_MESSAGE);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw toApiError(response.status, data);
  return data;
}

function toApiError(status, data) {
  if (data && typeof data.error === 'string') {
    return new ApiError(status, data.error, data.message || data.error);
  }
  return new ApiError(status, `http_${status}`, `The server answered with an error (${status}).`);
}

/** POST /api/rooms/{id}/join; no body unless a password is given. */
export function joinRoom(roomId, password) {
  const body = password === undefined ? undefined : { password };
  return api(`/api/rooms/${encodeURIComponent(roomId)}/join`, { method: 'POST', body });
}

/**
 * Uploads a GIF with XMLHttpRequest, because fetch cannot report upload progress.
 * Returns { promise, abort }; the promise resolves with the created Message.
 */
export function uploadGif(roomId, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', `/api/rooms/${encodeURIComponent(roomId)}/gifs`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // leave data null; handled below
      }
      if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
      else reject(toApiError(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network_error', NETWORK_MESSAGE)));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled.')));
    const form = new FormData();
    form.append('gif', file, file.name || 'pasted.gif');
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

// ---------------------------------------------------------------------------
// Error display
// ---------------------------------------------------------------------------

/** Server messages are lower-case fragments ("the room is full"); show them as sentences. */
export function sentence(text) {
  const trimmed = String(text ?? '').trim();
  if (!trimmed) return 'Something went wrong. Please try again.';
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

export function errorText(error) {
  if (error instanceof ApiError) return sentence(error.message);
  return 'Something went wrong. Please try again.';
}

/** Shows an error (ApiError, Error or plain string) in an element that has role="alert". */
export function showError(element, error) {
  element.textContent = typeof error === 'string' ? error : errorText(error);
  element.hidden = false;
}

export function clearError(element) {
  element.textContent = '';
  element.hidden = true;
}

/**
 * Last-resort net for promise rejections nobody handled: show them on the page instead of
 * leaving a console error and a silently broken UI.
 */
export function installGlobalErrorHandler(element) {
  window.addEventListener('unhandledrejection', (event) => {
    event.preventDefault();
    showError(element, event.reason);
  });
}

// ---------------------------------------------------------------------------
// DOM
// ---------------------------------------------------------------------------

/**
 * Builds an element. `props.text` sets textContent, `props.class` the class list, anything
 * else becomes an attribute (null/false values are skipped). Children may be nodes or strings.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') element.textContent = String(value);
    else if (key === 'class') element.className = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** A <time> showing HH:MM, with the full local date and time as tooltip. */
export function timeElement(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('time');
  const pad = (n) => String(n).padStart(2, '0');
  return h('time', {
    datetime: date.toISOString(),
    title: date.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' }),
    text: `${pad(date.getHours())}:${pad(date.getMinutes())}`,
  });
}

/**
 * User colours are random, and a light one (say #f4e04d) is unreadable as text on white.
 * Keep the hue but darken it until it reaches WCAG AA contrast (4.5:1) against white,
 * with a little margin for the tinted bubbles.
 */
export function readableColor(hex) {
  const match = /^#?([0-9a-f]{6})$/i.exec(String(hex ?? ''));
  if (!match) return '';
  let [r, g, b] = [0, 2, 4].map((i) => parseInt(match[1].slice(i, i + 2), 16));
  for (let step = 0; step < 20 && contrastWithWhite(r, g, b) < 5; step += 1) {
    [r, g, b] = [r, g, b].map((c) => Math.round(c * 0.88));
  }
  return `rgb(${r}, ${g}, ${b})`;
}

function contrastWithWhite(r, g, b) {
  const linear = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  return 1.05 / (luminance + 0.05);
}

/** Fills the header identity block: colour swatch + name in `#me`. */
export function renderIdentity(me) {
  const name = document.getElementById('me');
  const swatch = document.getElementById('me-swatch');
  if (name) name.textContent = me.name;
  if (swatch) swatch.style.backgroundColor = me.color;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function prefersReducedMotion() {
  return window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}

// ---------------------------------------------------------------------------
// Connection indicator + live stream
// ---------------------------------------------------------------------------

const CONNECTION_LABELS = {
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

/** The room page's live transports: the value kept in localStorage → what people read. */
export const TRANSPORT_LABELS = {
  sse: 'SSE',
  ws: 'WebSocket',
  poll: 'Polling',
};

const TRANSPORT_TITLES = {
  sse: 'Server-Sent Events',
  ws: 'WebSocket',
  poll: 'long-polling',
};

/** Updates `#connection`: data-state is what tests read, the label is what people read. */
export function setConnectionState(state) {
  const indicator = document.getElementById('connection');
  if (!indicator) return;
  indicator.dataset.state = state;
  const label = indicator.querySelector('.connection-label');
  if (label) label.textContent = CONNECTION_LABELS[state] ?? state;
  updateConnectionTitle(indicator);
}

/**
 * Says which transport carries the page's events: `data-transport` on `#connection` (for
 * tests and CSS) and its short name in `.connection-transport` (for people).
 */
export function setConnectionTransport(transport) {
  const indicator = document.getElementById('connection');
  if (!indicator) return;
  indicator.dataset.transport = transport;
  const label = indicator.querySelector('.connection-transport');
  if (label) label.textContent = TRANSPORT_LABELS[transport] ?? transport;
  updateConnectionTitle(indicator);
}

function updateConnectionTitle(indicator) {
  const { state, transport } = indicator.dataset;
  const over = TRANSPORT_TITLES[transport] ? ` (over ${TRANSPORT_TITLES[transport]})` : '';
  indicator.title = `Connection: ${CONNECTION_LABELS[state] ?? state}${over}`;
}

// Delays before the page itself reopens a stream the browser gave up on.
const REOPEN_DELAYS_MS = [1000, 2000, 5000, 10000, 20000, 30000];

/**
 * An EventSource that the page keeps alive.
 *
 * The browser reconnects by itself after a dropped connection (readyState CONNECTING, and it
 * resends Last-Event-ID). It gives up for good (readyState CLOSED) when the server answers
 * with an error status; then we open a fresh EventSource after a back-off, first running
 * `beforeReopen` (the room page re-joins there, so a 404/409 is shown instead of looping).
 *
 * Options: url() → string (called for every open, so callers can add ?after=),
 * events: { name: (data, event) => void } with data already parsed from JSON,
 * beforeReopen?: async () => boolean (false stops; throwing retries later).
 */
export class LiveStream {
  constructor({ url, events, beforeReopen }) {
    this.url = url;
    this.events = events;
    this.beforeReopen = beforeReopen;
    this.source = null;
    this.timer = null;
    this.attempt = 0;
    this.stopped = true;
    window.addEventListener('online', () => this.reopenNow());
    window.addEventListener('offline', () => {
      if (!this.stopped) setConnectionState('offline');
    });
  }

  open() {
    this.closeSource();
    this.stopped = false;
    setConnectionState('reconnecting');
    const source = new EventSource(this.url());
    this.source = source;
    source.addEventListener('open', () => {
      this.attempt = 0;
      setConnectionState('connected');
    });
    source.addEventListener('error', () => this.handleError(source));
    for (const [name, handler] of Object.entries(this.events)) {
      source.addEventListener(name, (event) => {
        const data = parseJson(event.data);
        if (data !== undefined) handler(data, event);
      });
    }
  }

  /** Closes for good (room deleted, page blocked). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.closeSource();
  }

  /** Skips the back-off, e.g. when the browser says the network is back. */
  reopenNow() {
    if (this.stopped || (this.source && this.source.readyState !== EventSource.CLOSED)) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.reopen();
  }

  closeSource() {
    if (this.source) this.source.close();
    this.source = null;
  }

  handleError(source) {
    if (source !== this.source) return; // a stale source we already replaced
    if (source.readyState === EventSource.CONNECTING) {
      setConnectionState(navigator.onLine === false ? 'offline' : 'reconnecting');
      return;
    }
    this.closeSource();
    setConnectionState('offline');
    this.scheduleReopen();
  }

  scheduleReopen() {
    if (this.stopped || this.timer) return;
    const delay = REOPEN_DELAYS_MS[Math.min(this.attempt, REOPEN_DELAYS_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reopen();
    }, delay);
  }

  async reopen() {
    if (this.stopped) return;
    if (this.beforeReopen) {
      let proceed;
      try {
        proceed = await this.beforeReopen();
      } catch {
        setConnectionState('offline');
        this.scheduleReopen();
        return;
      }
      if (!proceed || this.stopped) return;
    }
    this.open();
  }
}

// ---------------------------------------------------------------------------
// WebSocket and long-polling: the same room events over the other two transports
// ---------------------------------------------------------------------------

/** Exponential back-off for reconnecting: 1 s, 2 s, 4 s, 8 s, then 15 s, each ±25 % jitter. */
export function backoffDelay(attempt) {
  const base = Math.min(15_000, 1000 * 2 ** Math.min(attempt, 4));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** The error codes a WebSocket error frame may carry, with the status REST gives them. */
const WS_ERROR_STATUS = {
  kicked: 403,
  not_a_member: 403,
  room_not_found: 404,
  payload_too_large: 413,
  invalid_text: 422,
  invalid_user: 422,
  not_in_room: 422,
};

/** How long a chat sent over the socket waits for its `ack` or `error` frame. */
const WS_REPLY_TIMEOUT_MS = 15_000;

/**
 * A room WebSocket that the page keeps alive: `/api/rooms/{id}/ws?after=<cursor>`, whose
 * text frames are `{"event", "id"?, "data"}` with the same names and JSON as the SSE stream.
 * It reconnects with back-off after any close it did not ask for (1001: the server is
 * restarting), resuming from `url()`; a socket that never opened may have been refused
 * (room full, removed, deleted: a WebSocket cannot see the HTTP status), so `beforeReopen`
 * runs before the next try, as for LiveStream.
 *
 * It also carries chats: `sendChat({text, to?})` → Promise of the stored Message (from the
 * `ack` frame), rejected with ApiError for an `error` frame; null while the socket is not open.
 *
 * Options as LiveStream: url() → string, events: { name: (data, {lastEventId}) => void },
 * beforeReopen?: async () => boolean.
 */
export class RoomSocket {
  constructor({ url, events, beforeReopen }) {
    this.url = url;
    this.events = events;
    this.beforeReopen = beforeReopen;
    /** The current connection: { socket, pending: Map(ref → {resolve, reject, timer}) }. */
    this.conn = null;
    this.timer = null;
    this.attempt = 0;
    this.stopped = true;
    this.nextRef = 0;
    window.addEventListener('online', () => this.reopenNow());
    window.addEventListener('offline', () => {
      if (!this.stopped) setConnectionState('offline');
    });
  }

  open() {
    this.release();
    clearTimeout(this.timer);
    this.timer = null;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.release();
  }

  /** True while frames can be sent. */
  isOpen() {
    return Boolean(this.conn && this.conn.socket.readyState === WebSocket.OPEN);
  }

  /** Sends a chat (a whisper with `to`); null when the socket is not open right now. */
  sendChat({ text, to }) {
    if (!this.isOpen()) return null;
    const { conn } = this;
    this.nextRef += 1;
    const ref = this.nextRef;
    const frame = to ? { type: 'chat', text, to, ref } : { type: 'chat', text, ref };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(conn, ref, () => reject(new ApiError(0, 'network_error',
          'The server did not confirm the message in time. It may still have been sent.')));
      }, WS_REPLY_TIMEOUT_MS);
      conn.pending.set(ref, { resolve, reject, timer });
      conn.socket.send(JSON.stringify(frame));
    });
  }

  reopenNow() {
    if (this.stopped || this.conn) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.reopen(false);
  }

  connect() {
    setConnectionState('reconnecting');
    const socket = new WebSocket(this.url());
    const conn = { socket, pending: new Map(), released: false };
    this.conn = conn;
    let opened = false;
    socket.addEventListener('open', () => {
      if (conn.released) {
        // Let go of while connecting: closing it before it opened would make Chrome log an error.
        socket.close(1000, 'transport switched');
        return;
      }
      opened = true;
      this.attempt = 0;
      setConnectionState('connected');
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data === 'string') this.handleFrame(conn, event.data);
    });
    // `error` is always followed by `close`, which handles both.
    socket.addEventListener('close', () => {
      failPending(conn, 'The connection closed before the server confirmed the message. It may still have been sent.');
      if (conn !== this.conn) return; // one we let go of
      this.conn = null;
      if (this.stopped) return;
      this.scheduleReopen(!opened);
    });
  }

  /** Replies go to whoever waits for them, even on a socket let go of; events only from the current one. */
  handleFrame(conn, text) {
    const frame = parseJson(text);
    if (!frame || typeof frame.event !== 'string') return;
    const data = frame.data ?? null;
    if (frame.event === 'ack' || frame.event === 'error') {
      const ref = data?.ref;
      settle(conn, ref, (waiting) => {
        if (frame.event === 'ack') waiting.resolve(data.message);
        else waiting.reject(new ApiError(WS_ERROR_STATUS[data.error] ?? 400, data.error, data.message || data.error));
      });
      return;
    }
    if (conn !== this.conn || conn.released) return;
    const handler = this.events[frame.event];
    if (handler) handler(data, { lastEventId: frame.id === undefined || frame.id === null ? '' : String(frame.id) });
  }

  /**
   * Lets go of the current socket: it delivers no more events. It is closed once it has
   * opened and the chats sent over it have their replies (or time out), so switching
   * transports never turns a sent chat into a false "not sent" error.
   */
  release() {
    const { conn } = this;
    this.conn = null;
    if (!conn) return;
    conn.released = true;
    if (conn.socket.readyState === WebSocket.OPEN && conn.pending.size === 0) {
      conn.socket.close(1000, 'transport switched');
    }
    // CONNECTING: closed by its `open` listener; OPEN with replies due: by `settle`.
  }

  scheduleReopen(refused) {
    if (this.stopped || this.timer) return;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    setConnectionState(navigator.onLine === false || this.attempt > 2 ? 'offline' : 'reconnecting');
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reopen(refused);
    }, delay);
  }

  async reopen(refused) {
    if (this.stopped) return;
    if (refused && this.beforeReopen) {
      let proceed;
      try {
        proceed = await this.beforeReopen();
      } catch {
        if (this.stopped) return;
        setConnectionState('offline');
        this.scheduleReopen(true);
        return;
      }
      if (!proceed || this.stopped) return;
    }
    if (this.conn) return; // opened meanwhile (reopenNow)
    this.connect();
  }
}

/** Hands the reply for `ref` to `fn`; closes a let-go socket once nothing waits on it. */
function settle(conn, ref, fn) {
  const waiting = conn.pending.get(ref);
  if (!waiting) return; // not ours (an error frame without ref); nothing waits for it
  conn.pending.delete(ref);
  clearTimeout(waiting.timer);
  fn(waiting);
  if (conn.released && conn.pending.size === 0 && conn.socket.readyState === WebSocket.OPEN) {
    conn.socket.close(1000, 'transport switched');
  }
}

function failPending(conn, message) {
  for (const { reject, timer } of conn.pending.values()) {
    clearTimeout(timer);
    reject(new ApiError(0, 'network_error', message));
  }
  conn.pending.clear();
}

/**
 * Long-polling: `GET url()&wait=<s>` in a loop, each answer `{"messages": [...]}`. Only
 * messages travel this way (no member lists, no kicked or room-deleted events): a 403
 * `kicked` or 404 `room_not_found` answer calls `onGone(error)` instead. The first request
 * of a run asks with wait=0, so the indicator turns "connected" at once, not after a 25 s
 * wait; network failures and 5xx answers are retried with back-off, other refusals go
 * through `beforeReopen` (the room page re-joins, and shows "room full" and the like).
 *
 * Options: url() → string with `?after=` (called for every request), onMessage(message,
 * {lastEventId}), onGone(ApiError), beforeReopen?: async () => boolean, wait (seconds).
 */
export class LongPoll {
  constructor({ url, onMessage, onGone, beforeReopen, wait = 25 }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onGone = onGone;
    this.beforeReopen = beforeReopen;
    this.wait = wait;
    this.controller = null;
    this.stopped = true;
    window.addEventListener('online', () => this.wake?.());
    window.addEventListener('offline', () => {
      if (!this.stopped) setConnectionState('offline');
    });
  }

  open() {
    this.stop();
    this.stopped = false;
    this.controller = new AbortController();
    this.loop(this.controller.signal);
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async loop(signal) {
    let attempt = 0;
    let quick = true; // wait=0: the first request of a run, and the one after a failure
    setConnectionState('reconnecting');
    // Waits out a back-off; the browser coming back online cuts it short.
    const backOff = async () => {
      const cut = new AbortController();
      const wake = () => cut.abort();
      this.wake = wake;
      signal.addEventListener('abort', wake);
      await sleep(backoffDelay(attempt), cut.signal);
      signal.removeEventListener('abort', wake);
      if (this.wake === wake) this.wake = null;
      attempt += 1;
      quick = true;
    };
    while (!signal.aborted) {
      const wait = quick ? 0 : this.wait;
      const askedAt = Date.now();
      let response;
      let data;
      try {
        response = await fetch(`${this.url()}&wait=${wait}`, {
          signal,
          cache: 'no-store',
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
        });
        data = await response.json().catch(() => null);
      } catch {
        if (signal.aborted) return;
        setConnectionState(navigator.onLine === false || attempt > 1 ? 'offline' : 'reconnecting');
        await backOff();
        continue;
      }
      if (signal.aborted) return;

      if (!response.ok) {
        const error = toApiError(response.status, data);
        if (error.code === 'kicked' || error.code === 'room_not_found') {
          this.stop();
          this.onGone(error);
          return;
        }
        if (response.status >= 500 || response.status === 429 || !this.beforeReopen) {
          setConnectionState(attempt > 1 ? 'offline' : 'reconnecting');
          await backOff();
          continue;
        }
        // Refused (room full, not a member any more): joining again says why, or fixes it.
        setConnectionState('reconnecting');
        let proceed;
        try {
          proceed = await this.beforeReopen();
        } catch {
          proceed = true; // network trouble: keep trying
        }
        if (!proceed || signal.aborted) return;
        await backOff();
        continue;
      }

      attempt = 0;
      setConnectionState('connected');
      const messages = Array.isArray(data?.messages) ? data.messages : [];
      for (const message of messages) {
        if (signal.aborted) return;
        if (message && typeof message === 'object') this.onMessage(message, { lastEventId: String(message.id ?? '') });
      }
      // A long wait answered early and empty: the server is shutting down, or the room is
      // going away (the next answer says so). Pause a moment rather than spin.
      if (!quick && messages.length === 0 && Date.now() - askedAt < 1000) await sleep(1000, signal);
      quick = false;
    }
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // ignore a malformed frame rather than break the stream handler
  }
}

// ---------------------------------------------------------------------------
// Joining rooms (with the password dialog for locked rooms)
// ---------------------------------------------------------------------------

/**
 * Takes a seat in a room. Unless `askFirst`, tries without a password first: open rooms
 * need none, and a locked room remembers its owner and whoever gave the password before.
 * A `wrong_password` answer then opens `#password-dialog`. `askFirst` skips that probe when
 * the caller already knows the room is locked (it saves a 403 round trip).
 *
 * Resolves with the Room, or null when the person cancelled the dialog. Rejects with
 * ApiError for anything else (room_not_found, room_full, network trouble).
 */
export async function enterRoom(roomId, title, { askFirst = false } = {}) {
  if (!askFirst) {
    try {
      return await joinRoom(roomId);
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== 'wrong_password') throw error;
    }
  }
  return askPassword(title, (password) => joinRoom(roomId, password));
}

/**
 * Shows the password dialog until `tryJoin(password)` succeeds or the person cancels.
 * A wrong password keeps the dialog open with the server's message; other errors close it
 * and reject, so the caller shows them where they belong.
 */
export function askPassword(title, tryJoin) {
  const dialog = document.getElementById('password-dialog');
  const form = dialog.querySelector('form');
  const input = form.elements.namedItem('password');
  const error = dialog.querySelector('.form-error');
  const submit = form.querySelector('[type="submit"]');
  const cancel = form.querySelector('[data-action="cancel"]');
  const roomName = dialog.querySelector('[data-role="room-name"]');

  roomName.textContent = title ? `“${title}” is locked. Enter its password to join.` : 'Enter the room password to join.';
  input.value = '';
  input.removeAttribute('aria-invalid');
  clearError(error);
  submit.disabled = false;

  return new Promise((resolve, reject) => {
    const listeners = new AbortController();
    const { signal } = listeners;
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      listeners.abort();
      if (dialog.open) dialog.close();
      fn(value);
    };

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!input.value) {
        input.setAttribute('aria-invalid', 'true');
        showError(error, 'Enter the password.');
        input.focus();
        return;
      }
      submit.disabled = true;
      try {
        finish(resolve, await tryJoin(input.value));
      } catch (err) {
        if (err instanceof ApiError && (err.code === 'wrong_password' || err.status === 0 || err.status === 422)) {
          input.setAttribute('aria-invalid', 'true');
          showError(error, err);
          input.select();
        } else {
          finish(reject, err);
        }
      } finally {
        submit.disabled = false;
      }
    }, { signal });
    cancel.addEventListener('click', () => finish(resolve, null), { signal });
    // Escape closes a modal dialog by itself; treat it like Cancel.
    dialog.addEventListener('close', () => finish(resolve, null), { signal });

    dialog.showModal();
    input.focus();
  });
}
