// The lobby: who you are, a form to create a room, and the live list of rooms.

import { ApiError, api } from '/shared/http.js';
import { clearError, installGlobalErrorHandler, showError } from '/shared/errors.js';
import { h, paintUserColor, renderIdentity } from '/shared/dom.js';
import { enterRoom } from '/shared/password.js';
import { LiveStream } from '/shared/live-stream.js';
import { showTransportState } from '/shared/connection-indicator.js';
import { setUpNicknameForm as setUpNickname } from '/shared/nickname.js';

const roomList = document.getElementById('rooms');
const emptyState = document.getElementById('rooms-empty');
const roomCount = document.getElementById('room-count');
const roomsError = document.getElementById('rooms-error');

/** Room id → latest Room object. The rows read from here, so their handlers never go stale. */
const rooms = new Map();
/** Room id → its <li>. Rows are updated in place so a focused Enter button keeps focus. */
const rows = new Map();
/** Set once the stream delivered a full list; after that, GET /api/rooms is stale news. */
let haveSnapshot = false;
/** Our identity (null if /api/me failed); an owner may enter their room even when it is full. */
let me = null;

installGlobalErrorHandler(document.getElementById('page-error'));
start();

async function start() {
  // Identity first: a first-time visitor gets the session cookie from this answer, and
  // parallel requests without a cookie would each be handed a different identity.
  me = await loadMe();
  setUpNicknameForm();
  setUpCreateForm();

  const lobby = new LiveStream({
    url: () => '/api/lobby/events',
    events: {
      rooms: (data) => replaceRooms(data.rooms),
      'room-created': upsertRoom,
      'room-updated': upsertRoom,
      'room-deleted': (data) => removeRoom(data.id),
    },
    onState: showTransportState,
  });
  lobby.open();
  loadRoomsOnce();
}

async function loadMe() {
  try {
    const me = await api('/api/me');
    renderIdentity(me);
    return me;
  } catch (error) {
    showError(document.getElementById('page-error'), error);
    return null;
  }
}

/** A plain GET so the list shows even if the stream is slow or blocked by a proxy. */
async function loadRoomsOnce() {
  try {
    const data = await api('/api/rooms');
    if (!haveSnapshot) replaceRooms(data.rooms);
  } catch (error) {
    if (!haveSnapshot) {
      showError(roomsError, error);
      updateEmptyState();
    }
  }
}

// ---------------------------------------------------------------------------
// Nickname
// ---------------------------------------------------------------------------

function setUpNicknameForm() {
  const form = document.getElementById('nickname-form');
  if (me) form.elements.namedItem('name').value = me.name;
  setUpNickname({
    form,
    error: document.getElementById('nickname-error'),
    status: document.getElementById('nickname-status'),
    onSaved: (updated) => {
      me = updated;
      renderIdentity(updated);
    },
  });
}

// ---------------------------------------------------------------------------
// Create a room
// ---------------------------------------------------------------------------

/** Which input an API validation code points at, so it can be marked and focused. */
const FIELD_FOR_CODE = {
  invalid_title: 'title',
  invalid_max: 'max',
  invalid_password: 'password',
};

function setUpCreateForm() {
  const form = document.getElementById('create-room');
  const error = document.getElementById('create-error');
  const button = form.querySelector('[type="submit"]');
  const field = (name) => form.elements.namedItem(name);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError(error);
    for (const name of Object.values(FIELD_FOR_CODE)) field(name).removeAttribute('aria-invalid');

    const body = { title: field('title').value };
    const max = field('max').value.trim();
    if (max !== '') {
      // Validation is left to the API so there is one source of truth, except that a
      // non-number cannot even be sent as JSON integer.
      const number = Number(max);
      if (!Number.isInteger(number)) {
        markInvalid(field('max'), error, 'Max members must be a whole number.');
        return;
      }
      body.max = number;
    } else if (field('max').validity.badInput) {
      markInvalid(field('max'), error, 'Max members must be a whole number.');
      return;
    }
    if (field('password').value !== '') body.password = field('password').value;

    button.disabled = true;
    try {
      const room = await api('/api/rooms', { method: 'POST', body });
      // The creator already holds a seat, so go straight in.
      window.location.assign(`/rooms/${encodeURIComponent(room.id)}`);
    } catch (err) {
      const name = err instanceof ApiError ? FIELD_FOR_CODE[err.code] : undefined;
      if (name) markInvalid(field(name), error, err);
      else showError(error, err);
      button.disabled = false;
    }
  });
}

function markInvalid(input, errorElement, error) {
  input.setAttribute('aria-invalid', 'true');
  showError(errorElement, error);
  input.focus();
}

// ---------------------------------------------------------------------------
// Room list
// ---------------------------------------------------------------------------

/** The `rooms` event is the whole truth (sent on connect and after lag): replace everything. */
function replaceRooms(list) {
  haveSnapshot = true;
  clearError(roomsError);
  const incoming = new Set(list.map((room) => room.id));
  for (const id of [...rooms.keys()]) {
    if (!incoming.has(id)) removeRoom(id);
  }
  for (const room of list) upsertRoom(room);
  updateEmptyState();
}

function upsertRoom(room) {
  rooms.set(room.id, room);
  let row = rows.get(room.id);
  if (!row) {
    row = createRow(room.id);
    rows.set(room.id, row);
    insertInOrder(row, room);
  }
  updateRow(row, room);
  updateEmptyState();
}

function removeRoom(id) {
  rooms.delete(id);
  const row = rows.get(id);
  if (row) row.remove();
  rows.delete(id);
  updateEmptyState();
}

/** Newest first. Existing rows never move (created_at does not change), new ones slot in. */
function insertInOrder(row, room) {
  const created = Date.parse(room.created_at) || 0;
  for (const other of roomList.children) {
    const otherRoom = rooms.get(other.dataset.roomId);
    if (otherRoom && (Date.parse(otherRoom.created_at) || 0) < created) {
      roomList.insertBefore(row, other);
      return;
    }
  }
  roomList.append(row);
}

/** A padlock drawn in SVG: an emoji would depend on the visitor having an emoji font. */
function lockIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const shackle = document.createElementNS(ns, 'path');
  shackle.setAttribute('d', 'M5 7V5a3 3 0 0 1 6 0v2');
  shackle.setAttribute('fill', 'none');
  shackle.setAttribute('stroke', 'currentColor');
  shackle.setAttribute('stroke-width', '1.75');
  const body = document.createElementNS(ns, 'rect');
  for (const [name, value] of Object.entries({ x: 3, y: 7, width: 10, height: 8, rx: 1.5, fill: 'currentColor' })) {
    body.setAttribute(name, String(value));
  }
  svg.append(shackle, body);
  return svg;
}

function createRow(id) {
  const lock = h('span', { class: 'room-lock', role: 'img', 'aria-label': 'Locked', title: 'Locked: a password is needed' }, lockIcon());
  const owner = h('span', { class: 'room-owner' });
  const enter = h('button', { type: 'button', class: 'button primary room-enter' }, 'Enter');
  enter.addEventListener('click', () => onEnter(id, enter));

  return h('li', { class: 'room', 'data-room-id': id },
    h('div', { class: 'room-info' },
      h('div', { class: 'room-name-line' }, h('span', { class: 'room-title' }), lock),
      h('div', { class: 'room-owner-line' }, 'by ', owner)),
    h('div', { class: 'room-capacity' },
      h('span', { class: 'room-members' }),
      h('span', { class: 'visually-hidden' }, ' members'),
      h('span', { class: 'room-full-badge', text: 'Full' })),
    enter);
}

function updateRow(row, room) {
  row.querySelector('.room-title').textContent = room.title;
  row.querySelector('.room-lock').hidden = !room.locked;
  row.dataset.locked = String(room.locked);
  const owner = row.querySelector('.room-owner');
  owner.textContent = room.owner?.name ?? 'unknown';
  paintUserColor(owner, room.owner?.color);
  row.querySelector('.room-members').textContent = `${room.members}/${room.max}`;
  const full = room.members >= room.max;
  row.classList.toggle('is-full', full);
  row.querySelector('.room-full-badge').hidden = !full;
  // A full room cannot be entered, except by its owner (who may have a seat already); the
  // server would say so too, but a button that can only fail should not look like it works.
  const enter = row.querySelector('.room-enter');
  const closed = full && room.owner?.id !== me?.id;
  enter.disabled = closed;
  enter.textContent = closed ? 'Full' : 'Enter';
  enter.setAttribute('aria-label', closed ? `${room.title} is full` : `Enter ${room.title}`);
}

function updateEmptyState() {
  const count = rooms.size;
  if (count === 0) {
    emptyState.textContent = haveSnapshot ? 'No rooms yet. Create the first one!' : 'Loading rooms…';
  }
  emptyState.hidden = count > 0;
  roomCount.textContent = count > 0 ? String(count) : '';
}

// ---------------------------------------------------------------------------
// Entering a room
// ---------------------------------------------------------------------------

/**
 * Joins before navigating so "room full", "you were removed" or a wrong password is shown
 * right here, where the person can pick another room, rather than on a dead-end page. Even a
 * locked room is tried without a password first: the server answers a full room or a
 * removed member without asking for one (asking first, then refusing, was issue 16's item
 * 5), and the dialog opens only on `wrong_password`.
 */
async function onEnter(id, button) {
  const room = rooms.get(id);
  clearError(roomsError);
  button.disabled = true;
  try {
    const joined = await enterRoom(id, room?.title);
    if (joined) {
      window.location.assign(`/rooms/${encodeURIComponent(id)}`);
      return;
    }
  } catch (error) {
    showError(roomsError, error);
    if (error instanceof ApiError && error.code === 'room_not_found') removeRoom(id);
  }
  button.disabled = false;
  if (rows.has(id) && rooms.has(id)) updateRow(rows.get(id), rooms.get(id));
  if (button.isConnected && !button.disabled) button.focus();
}
