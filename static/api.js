// Shared helpers for the gif-chat pages: JSON fetch, GIF upload, error display,
// safe DOM building, the live-stream wrapper and the room password dialog.
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

/** Updates `#connection`: data-state is what tests read, the label is what people read. */
export function setConnectionState(state) {
  const indicator = document.getElementById('connection');
  if (!indicator) return;
  indicator.dataset.state = state;
  const label = indicator.querySelector('.connection-label');
  if (label) label.textContent = CONNECTION_LABELS[state] ?? state;
  indicator.title = `Connection: ${CONNECTION_LABELS[state] ?? state}`;
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
