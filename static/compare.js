// /compare: one room followed over three transports at once — Server-Sent Events, WebSocket
// and long-polling — with live counters, so the textbook's "polling vs WebSocket vs SSE"
// lesson can be watched in the Network tab. Messages are sent over REST (or the WebSocket).
//
// The transports are the room page's own (/shared/), each filling a column (compare/column.js)
// through compare/transports.js. This module is the page: the session, the picker, the composer.

import { ApiError, api, joinRoom } from '/shared/http.js';
import { clearError, errorText, installGlobalErrorHandler, showError } from '/shared/errors.js';
import { h, renderIdentity } from '/shared/dom.js';
import { Column } from '/compare/column.js';
import { createTransports } from '/compare/transports.js';

const BURST_SIZE = 20;
const COMPARISON_TITLE = 'Transport comparison';

const roomPath = (id) => `/api/rooms/${encodeURIComponent(id)}`;

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
// The three columns, and the transports that fill them
// ---------------------------------------------------------------------------

const columns = {
  sse: new Column('compare-sse'),
  ws: new Column('compare-ws'),
  poll: new Column('compare-poll'),
};

/** The session being shown; a stale one (the user switched rooms) does nothing any more. */
let current = null;

const transports = createTransports(columns, () => current);

function stopTransports() {
  for (const transport of Object.values(transports)) transport.stop();
}

// ---------------------------------------------------------------------------
// Sessions: one room followed over the three transports
// ---------------------------------------------------------------------------

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
  for (const transport of Object.values(transports)) transport.open();

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

sendWsButton.addEventListener('click', async () => {
  const session = current;
  if (!session?.active) return;
  const text = composedText();
  if (text === null) return;
  const sent = transports.ws.sendChat({ text });
  if (!sent) {
    showError(composerError, 'The WebSocket is not open right now. Wait for it to reconnect, or send with REST.');
    return;
  }
  const { ref } = sent;
  composeText.value = '';
  composerStatus.textContent = `Sent as a WebSocket frame (ref ${ref}); waiting for the server's ack…`;
  try {
    const message = await sent.reply;
    columns.ws.setStatus(`ack: your frame (ref ${ref}) became message #${message.id}.`, 'ok');
    if (session.active) composerStatus.textContent = `The server acknowledged ref ${ref} on the WebSocket: message #${message.id}.`;
  } catch (error) {
    // An `error` frame, or no answer before the socket closed or the wait ran out.
    const answered = error.status !== 0;
    columns.ws.setStatus(answered ? `error frame: ${errorText(error)}` : errorText(error), 'error');
    if (session.active) showError(composerError, answered ? `The WebSocket refused it: ${errorText(error)}` : error);
  }
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
