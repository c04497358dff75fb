// /compare's three transports, the room page's own (/shared/), each filling its column with
// what it reports: requests, bytes, its state, and the messages it delivers.

import { sentence } from '/shared/errors.js';
import { LiveStream } from '/shared/live-stream.js';
import { RoomSocket } from '/shared/room-socket.js';
import { LongPoll } from '/shared/long-poll.js';

/** The events that are room messages (the ones counted); `members` etc. are not. */
const MESSAGE_EVENTS = ['chat', 'gif', 'system', 'whisper'];
const POLL_WAIT_S = 25;

/**
 * The transports for `columns` ({sse, ws, poll}, each a Column). `session()` is the room
 * being followed ({roomId, start, end(reason), recover()}), or null: the transports ask it
 * where to connect, and tell it when the room is gone for us. Each resumes after the newest
 * message its own column has.
 */
export function createTransports(columns, session) {
  const path = () => `/api/rooms/${encodeURIComponent(session().roomId)}`;
  const after = (column) => column.lastId ?? session().start;
  // Before a refused stream is tried again: re-join, as the room page does.
  const beforeReopen = () => session()?.recover() ?? false;
  return {
    sse: new LiveStream({
      url: () => `${path()}/events?after=${after(columns.sse)}`,
      events: streamEvents(columns.sse, session),
      beforeReopen,
      ...report(columns.sse, {
        opened: { label: 'Open', status: 'One request, still open: events arrive on it.' },
        // retryAt null: the stream dropped and the browser reconnects by itself (with
        // Last-Event-ID); otherwise the server refused it and the page opens a new one.
        waiting: ({ retryAt }) => (retryAt === null
          ? ['reconnecting', 'Reconnecting…', 'The connection dropped; the browser reconnects by itself.', '']
          : ['offline', 'Closed', 'The server refused the stream; trying again…', 'error']),
      }),
    }),
    ws: new RoomSocket({
      url: () => `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}${path()}/ws?after=${after(columns.ws)}`,
      events: streamEvents(columns.ws, session),
      beforeReopen,
      ...report(columns.ws, {
        opened: { label: 'Open', status: 'One upgraded connection (101), used both ways.' },
        waiting: ({ closeCode, closeReason }) => ['reconnecting', 'Reconnecting…',
          `Closed (code ${closeCode}${closeReason ? `: ${closeReason}` : ''}); reconnecting…`, 'error'],
      }),
    }),
    poll: new LongPoll({
      url: () => `${path()}/messages?after=${after(columns.poll)}`,
      wait: POLL_WAIT_S,
      onMessage: (message) => columns.poll.deliver(message),
      onGone: (error) => session()?.end(sentence(error.message)),
      beforeReopen,
      onAnswer: (answer) => columns.poll.setStatus(pollStatus(answer)),
      ...report(columns.poll, {
        // Every answer ends the request; onAnswer says what it carried.
        opened: { label: 'Polling', status: null },
        waiting: ({ error }) => ['reconnecting', 'Retrying…', error
          ? `${sentence(error.message)} Trying again…`
          : 'The request failed (no answer from the server); trying again…', 'error'],
      }),
    }),
  };
}

/**
 * The callbacks through which a transport fills `column`: requests, bytes, and its state as
 * the pill and status line. `opened` is the pill's label once it is up, and the status then
 * (null: leave it); `waiting(detail)` says [pill state, label, status, tone] while it waits
 * to try again.
 */
function report(column, { opened, waiting }) {
  return {
    onRequest: () => column.addRequest(),
    onBytes: (n) => column.addBytes(n),
    onState: (state, detail) => {
      if (state === 'connected') {
        column.setState('connected', opened.label);
        if (opened.status) column.setStatus(column.requests === 1 ? opened.status : 'Reconnected; resumed after the last id.');
      } else if (detail) {
        const [pill, label, status, tone] = waiting(detail);
        column.setState(pill, label);
        column.setStatus(status, tone);
      } else if (state === 'offline') {
        column.setState('offline', 'Offline');
      } else {
        column.setState('reconnecting', 'Connecting…');
      }
    },
  };
}

/** The SSE stream's and the WebSocket's events: messages counted, the room's end followed. */
function streamEvents(column, session) {
  const events = {
    // Not messages: listened to only so that the transport counts their bytes.
    members: () => {},
    resync: () => {},
    'room-deleted': () => session()?.end('The room was deleted.'),
    kicked: (data) => session()?.end(sentence(data?.message ?? 'You were removed from this room')),
  };
  for (const name of MESSAGE_EVENTS) events[name] = (message) => column.deliver(message);
  return events;
}

/** What the poll's last answer shows about long-polling. */
function pollStatus({ count, wait, ms }) {
  if (count > 0) return `The last answer carried ${count} message${count === 1 ? '' : 's'} and ended; the page asked again.`;
  if (wait === 0) {
    return `Answered at once: the first request (and the first after a failure) asks with wait=0; the next ones wait up to ${POLL_WAIT_S} s for news.`;
  }
  // Empty before the wait was up: the room was deleted, we were removed, or the server is
  // shutting down. The next answer (or the streams) will say which.
  if (ms < (wait - 1) * 1000) return 'The server ended the request early with nothing new; asking again shortly.';
  return `Nothing new for ${wait} s: the request ended empty, so the page asks again.`;
}
