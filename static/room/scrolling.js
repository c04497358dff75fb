// Scrolling: follow new messages at the bottom, fetch older ones at the top.

import { prefersReducedMotion } from '/shared/dom.js';
import { els } from '/room/context.js';

/** How close to the bottom (px) still counts as "at the bottom" for auto-scrolling. */
const BOTTOM_SLACK = 48;
/** Scrolling within this many px of the top fetches older messages. */
const TOP_SLACK = 150;

/**
 * Whether the reader follows the end of the conversation: true at the bottom, false once they
 * scroll up. Kept from the last scroll, because a resize changes what isAtBottom() says
 * without the reader doing anything.
 */
let following = true;
/** The list's height when `following` was last decided (see the scroll listener). */
let decidedAt = 0;

/** `loadOlder` fetches the page above (history.js', which uses this module to keep its place). */
export function setUpScrolling({ loadOlder }) {
  els.scroller.addEventListener('scroll', () => {
    // A scroll the browser made while the list changed height (the message box measuring
    // itself at height:auto clamps scrollTop, then grows) is not the reader leaving the end:
    // the resize observer below decides those.
    if (els.scroller.clientHeight === decidedAt) following = isAtBottom();
    if (isAtBottom()) els.pill.hidden = true;
    if (els.scroller.scrollTop < TOP_SLACK && els.chat.dataset.state !== 'loading') loadOlder();
  }, { passive: true });
  // The list's box shrinks when a GIF preview, an error or the whisper chip opens, when the
  // message box grows a line, or when a phone's keyboard comes up; its content grows when a
  // GIF loads. A reader who was following stays at the end through all of it (the last
  // messages used to hide behind an opened preview).
  const keepFollowing = new ResizeObserver(() => {
    decidedAt = els.scroller.clientHeight;
    if (following) els.scroller.scrollTop = els.scroller.scrollHeight;
  });
  keepFollowing.observe(els.scroller);
  keepFollowing.observe(els.messages);
  els.loadOlder.addEventListener('click', loadOlder);
  els.pill.addEventListener('click', () => {
    scrollToBottom(true);
    els.text.focus({ preventScroll: true });
  });
}

export function isAtBottom() {
  const { scrollHeight, scrollTop, clientHeight } = els.scroller;
  return scrollHeight - scrollTop - clientHeight < BOTTOM_SLACK;
}

export function scrollToBottom(smooth = false) {
  following = true;
  els.scroller.scrollTo({
    top: els.scroller.scrollHeight,
    behavior: smooth && !prefersReducedMotion() ? 'smooth' : 'auto',
  });
  els.pill.hidden = true;
}
