// Scrolling: follow new messages at the bottom, fetch older ones at the top.

import { prefersReducedMotion } from '/shared/dom.js';
import { els } from '/room/context.js';

/** How close to the bottom (px) still counts as "at the bottom" for auto-scrolling. */
const BOTTOM_SLACK = 48;
/** Scrolling within this many px of the top fetches older messages. */
const TOP_SLACK = 150;

/** `loadOlder` fetches the page above (history.js', which uses this module to keep its place). */
export function setUpScrolling({ loadOlder }) {
  els.scroller.addEventListener('scroll', () => {
    if (isAtBottom()) els.pill.hidden = true;
    if (els.scroller.scrollTop < TOP_SLACK && els.chat.dataset.state !== 'loading') loadOlder();
  }, { passive: true });
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
  els.scroller.scrollTo({
    top: els.scroller.scrollHeight,
    behavior: smooth && !prefersReducedMotion() ? 'smooth' : 'auto',
  });
  els.pill.hidden = true;
}
