// What the live stream delivers, whichever transport carries it: messages, the room being
// deleted, being removed from it, and the server asking us to start over.

import { setConnectionState } from '/api.js';
import { els, state } from '/room/context.js';
import {
  refreshTimer, scheduleRoomRefresh, setChatState, showEnterError, showNotice,
} from '/room/entering.js';
import { loadHistory } from '/room/history.js';
import { stream } from '/room/transports.js';
import { showLive } from '/room/messages.js';
import { applyMemberChange, membersAreLive } from '/room/members.js';

export function onStreamMessage(message, event) {
  const id = Number(event?.lastEventId) || Number(message.id) || 0;
  state.cursor = Math.max(state.cursor, id);
  showLive(message);
  if (message.kind !== 'system') return;
  // The member list keeps the header count current; without a live one, re-read the room.
  if (membersAreLive()) applyMemberChange(message, id);
  else scheduleRoomRefresh();
}

export function onRoomDeleted() {
  stream.stop(); // the server ends the stream; without this the browser would reconnect
  clearTimeout(refreshTimer);
  setConnectionState('offline');
  setChatState('deleted');
  showNotice('This room was deleted', 'Nobody can post here any more.', { blocking: false });
}

/**
 * The owner removed us. The server ends the stream after this event and would refuse a
 * reconnect (403 kicked), so close it ourselves. The history stays readable.
 */
export function onKicked() {
  stream.stop();
  setConnectionState('offline');
  showKickedNotice('kicked');
}

/** `kicked`: removed while here (history stays); `blocked`: refused on entering. */
export function showKickedNotice(chatState) {
  stream.stop();
  clearTimeout(refreshTimer);
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

/**
 * The server cannot resume where we are. The room is gone (deleted while we were away):
 * say so, as room-deleted would have. Otherwise it no longer has what we have (say, its
 * storage was reset): start over.
 */
export async function onResync(data) {
  if (data?.reason === 'room_gone') {
    onRoomDeleted();
    return;
  }
  stream.stop();
  // A reset server counts from scratch again: a lower as_of is now the newer list.
  state.membersAsOf = -Infinity;
  try {
    await loadHistory();
    stream.open();
  } catch (error) {
    showEnterError(error);
  }
}
