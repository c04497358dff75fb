// Unread cues: while the tab is hidden, its title counts the messages others sent ("(3) Cats
// — gif-chat"), as chat apps do, so a glance at the tab bar says something happened; coming
// back to the tab clears it.

import { state } from '/room/context.js';

const COUNT_PREFIX = /^\(\d+\) /u;
let unread = 0;

function render() {
  const title = document.title.replace(COUNT_PREFIX, '');
  document.title = unread > 0 ? `(${unread}) ${title}` : title;
}

/** A message just shown live: counts when the tab is hidden and someone else wrote it. */
export function noteArrival(message) {
  if (!document.hidden || message.kind === 'system' || message.user?.id === state.me?.id) return;
  unread += 1;
  render();
}

export function setUpUnread() {
  document.addEventListener('visibilitychange', () => {
    if (document.hidden || unread === 0) return;
    unread = 0;
    render();
  });
}
