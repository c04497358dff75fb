// The message list: rendering messages and inserting them in id order, once each.

import { h, paintUserColor, timeElement } from '/shared/dom.js';
import { els, state } from '/room/context.js';
import { isAtBottom, scrollToBottom } from '/room/scrolling.js';
import { linkedText } from '/shared/links.js';
import { fillName } from '/room/names.js';

/** Largest box a GIF is drawn in; CSS max-width scales it down, keeping its aspect ratio. */
const GIF_MAX_WIDTH = 400;
const GIF_MAX_HEIGHT = 320;

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
  let before = els.messages.lastElementChild;
  while (before && Number(before.dataset.messageId) > id) before = before.previousElementSibling;
  els.messages.insertBefore(node, before ? before.nextSibling : els.messages.firstChild);
  return true;
}

function renderMessage(message) {
  const isSystem = message.kind === 'system';
  const isWhisper = message.kind === 'whisper';
  const side = isSystem ? 'system' : message.user?.id === state.me?.id ? 'mine' : 'theirs';
  const article = h('article', {
    class: `message ${side}${isWhisper ? ' whisper' : ''}`,
    'data-message-id': message.id,
    'data-kind': message.kind,
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
  if (width && height) {
    // Cap tall GIFs by height too, through the width (CSSOM styles are allowed by the CSP).
    const limit = Math.round(Math.min(GIF_MAX_WIDTH, (GIF_MAX_HEIGHT * width) / height));
    img.style.maxWidth = `min(100%, ${Math.max(limit, 48)}px)`;
  }
  return img;
}
