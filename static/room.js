// A chat room: join, show history, follow new messages (over SSE, a WebSocket or long-polling,
// picked with the switch in the header), send text and GIFs; the member list
// with whispers and the owner's actions (remove a member, hand the room on).
//
// The modules under /room/ import downwards only; what a lower one must call in a higher one
// (the stream's events, being removed) is handed to it here.

import { api } from '/shared/http.js';
import { installGlobalErrorHandler } from '/shared/errors.js';
import { els, roomPath } from '/room/context.js';
import {
  hideNotice, onTransportSwitched, rejoinBeforeReopen, start,
} from '/room/entering.js';
import { STREAM_EVENTS, onKicked, onPollGone, onStreamMessage } from '/room/live-events.js';
import { setUpTransports, stream } from '/room/transports.js';
import { loadOlder } from '/room/history.js';
import { setUpScrolling } from '/room/scrolling.js';
import { setUpComposer } from '/room/composer.js';
import { setUpGifs } from '/room/gifs.js';
import { setUpMembers } from '/room/members.js';
import { setUpUnread } from '/room/unread.js';
import { setUpLightbox } from '/room/lightbox.js';
import { setUpRename } from '/room/rename.js';
import { setUpNotifications } from '/room/notifications.js';

installGlobalErrorHandler(els.composerError);
setUpTransports({
  events: STREAM_EVENTS,
  onMessage: onStreamMessage,
  onGone: onPollGone,
  beforeReopen: rejoinBeforeReopen,
  onSwitch: onTransportSwitched,
});
setUpComposer({ onKicked });
setUpGifs({ onKicked });
setUpScrolling({ loadOlder });
setUpMembers();
setUpUnread();
setUpLightbox();
setUpRename();
setUpNotifications();
// "Leave" gives the seat up at once (everyone sees it, an owner hands the room on); only a
// closed tab or a lost connection waits for the grace period.
els.leave.addEventListener('click', async (event) => {
  event.preventDefault();
  stream.stop();
  try {
    await api(`${roomPath}/seat`, { method: 'DELETE' });
  } catch {
    // The seat lapses after the grace period all the same.
  }
  window.location.assign(els.leave.href);
});
els.noticeRetry.addEventListener('click', () => {
  hideNotice();
  start();
});
start();
