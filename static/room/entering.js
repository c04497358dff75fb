// Entering the room: join (asking for a password if need be), the header, the page's state
// (loading, ready, blocked, deleted) and the notices that explain it.

import { ApiError, api, joinRoom } from '/shared/http.js';
import { askPassword } from '/shared/password.js';
import { renderIdentity } from '/shared/dom.js';
import { setConnectionState } from '/shared/connection-indicator.js';
import { els, roomId, roomPath, state } from '/room/context.js';
import { loadHistory } from '/room/history.js';
import { stream } from '/room/transports.js';
import { closePreview } from '/room/gifs.js';
import { applyOwner, clearMembers, loadMembers, membersAreLive, renderMemberCount } from '/room/members.js';
import { clearWhisperTarget } from '/room/whisper.js';
import { settleConfirm } from '/room/owner-actions.js';

export async function start() {
  setChatState('loading');
  clearMembers();
  if (!roomId) {
    showNotFound();
    return;
  }
  try {
    // Identity first, alone: a first visit gets its session cookie from this answer, and
    // parallel cookie-less requests would each be given a different identity.
    if (!state.me) {
      state.me = await api('/api/me');
      renderIdentity(state.me);
    }
    const room = await enter();
    if (!room) return;
    await loadHistory();
    stream.open();
    focusMessageBox();
    if (stream.name === 'poll') await loadMembers();
  } catch (error) {
    showEnterError(error);
  }
}

/**
 * The room is open: the cursor goes to the message box, ready to type, unless the reader
 * already put it somewhere, or the device types on a screen keyboard (focus would throw it
 * up over half the conversation the moment the room opens).
 */
function focusMessageBox() {
  const untouched = document.activeElement === document.body || document.activeElement === null;
  if (untouched && !window.matchMedia('(pointer: coarse)').matches) els.text.focus({ preventScroll: true });
}

/**
 * POST /join (no body first: open rooms need none, and a locked room remembers who gave
 * its password). A wrong_password answer asks for the password in the dialog.
 * Resolves with the Room, or null when the person cancelled (the notice is then shown).
 */
async function enter() {
  let room;
  try {
    room = await joinRoom(roomId);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'wrong_password') throw error;
    room = await askPassword(await roomTitleForDialog(), (password) => joinRoom(roomId, password));
    if (!room) {
      showNotice('This room is locked', 'You need the password to enter it.', { retry: true });
      return null;
    }
  }
  renderRoomHeader(room);
  setChatState('ready');
  return room;
}

/** The dialog reads better with the room's name; it is only a nicety, so errors are ignored. */
async function roomTitleForDialog() {
  try {
    return (await api(roomPath)).title;
  } catch {
    return '';
  }
}

export function showEnterError(error) {
  stream.stop();
  setConnectionState('offline');
  if (error instanceof ApiError && error.code === 'room_not_found') {
    showNotFound();
  } else if (error instanceof ApiError && error.code === 'kicked') {
    showKickedNotice('blocked');
  } else if (error instanceof ApiError && error.code === 'room_full') {
    showNotice('This room is full', 'Every seat is taken. Try again in a moment, or pick another room.', { retry: true });
  } else {
    showNotice('Could not enter the room', error instanceof ApiError ? error.message : String(error), { retry: true });
  }
}

function showNotFound() {
  document.title = 'Room not found — gif-chat';
  els.title.textContent = 'Room not found';
  showNotice('This room does not exist', 'It may have been deleted, or the link is wrong.');
}

/**
 * Runs before the page replaces an EventSource the browser gave up on (a stream answer
 * with an error status). Joining again tells us why, so we can say "room full" or
 * "not found" instead of reconnecting forever. Network trouble throws: retry later.
 */
export async function rejoinBeforeReopen() {
  try {
    return Boolean(await enter());
  } catch (error) {
    if (error instanceof ApiError && (error.status === 0 || error.status >= 500)) throw error;
    showEnterError(error);
    return false;
  }
}

function renderRoomHeader(room) {
  state.room = room;
  if (!membersAreLive()) applyOwner(room.owner);
  els.title.textContent = room.title;
  document.title = `${room.title} — gif-chat`;
  renderMemberCount();
}

// The room stream carries no member counts; system messages (joins, leaves) mean the count
// changed, so re-read the room shortly after a burst of them.
let refreshTimer = null;
export function scheduleRoomRefresh(delay = 400) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      const room = await api(roomPath);
      if (els.chat.dataset.state === 'ready') renderRoomHeader(room);
    } catch {
      // Keep the old count; a deleted room announces itself (room-deleted, or a 404 poll).
    }
  }, delay);
}

/** The room is gone for us (deleted, removed): a pending re-read would only get a refusal. */
export function cancelRoomRefresh() {
  clearTimeout(refreshTimer);
}

/**
 * Another transport was picked. The list we have stays current on polling too (the changes
 * come as messages), but polling gets no list of its own: read one, in case ours is missing
 * or was left behind while no transport ran.
 */
export function onTransportSwitched(name, { wasRunning }) {
  renderMemberCount();
  if (wasRunning && name === 'poll') loadMembers();
}

/** loading → ready, or blocked (cannot enter) / deleted; CSS shows and hides parts by it. */
export function setChatState(value) {
  els.chat.dataset.state = value;
  const usable = value === 'ready';
  els.text.disabled = !usable;
  els.send.disabled = !usable || state.sending;
  els.gifButton.disabled = !usable;
  els.membersPanel.hidden = !usable || !state.members;
  if (!usable) {
    closePreview();
    clearWhisperTarget();
    settleConfirm(false);
  }
}

export function showNotice(title, text, { retry = false, blocking = true } = {}) {
  els.noticeTitle.textContent = title;
  els.noticeText.textContent = text;
  els.noticeRetry.hidden = !retry;
  els.notice.hidden = false;
  if (blocking) setChatState('blocked');
}

export function hideNotice() {
  els.notice.hidden = true;
}

/** `kicked`: removed while here (history stays); `blocked`: refused on entering. */
export function showKickedNotice(chatState) {
  stream.stop();
  cancelRoomRefresh();
  setChatState(chatState);
  els.members.textContent = ''; // no longer ours to count
  showNotice(
    'You were removed from this room',
    'You were removed from this room by its owner, and cannot enter it again.',
    { blocking: false },
  );
  if (chatState === 'blocked' && !state.room) {
    els.title.textContent = 'Removed from room';
    document.title = 'Removed from room — gif-chat';
  }
}
