// Server-Sent Events: an EventSource that the page keeps alive.

import { HTTP_HEADERS_BYTES, parseJson, sseEventBytes } from '/shared/frames.js';

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
 * events: { name: (data, {lastEventId}) => void } with data already parsed from JSON,
 * beforeReopen?: async () => boolean (false stops; throwing retries later).
 *
 * It touches no page element: what it goes through is reported to callbacks, all optional,
 * and the same for RoomSocket and LongPoll.
 * - onState(state, detail): 'reconnecting' (opening), 'connected', 'offline' (the browser
 *   says it has no network), or 'reconnecting' with detail { retryAt, retryNow } while it
 *   waits to try again: retryAt is when (ms since the epoch; null when the browser picks the
 *   moment), retryNow() skips the wait.
 * - onRequest(): a new request went out (here: the EventSource, or the browser reconnecting).
 * - onBytes(n): about n bytes arrived (see frames.js).
 */
export class LiveStream {
  constructor({ url, events, beforeReopen, onState = () => {}, onRequest = () => {}, onBytes = () => {} }) {
    this.url = url;
    this.events = events;
    this.beforeReopen = beforeReopen;
    this.onState = onState;
    this.onRequest = onRequest;
    this.onBytes = onBytes;
    this.source = null;
    this.timer = null;
    this.attempt = 0;
    this.stopped = true;
    this.reopening = false;
    window.addEventListener('online', () => this.reopenNow());
    window.addEventListener('offline', () => {
      if (!this.stopped) this.onState('offline');
    });
  }

  open() {
    this.closeSource();
    this.stopped = false;
    this.onState('reconnecting');
    const source = new EventSource(this.url());
    this.source = source;
    this.onRequest();
    source.addEventListener('open', () => {
      this.attempt = 0;
      this.onBytes(HTTP_HEADERS_BYTES);
      this.onState('connected');
    });
    source.addEventListener('error', () => this.handleError(source));
    for (const [name, handler] of Object.entries(this.events)) {
      source.addEventListener(name, (event) => {
        this.onBytes(sseEventBytes(name, event.lastEventId, event.data));
        const data = parseJson(event.data);
        if (data !== undefined) handler(data, { lastEventId: event.lastEventId });
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
      // The browser retries by itself, when the server's `retry:` hint says.
      this.onRequest();
      this.onState('reconnecting', { retryAt: null, retryNow: () => this.retryNow() });
      return;
    }
    this.closeSource();
    this.scheduleReopen();
  }

  /** "Retry now": a fresh EventSource at once, whatever the browser or the back-off had planned. */
  retryNow() {
    if (this.stopped || this.reopening) return;
    this.closeSource();
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.reopen();
  }

  scheduleReopen() {
    if (this.stopped || this.timer) return;
    const delay = REOPEN_DELAYS_MS[Math.min(this.attempt, REOPEN_DELAYS_MS.length - 1)];
    this.attempt += 1;
    this.onState('reconnecting', { retryAt: Date.now() + delay, retryNow: () => this.retryNow() });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reopen();
    }, delay);
  }

  async reopen() {
    if (this.stopped || this.reopening) return;
    if (this.beforeReopen) {
      // One at a time: a "Retry now" while re-joining must not start a second re-join.
      this.reopening = true;
      this.onState('reconnecting');
      let proceed;
      try {
        proceed = await this.beforeReopen();
      } catch {
        this.reopening = false;
        this.scheduleReopen();
        return;
      } finally {
        this.reopening = false;
      }
      if (!proceed || this.stopped) return;
    }
    this.open();
  }
}
