// The message list: rendering messages and inserting them in id order, once each; grouping
// runs of one sender's messages under one header, and a separator between days.

import { h, paintUserColor, timeElement } from '/shared/dom.js';
import { els, state } from '/room/context.js';
import { isAtBottom, scrollToBottom } from '/room/scrolling.js';
import { linkedText } from '/shared/links.js';
import { fillName } from '/room/names.js';
import { dayKey, dayLabel, fullDate } from '/room/days.js';

/** Largest box a GIF is drawn in; CSS max-width scales it down, keeping its aspect ratio. */
const GIF_MAX_WIDTH = 400;
const GIF_MAX_HEIGHT = 320;
/** A message joins the run above it when it is this close to the run's first message. */
const GROUP_WINDOW_MS = 5 * 60 * 1000;

/** Ids already in the list: the stream, history pages and POST answers overlap. */
const shown = new Set();

export function clearMessages() {
  els.messages.replaceChildren();
  shown.clear();
}

/** Inserts history; aria-busy keeps screen readers from reading a whole page aloud. */
export function insertBatch(messages) {
  els.messages.setAttribute('aria-busy', 'true');
  for (const message of messages) insertMessage(message);
  els.messages.removeAttribute('aria-busy');
}

/** The id of the oldest message shown (the list also holds day separators), or NaN. */
export function oldestShownId() {
  return Number(els.messages.querySelector('.message[data-message-id]')?.dataset.messageId);
}

/**
 * Adds a message that just happened, scrolling only if the reader was already at the bottom;
 * the reader's own message (`mine`: the POST's answer) always scrolls into view, even when the
 * stream's echo of it came first and was put in the list while the view was elsewhere.
 * Whether it was new to the list.
 */
export function showLive(message, { mine = false } = {}) {
  const wasAtBottom = isAtBottom();
  const inserted = insertMessage(message);
  if (mine) {
    scrollToBottom();
    return inserted;
  }
  if (!inserted) return false;
  if (wasAtBottom) scrollToBottom();
  else els.pill.hidden = false;
  return true;
}

/** Inserts in id order; returns false for a message that is already shown. */
function insertMessage(message) {
  const id = Number(message.id);
  if (!Number.isFinite(id) || shown.has(id)) return false;
  shown.add(id);
  const node = renderMessage(message);
  // New messages almost always belong at the end, so walk backwards from there.
  let after = lastMessageNode();
  while (after && Number(after.dataset.messageId) > id) after = neighbour(after, 'previousElementSibling');
  // Right after the message before it: a separator in between belongs to the message after.
  if (after) after.after(node);
  else els.messages.prepend(node);
  relabelDaysIfTheDateChanged();
  // The new message, and whichever follow it whose place in a run it changed.
  for (let at = node; at && relink(at); at = neighbour(at, 'nextElementSibling'));
  return true;
}

function lastMessageNode() {
  const last = els.messages.lastElementChild;
  return last && !last.classList.contains('message') ? neighbour(last, 'previousElementSibling') : last;
}

/** The nearest message element in a direction, past day separators. */
function neighbour(node, direction) {
  let at = node[direction];
  while (at && !at.classList.contains('message')) at = at[direction];
  return at;
}

// ---------------------------------------------------------------------------
// Runs and days
// ---------------------------------------------------------------------------

/**
 * Puts `node` in its place after the message above it: a day separator before it when the
 * day changes, and `continued` (its header shown only to screen readers) when it carries on
 * that sender's run. Runs break at a system message, between whispers and public messages (and
 * whispers to someone else), and once the run is GROUP_WINDOW_MS old. Returns whether
 * anything changed, so the message after it is looked at too (a run may now start earlier).
 */
function relink(node) {
  const previous = neighbour(node, 'previousElementSibling');
  const day = node.dataset.day;
  const newDay = !previous || previous.dataset.day !== day;
  let separator = node.previousElementSibling;
  if (separator && separator.classList.contains('message')) separator = null;
  let changed = false;
  if (newDay && !separator) {
    node.before(daySeparator(node.dataset.created));
    changed = true;
  } else if (!newDay && separator) {
    separator.remove();
    changed = true;
  }

  const continued = !newDay && continues(previous, node);
  const start = continued ? previous.dataset.runStart : node.dataset.created;
  if (node.classList.contains('continued') !== continued || node.dataset.runStart !== start) changed = true;
  node.classList.toggle('continued', continued);
  node.dataset.runStart = start;
  return changed;
}

function continues(previous, node) {
  if (!previous || node.dataset.kind === 'system' || previous.dataset.kind === 'system') return false;
  if (previous.dataset.author !== node.dataset.author || !node.dataset.author) return false;
  if ((previous.dataset.kind === 'whisper') !== (node.dataset.kind === 'whisper')) return false;
  if (previous.dataset.whisperTo !== node.dataset.whisperTo) return false;
  const since = Number(node.dataset.created) - Number(previous.dataset.runStart);
  return Number.isFinite(since) && since >= 0 && since < GROUP_WINDOW_MS;
}

function daySeparator(created) {
  const date = new Date(Number(created));
  const valid = !Number.isNaN(date.getTime());
  return h('p', { class: 'day-separator', 'data-day': valid ? dayKey(date) : '' },
    h('time', valid ? { datetime: dayKey(date), title: fullDate(date), text: dayLabel(date) } : { text: 'Unknown date' }));
}

/**
 * "Today" is tomorrow's "Yesterday": the labels are redone once the date has changed, on the
 * next insert or within a minute of midnight, whichever comes first.
 */
let labelledOn = dayKey(new Date());
setInterval(relabelDaysIfTheDateChanged, 60_000);
function relabelDaysIfTheDateChanged() {
  const today = dayKey(new Date());
  if (today === labelledOn) return;
  labelledOn = today;
  for (const time of els.messages.querySelectorAll('.day-separator time[datetime]')) {
    const [y, m, d] = time.getAttribute('datetime').split('-').map(Number);
    time.textContent = dayLabel(new Date(y, m - 1, d));
  }
}

// ---------------------------------------------------------------------------
// One message
// ---------------------------------------------------------------------------

function renderMessage(message) {
  const isSystem = message.kind === 'system';
  const isWhisper = message.kind === 'whisper';
  const side = isSystem ? 'system' : message.user?.id === state.me?.id ? 'mine' : 'theirs';
  const created = Date.parse(message.created_at);
  const article = h('article', {
    class: `message ${side}${isWhisper ? ' whisper' : ''}`,
    'data-message-id': message.id,
    'data-kind': message.kind,
    // What grouping compares (relink): who wrote it, to whom, and when.
    'data-author': isSystem ? null : message.user?.id ?? null,
    'data-whisper-to': isWhisper ? message.to?.id ?? '' : null,
    'data-created': Number.isFinite(created) ? created : null,
    'data-day': Number.isFinite(created) ? dayKey(new Date(created)) : '',
  });

  if (isSystem) {
    article.append(h('p', { class: 'message-text', text: message.text ?? '' }), timeElement(message.created_at));
    return article;
  }

  const author = h('span', { class: 'message-author', 'data-posted-as': message.user?.name ?? 'someone' });
  fillName(author, message.user, message.user?.name);
  paintUserColor(author, message.user?.color);
  const body = message.kind === 'gif'
    ? gifElement(message)
    : h('p', { class: 'message-text' }, ...linkedText(message.text ?? ''));
  // A whisper says who it went to: "Alice whispered to Bob" / "Bob whispered to you".
  const whisperLabel = isWhisper
    ? h('span', {
      class: 'whisper-label',
      text: side === 'mine' ? `whispered to ${message.to?.name ?? 'someone'}` : 'whispered to you',
    })
    : null;
  article.append(
    h('header', { class: 'message-meta' }, author, whisperLabel, timeElement(message.created_at)),
    h('div', { class: 'message-bubble' }, body),
  );
  return article;
}

/**
 * width/height come from the server so the box is reserved before the GIF loads and the
 * list does not jump; max-width scales it down (height follows via the aspect ratio).
 * The GIF is a button: it opens larger in the lightbox (lightbox.js).
 */
function gifElement(message) {
  const url = message.gif_url;
  if (typeof url !== 'string' || !url.startsWith('/') || url.startsWith('//')) {
    return h('p', { class: 'message-text muted', text: 'GIF unavailable' });
  }
  const width = Number(message.gif_width) > 0 ? Math.round(message.gif_width) : null;
  const height = Number(message.gif_height) > 0 ? Math.round(message.gif_height) : null;
  const img = h('img', {
    class: 'message-gif',
    src: url,
    alt: `GIF from ${message.user?.name ?? 'someone'}`,
    width,
    height,
    decoding: 'async',
  });
  const button = h('button', {
    type: 'button',
    class: 'gif-open',
    'aria-haspopup': 'dialog',
    title: 'Show larger',
  }, img);
  if (width && height) {
    // Cap tall GIFs by height too, through the width (CSSOM styles are allowed by the CSP).
    const limit = Math.round(Math.min(GIF_MAX_WIDTH, (GIF_MAX_HEIGHT * width) / height));
    button.style.maxWidth = `min(100%, ${Math.max(limit, 48)}px)`;
  }
  return button;
}
