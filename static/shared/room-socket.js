// The room WebSocket: the same room events as the SSE stream, and chats sent over it.

import { ApiError } from '/shared/http.js';
import { backoffDelay } from '/shared/backoff.js';
import { WS_HANDSHAKE_BYTES, parseJson, wsFrameBytes } from '/shared/frames.js';

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
 * It also carries chats: `sendChat({text, to?})` → { ref, reply }: the frame's ref, and a
 * Promise of the stored Message (from the `ack` frame), rejected with ApiError for an `error`
 * frame; null while the socket is not open.
 *
 * Options as LiveStream: url() → string, events: { name: (data, {lastEventId}) => void },
 * beforeReopen?: async () => boolean, and the callbacks onState, onRequest (each socket
 * opened), onBytes (frames and the handshake); a waiting retry's detail also has the
 * `closeCode` and `closeReason` of the socket that closed.
 */
export class RoomSocket {
  constructor({ url, events, beforeReopen, onState = () => {}, onRequest = () => {}, onBytes = () => {} }) {
    this.url = url;
    this.events = events;
    this.beforeReopen = beforeReopen;
    this.onState = onState;
    this.onRequest = onRequest;
    this.onBytes = onBytes;
    /** The current connection: { socket, pending: Map(ref → {resolve, reject, timer}) }. */
    this.conn = null;
    this.timer = null;
    this.attempt = 0;
    this.stopped = true;
    this.nextRef = 0;
    /** Whether the socket being waited on was refused (never opened), so its reopen re-joins first. */
    this.lastRefused = false;
    window.addEventListener('online', () => this.reopenNow());
    window.addEventListener('offline', () => {
      if (!this.stopped) this.onState('offline');
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

  /** Sends a chat (a whisper with `to`): { ref, reply }; null when the socket is not open right now. */
  sendChat({ text, to }) {
    if (!this.isOpen()) return null;
    const { conn } = this;
    this.nextRef += 1;
    const ref = this.nextRef;
    const frame = to ? { type: 'chat', text, to, ref } : { type: 'chat', text, ref };
    const reply = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(conn, ref, () => reject(new ApiError(0, 'network_error',
          'The server did not confirm the message in time. It may still have been sent.')));
      }, WS_REPLY_TIMEOUT_MS);
      conn.pending.set(ref, { resolve, reject, timer });
      conn.socket.send(JSON.stringify(frame));
    });
    return { ref, reply };
  }

  /** Says we are typing (`to`: in a whisper); false when the socket is not open right now. */
  sendTyping({ to } = {}) {
    if (!this.isOpen()) return false;
    this.conn.socket.send(JSON.stringify(to ? { type: 'typing', to } : { type: 'typing' }));
    return true;
  }

  reopenNow() {
    if (this.stopped || this.conn) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    // A socket the server refused goes through `beforeReopen` (the re-join) as ever.
    this.reopen(this.lastRefused);
  }

  connect() {
    this.onState('reconnecting');
    const socket = new WebSocket(this.url());
    const conn = { socket, pending: new Map(), released: false };
    this.conn = conn;
    this.onRequest();
    let opened = false;
    socket.addEventListener('open', () => {
      if (conn.released) {
        // Let go of while connecting: closing it before it opened would make Chrome log an error.
        socket.close(1000, 'transport switched');
        return;
      }
      opened = true;
      this.attempt = 0;
      this.onBytes(WS_HANDSHAKE_BYTES);
      this.onState('connected');
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      if (conn === this.conn) this.onBytes(wsFrameBytes(event.data));
      this.handleFrame(conn, event.data);
    });
    // `error` is always followed by `close`, which handles both.
    socket.addEventListener('close', (event) => {
      failPending(conn, 'The connection closed before the server confirmed the message. It may still have been sent.');
      if (conn !== this.conn) return; // one we let go of
      this.conn = null;
      if (this.stopped) return;
      this.scheduleReopen(!opened, { closeCode: event.code, closeReason: event.reason });
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

  /** `closed`: the close code and reason of the socket that closed, for onState's detail. */
  scheduleReopen(refused, closed = {}) {
    if (this.stopped || this.timer) return;
    this.lastRefused = refused;
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.onState('reconnecting', { retryAt: Date.now() + delay, retryNow: () => this.reopenNow(), ...closed });
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
