// The live feed: SSE, WebSocket or long-polling, and the switch in the header that picks one.

import {
  LiveStream, LongPoll, RoomSocket, TRANSPORT_LABELS, setConnectionTransport, showTransportState,
} from '/api.js';
import { els, roomPath, state } from '/room/context.js';
import { rejoinBeforeReopen, renderMemberCount, scheduleRoomRefresh } from '/room/entering.js';
import { onKicked, onResync, onRoomDeleted, onStreamMessage } from '/room/live-events.js';
import { onMembers } from '/room/members.js';

/** Where the chosen transport (sse, ws, poll) is remembered, per browser. */
const TRANSPORT_KEY = 'gifchat.transport';
/** Seconds a long poll waits for something new. */
const POLL_WAIT_S = 25;

/** What the SSE stream and the WebSocket deliver: the same event names and JSON. */
const STREAM_EVENTS = {
  chat: onStreamMessage,
  gif: onStreamMessage,
  system: onStreamMessage,
  whisper: onStreamMessage,
  members: onMembers,
  kicked: onKicked,
  'room-deleted': onRoomDeleted,
  resync: onResync,
};

/**
 * The three ways of receiving the room's events. Each resumes after `state.cursor`, so
 * switching from one to another (stop the old, open the new) misses nothing, and what
 * both deliver is shown once (insertMessage skips ids already shown). They report their
 * state to the header's indicator.
 */
export const transports = {
  // Always resume after what we have; the browser's own Last-Event-ID header wins over it.
  sse: new LiveStream({
    url: () => `${roomPath}/events?after=${state.cursor}`,
    events: STREAM_EVENTS,
    beforeReopen: rejoinBeforeReopen,
    onState: showTransportState,
  }),
  ws: new RoomSocket({
    url: () => `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}${roomPath}/ws?after=${state.cursor}`,
    events: STREAM_EVENTS,
    beforeReopen: rejoinBeforeReopen,
    onState: showTransportState,
  }),
  poll: new LongPoll({
    url: () => `${roomPath}/messages?after=${state.cursor}`,
    wait: POLL_WAIT_S,
    onMessage: onStreamMessage,
    onGone: (error) => (error.code === 'kicked' ? onKicked() : onRoomDeleted()),
    beforeReopen: rejoinBeforeReopen,
    onState: showTransportState,
  }),
};

/** The live feed of the page: whichever transport is chosen, behind one open/stop. */
export const stream = {
  name: storedTransport(),
  get current() {
    return transports[this.name];
  },
  get running() {
    return !this.current.stopped;
  },
  open() {
    for (const [name, transport] of Object.entries(transports)) if (name !== this.name) transport.stop();
    this.current.open();
  },
  stop() {
    for (const transport of Object.values(transports)) transport.stop();
  },
};

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

export function setUpTransportSwitch() {
  els.transportSwitch.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-transport]');
    if (button) switchTransport(button.dataset.transport);
  });
  renderTransport();
}

/** The pressed button, the indicator's transport and the member-list note follow the choice. */
function renderTransport() {
  for (const button of els.transportSwitch.querySelectorAll('button[data-transport]')) {
    button.setAttribute('aria-pressed', String(button.dataset.transport === stream.name));
  }
  els.transportSwitch.dataset.active = stream.name;
  setConnectionTransport(stream.name);
  els.membersNote.hidden = stream.name !== 'poll';
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
  renderMemberCount();
  if (!wasRunning) return;
  stream.open();
  // Polling brings no member lists: start from a fresh count (and owner).
  if (name === 'poll') scheduleRoomRefresh(0);
}
