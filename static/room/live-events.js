// What the live stream delivers, whichever transport carries it: messages, member lists, the
// room being deleted, being removed from it, and the server asking us to start over.

import { setConnectionState } from '/shared/connection-indicator.js';
import { state } from '/room/context.js';
import {
  cancelRoomRefresh, scheduleRoomRefresh, setChatState, showEnterError, showKickedNotice, showNotice,
} from '/room/entering.js';
import { loadHistory } from '/room/history.js';
import { stream } from '/room/transports.js';
import { showLive } from '/room/messages.js';
import { noteArrival } from '/room/unread.js';
import { notifyIfAddressed } from '/room/notifications.js';
import { onTyping, stopShowing } from '/room/typing.js';
import {
  applyMemberChange, loadMembers, membersAreLive, onMembers, restartMemberLists,
} from '/room/members.js';

/** The SSE stream's and the WebSocket's events (the same names and JSON on both) → handlers. */
export const STREAM_EVENTS = {
  chat: onStreamMessage,
  gif: onStreamMessage,
  system: onStreamMessage,
  whisper: onStreamMessage,
  members: onMembers,
  kicked: onKicked,
  'room-deleted': onRoomDeleted,
  resync: onResync,
  typing: onTyping,
};

export function onStreamMessage(message, event) {
  const id = Number(event?.lastEventId) || Number(message.id) || 0;
  state.cursor = Math.max(state.cursor, id);
  if (message.user?.id) stopShowing(message.user.id);
  if (showLive(message)) {
    noteArrival(message);
    notifyIfAddressed(message);
  }
  if (message.kind !== 'system') return;
  // The member list keeps the header count current; without a live one, re-read the room.
  if (membersAreLive()) applyMemberChange(message, id);
  else scheduleRoomRefresh();
}

/** Polling learns from a 403 kicked or 404 room_not_found answer what the streams hear as events. */
export function onPollGone(error) {
  if (error.code === 'kicked') onKicked();
  else onRoomDeleted();
}

export function onRoomDeleted() {
  stream.stop(); // the server ends the stream; without this the browser would reconnect
  cancelRoomRefresh();
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
  restartMemberLists();
  try {
    await loadHistory();
    stream.open();
    if (stream.name === 'poll') await loadMembers();
  } catch (error) {
    showEnterError(error);
  }
}
