// Long-polling: the room's messages over plain HTTP requests, for when neither SSE nor a
// WebSocket gets through.

import { toApiError } from '/shared/http.js';
import { backoffDelay, sleep } from '/shared/backoff.js';
import { HTTP_HEADERS_BYTES, byteLength, parseJson } from '/shared/frames.js';

/**
 * Long-polling: `GET url()&wait=<s>` in a loop, each answer `{"messages": [...]}` (and
 * `"typing": [...]` when someone started typing). Only messages and typing travel this way
 * (no member lists, no kicked or room-deleted events): a 403
 * `kicked` or 404 `room_not_found` answer calls `onGone(error)` instead. The first request
 * of a run asks with wait=0, so the indicator turns "connected" at once, not after a 25 s
 * wait; network failures and 5xx answers are retried with back-off, other refusals go
 * through `beforeReopen` (the room page re-joins, and shows "room full" and the like).
 *
 * Options: url() → string with `?after=` (called for every request), onMessage(message,
 * {lastEventId}), onTyping?(data) for each entry of an answer's `typing` list,
 * onGone(ApiError), beforeReopen?: async () => boolean, wait (seconds).
 * Callbacks as LiveStream's (onState, onRequest, onBytes: each answer's body and headers);
 * a waiting retry's detail also has `error`, the ApiError answered (null: no answer at all).
 * onAnswer({count, wait, ms}) follows each good answer: how many messages it carried, the
 * wait it asked for and how long it took.
 */
export class LongPoll {
  constructor({
    url, onMessage, onGone, beforeReopen, wait = 25, onTyping = () => {},
    onState = () => {}, onRequest = () => {}, onBytes = () => {}, onAnswer = () => {},
  }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onTyping = onTyping;
    this.onGone = onGone;
    this.beforeReopen = beforeReopen;
    this.wait = wait;
    this.onState = onState;
    this.onRequest = onRequest;
    this.onBytes = onBytes;
    this.onAnswer = onAnswer;
    this.controller = null;
    this.stopped = true;
    window.addEventListener('online', () => this.wake?.());
    window.addEventListener('offline', () => {
      if (!this.stopped) this.onState('offline');
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
    this.onState('reconnecting');
    // Waits out a back-off (after `error`: null for no answer); coming back online cuts it short.
    const backOff = async (error) => {
      const cut = new AbortController();
      const wake = () => cut.abort();
      this.wake = wake;
      signal.addEventListener('abort', wake);
      const delay = backoffDelay(attempt);
      this.onState('reconnecting', { retryAt: Date.now() + delay, retryNow: wake, error });
      await sleep(delay, cut.signal);
      // Trying now: the countdown and its button are done.
      if (!signal.aborted) this.onState('reconnecting');
      signal.removeEventListener('abort', wake);
      if (this.wake === wake) this.wake = null;
      attempt += 1;
      quick = true;
    };
    while (!signal.aborted) {
      const wait = quick ? 0 : this.wait;
      const askedAt = Date.now();
      let response;
      let text;
      try {
        this.onRequest();
        response = await fetch(`${this.url()}&wait=${wait}`, {
          signal,
          cache: 'no-store',
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
        });
        text = await response.text();
      } catch {
        if (signal.aborted) return;
        await backOff(null);
        continue;
      }
      if (signal.aborted) return;
      this.onBytes(byteLength(text) + HTTP_HEADERS_BYTES);
      const data = parseJson(text) ?? null;

      if (!response.ok) {
        const error = toApiError(response.status, data);
        if (error.code === 'kicked' || error.code === 'room_not_found') {
          this.stop();
          this.onGone(error);
          return;
        }
        if (response.status >= 500 || response.status === 429 || !this.beforeReopen) {
          await backOff(error);
          continue;
        }
        // Refused (room full, not a member any more): joining again says why, or fixes it.
        this.onState('reconnecting');
        let proceed;
        try {
          proceed = await this.beforeReopen();
        } catch {
          proceed = true; // network trouble: keep trying
        }
        if (!proceed || signal.aborted) return;
        await backOff(error);
        continue;
      }

      attempt = 0;
      this.onState('connected');
      const messages = Array.isArray(data?.messages) ? data.messages : [];
      this.onAnswer({ count: messages.length, wait, ms: Date.now() - askedAt });
      for (const message of messages) {
        if (signal.aborted) return;
        if (message && typeof message === 'object') this.onMessage(message, { lastEventId: String(message.id ?? '') });
      }
      const typing = Array.isArray(data?.typing) ? data.typing : [];
      for (const entry of typing) if (entry && typeof entry === 'object') this.onTyping(entry);
      // A long wait answered early and empty: the server is shutting down, or the room is
      // going away (the next answer says so). Pause a moment rather than spin.
      if (!quick && messages.length === 0 && typing.length === 0 && Date.now() - askedAt < 1000) await sleep(1000, signal);
      quick = false;
    }
  }
}
