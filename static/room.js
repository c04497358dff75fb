// A chat room: join, show history, follow new messages (over SSE, a WebSocket or long-polling,
// picked with the switch in the header), send text and GIFs; the member list
// with whispers and the owner's actions (remove a member, hand the room on).

import { installGlobalErrorHandler } from '/api.js';
import { els } from '/room/context.js';
import { hideNotice, start } from '/room/entering.js';
import { setUpTransportSwitch } from '/room/transports.js';
import { setUpScrolling } from '/room/scrolling.js';
import { setUpComposer } from '/room/composer.js';
import { setUpGifs } from '/room/gifs.js';
import { setUpMembers } from '/room/members.js';

installGlobalErrorHandler(els.composerError);
setUpTransportSwitch();
setUpComposer();
setUpGifs();
setUpScrolling();
setUpMembers();
els.noticeRetry.addEventListener('click', () => {
  hideNotice();
  start();
});
start();
