// The live feed: SSE, WebSocket or long-polling, and the switch in the header that picks one.
// What the feed delivers is handled elsewhere (live-events.js), handed in by room.js.

import { LiveStream } from '/shared/live-stream.js';
import { RoomSocket } from '/shared/room-socket.js';
import { LongPoll } from '/shared/long-poll.js';
import { TRANSPORT_LABELS, setConnectionTransport, showTransportState } from '/shared/connection-indicator.js';
import { els, roomPath, state } from '/room/context.js';

/** Where the chosen transport (sse, ws, poll) is remembered, per browser. */
const TRANSPORT_KEY = 'gifchat.transport';
/** Seconds a long poll waits for something new. */
const POLL_WAIT_S = 25;

/** The three ways of receiving the room's events, once `setUpTransports` has made them. */
let transports = null;
/** Called after the person picked another transport (the header count follows it). */
let onSwitch = () => {};

/** The live feed of the page: whichever transport is chosen, behind one open/stop. */
export const stream = {
  name: storedTransport(),
  get current() {
    return transports[this.name];
  },
  get running() {
    return Boolean(transports) && !this.current.stopped;
  },
  open() {
    for (const [name, transport] of Object.entries(transports)) if (name !== this.name) transport.stop();
    this.current.open();
  },
  stop() {
    for (const transport of Object.values(transports ?? {})) transport.stop();
  },
  /**
   * On the WebSocket, a chat (or whisper) goes over the socket: { ref, reply } as
   * RoomSocket.sendChat. Null on the other transports, or while the socket is between
   * connections: REST delivers it then.
   */
  sendChat(body) {
    return this.name === 'ws' ? transports.ws.sendChat(body) : null;
  },
  /** On the WebSocket, "typing" goes over the socket (true); elsewhere the caller POSTs it. */
  sendTyping(body) {
    return this.name === 'ws' && transports.ws.sendTyping(body);
  },
};

/**
 * Makes the three transports and sets up the switch. Each resumes after `state.cursor`, so
 * switching from one to another (stop the old, open the new) misses nothing, and what both
 * deliver is shown once (insertMessage skips ids already shown). They report their state to
 * the header's indicator.
 *
 * `events`: what the SSE stream and the WebSocket deliver, the same event names and JSON
 * ({ name: (data, {lastEventId}) => void }). Polling brings messages only, to `onMessage`
 * (as events.chat), and `onGone(error)` when it is told that we were removed or the room is gone.
 * `beforeReopen`: re-joins before a refused stream is tried again (see LiveStream).
 * `onSwitch(name, {wasRunning})`: after the person picked another transport.
 */
export function setUpTransports({ events, onMessage, onGone, beforeReopen, onSwitch: switched }) {
  onSwitch = switched;
  transports = {
    // Always resume after what we have; the browser's own Last-Event-ID header wins over it.
    sse: new LiveStream({
      url: () => `${roomPath}/events?after=${state.cursor}`,
      events,
      beforeReopen,
      onState: showTransportState,
    }),
    ws: new RoomSocket({
      url: () => `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}${roomPath}/ws?after=${state.cursor}`,
      events,
      beforeReopen,
      onState: showTransportState,
    }),
    poll: new LongPoll({
      url: () => `${roomPath}/messages?after=${state.cursor}`,
      wait: POLL_WAIT_S,
      onMessage,
      onTyping: events.typing,
      onGone,
      beforeReopen,
      onState: showTransportState,
    }),
  };
  els.transportSwitch.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-transport]');
    if (button) switchTransport(button.dataset.transport);
  });
  renderTransport();
}

/** The remembered choice; SSE unless this browser picked another one before. */
function storedTransport() {
  try {
    const saved = localStorage.getItem(TRANSPORT_KEY);
    if (Object.hasOwn(TRANSPORT_LABELS, saved ?? '')) return saved;
  } catch {
    // Storage blocked (privacy settings): the default, and nothing remembered.
  }
  return 'sse';
}

function rememberTransport(name) {
  try {
    localStorage.setItem(TRANSPORT_KEY, name);
  } catch {
    // Not remembered; it still applies to this page.
  }
}

/** The pressed button and the indicator's transport follow the choice. */
function renderTransport() {
  for (const button of els.transportSwitch.querySelectorAll('button[data-transport]')) {
    button.setAttribute('aria-pressed', String(button.dataset.transport === stream.name));
  }
  els.transportSwitch.dataset.active = stream.name;
  setConnectionTransport(stream.name);
}

/**
 * Stops the running transport and starts the chosen one from the same cursor: the new one
 * replays everything after it, and ids already shown are skipped, so nothing is missed or
 * doubled. When no transport runs (still entering, kicked, deleted), only the choice
 * changes; whatever opens the stream later opens the chosen one.
 */
function switchTransport(name) {
  if (!Object.hasOwn(TRANSPORT_LABELS, name) || name === stream.name) return;
  const wasRunning = stream.running;
  stream.stop();
  stream.name = name;
  rememberTransport(name);
  renderTransport();
  onSwitch(name, { wasRunning });
  if (wasRunning) stream.open();
}
