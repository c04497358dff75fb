// A chat room: join, show history, stream new messages, send text and GIFs.

import {
  ApiError, LiveStream, MAX_GIF_BYTES, api, askPassword, clearError, formatBytes, h,
  installGlobalErrorHandler, joinRoom, prefersReducedMotion, readableColor, renderIdentity,
  setConnectionState, showError, timeElement, uploadGif,
} from '/api.js';

const HISTORY_PAGE = 50;
/** How close to the bottom (px) still counts as "at the bottom" for auto-scrolling. */
const BOTTOM_SLACK = 48;
/** Scrolling within this many px of the top fetches older messages. */
const TOP_SLACK = 150;
/** Largest box a GIF is drawn in; CSS max-width scales it down, keeping its aspect ratio. */
const GIF_MAX_WIDTH = 400;
const GIF_MAX_HEIGHT = 320;

const $ = (id) => document.getElementById(id);
const els = {
  chat: $('chat'),
  title: $('room-title'),
  members: $('room-members'),
  notice: $('room-notice'),
  noticeTitle: $('notice-title'),
  noticeText: $('notice-text'),
  noticeRetry: $('notice-retry'),
  scroller: $('scroller'),
  messages: $('messages'),
  loadOlder: $('load-older'),
  historyStart: $('history-start'),
  historyError: $('history-error'),
  pill: $('new-messages'),
  composer: $('composer'),
  text: $('composer-text'),
  send: $('send-button'),
  composerError: $('composer-error'),
  gifButton: $('gif-button'),
  gifInput: $('gif-input'),
  gifError: $('gif-error'),
  preview: $('gif-preview'),
  previewImage: $('gif-preview-image'),
  previewName: $('gif-preview-name'),
  progress: $('gif-progress'),
  gifSend: $('gif-send'),
  gifCancel: $('gif-cancel'),
  dropOverlay: $('drop-overlay'),
};

const roomId = parseRoomId();
const roomPath = `/api/rooms/${encodeURIComponent(roomId ?? '')}`;

const state = {
  me: null,
  /** Ids already in the list: the stream, history pages and POST answers overlap. */
  shown: new Set(),
  /**
   * The id the stream resumes after. Only moved by the stream and by (contiguous) history
   * loads, never by our own POST answers: those could jump past a message the stream has
   * not delivered yet, which a reconnect would then skip.
   */
  cursor: 0,
  hasOlder: false,
  loadingOlder: false,
  sending: false,
  /** The GIF waiting in the preview, its object URL, and the running upload. */
  gif: null,
  gifUrl: null,
  upload: null,
};

const stream = new LiveStream({
  // Always resume after what we have; the browser's own Last-Event-ID header wins over it.
  url: () => `${roomPath}/events?after=${state.cursor}`,
  events: {
    chat: onStreamMessage,
    gif: onStreamMessage,
    system: onStreamMessage,
    'room-deleted': onRoomDeleted,
    resync: onResync,
  },
  beforeReopen: rejoinBeforeReopen,
});

installGlobalErrorHandler(els.composerError);
setUpComposer();
setUpGifs();
setUpScrolling();
els.noticeRetry.addEventListener('click', () => {
  hideNotice();
  start();
});
start();

// ---------------------------------------------------------------------------
// Entering the room
// ---------------------------------------------------------------------------

function parseRoomId() {
  const match = /^\/rooms\/([^/]+)\/?$/.exec(window.location.pathname);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

async function start() {
  setChatState('loading');
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
  } catch (error) {
    showEnterError(error);
  }
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

function showEnterError(error) {
  stream.stop();
  setConnectionState('offline');
  if (error instanceof ApiError && error.code === 'room_not_found') {
    showNotFound();
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
async function rejoinBeforeReopen() {
  try {
    return Boolean(await enter());
  } catch (error) {
    if (error instanceof ApiError && (error.status === 0 || error.status >= 500)) throw error;
    showEnterError(error);
    return false;
  }
}

function renderRoomHeader(room) {
  els.title.textContent = room.title;
  document.title = `${room.title} — gif-chat`;
  els.members.textContent = `${room.members}/${room.max} members`;
}

// The room stream carries no member counts; system messages (joins, leaves) mean the count
// changed, so re-read the room shortly after a burst of them.
let refreshTimer = null;
function scheduleRoomRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      renderRoomHeader(await api(roomPath));
    } catch {
      // Keep the old count; a deleted room announces itself with room-deleted.
    }
  }, 400);
}

/** loading → ready, or blocked (cannot enter) / deleted; CSS shows and hides parts by it. */
function setChatState(value) {
  els.chat.dataset.state = value;
  const usable = value === 'ready';
  els.text.disabled = !usable;
  els.send.disabled = !usable || state.sending;
  els.gifButton.disabled = !usable;
  if (!usable) closePreview();
}

function showNotice(title, text, { retry = false, blocking = true } = {}) {
  els.noticeTitle.textContent = title;
  els.noticeText.textContent = text;
  els.noticeRetry.hidden = !retry;
  els.notice.hidden = false;
  if (blocking) setChatState('blocked');
}

function hideNotice() {
  els.notice.hidden = true;
}

// ---------------------------------------------------------------------------
// History and the live stream
// ---------------------------------------------------------------------------

async function loadHistory() {
  const { messages } = await api(`${roomPath}/messages?limit=${HISTORY_PAGE}`);
  clearMessages();
  insertBatch(messages);
  state.cursor = messages.length ? messages[messages.length - 1].id : 0;
  setHasOlder(messages.length === HISTORY_PAGE && messages[0].id > 1);
  scrollToBottom();
}

async function loadOlder() {
  if (state.loadingOlder || !state.hasOlder) return;
  const oldest = Number(els.messages.firstElementChild?.dataset.messageId);
  if (!oldest || oldest <= 1) {
    setHasOlder(false);
    return;
  }
  state.loadingOlder = true;
  els.loadOlder.disabled = true;
  els.loadOlder.textContent = 'Loading older messages…';
  clearError(els.historyError);
  try {
    const { messages } = await api(`${roomPath}/messages?before=${oldest}&limit=${HISTORY_PAGE}`);
    // Keep what the reader is looking at in place while content grows above it.
    const { scrollHeight, scrollTop } = els.scroller;
    insertBatch(messages);
    els.scroller.scrollTop = scrollTop + (els.scroller.scrollHeight - scrollHeight);
    setHasOlder(messages.length === HISTORY_PAGE && messages[0].id > 1);
  } catch (error) {
    showError(els.historyError, error);
  } finally {
    state.loadingOlder = false;
    els.loadOlder.disabled = false;
    els.loadOlder.textContent = 'Load older messages';
  }
}

function setHasOlder(value) {
  state.hasOlder = value;
  els.loadOlder.hidden = !value;
  els.historyStart.hidden = value;
}

function onStreamMessage(message, event) {
  const id = Number(event.lastEventId) || message.id;
  state.cursor = Math.max(state.cursor, id);
  showLive(message);
  if (message.kind === 'system') scheduleRoomRefresh();
}

function onRoomDeleted() {
  stream.stop(); // the server ends the stream; without this the browser would reconnect
  setConnectionState('offline');
  setChatState('deleted');
  showNotice('This room was deleted', 'Nobody can post here any more.', { blocking: false });
}

/** The server no longer has what we have (say, its storage was reset): start over. */
async function onResync() {
  stream.stop();
  try {
    await loadHistory();
    stream.open();
  } catch (error) {
    showEnterError(error);
  }
}

// ---------------------------------------------------------------------------
// Message list
// ---------------------------------------------------------------------------

function clearMessages() {
  els.messages.replaceChildren();
  state.shown.clear();
}

/** Inserts history; aria-busy keeps screen readers from reading a whole page aloud. */
function insertBatch(messages) {
  els.messages.setAttribute('aria-busy', 'true');
  for (const message of messages) insertMessage(message);
  els.messages.removeAttribute('aria-busy');
}

/** Adds a message that just happened, scrolling only if the reader was already at the bottom. */
function showLive(message, { mine = false } = {}) {
  const wasAtBottom = isAtBottom();
  if (!insertMessage(message)) return;
  if (wasAtBottom || mine) scrollToBottom();
  else els.pill.hidden = false;
}

/** Inserts in id order; returns false for a message that is already shown. */
function insertMessage(message) {
  const id = Number(message.id);
  if (!Number.isFinite(id) || state.shown.has(id)) return false;
  state.shown.add(id);
  const node = renderMessage(message);
  // New messages almost always belong at the end, so walk backwards from there.
  let before = els.messages.lastElementChild;
  while (before && Number(before.dataset.messageId) > id) before = before.previousElementSibling;
  els.messages.insertBefore(node, before ? before.nextSibling : els.messages.firstChild);
  return true;
}

function renderMessage(message) {
  const isSystem = message.kind === 'system';
  const side = isSystem ? 'system' : message.user?.id === state.me?.id ? 'mine' : 'theirs';
  const article = h('article', {
    class: `message ${side}`,
    'data-message-id': message.id,
    'data-kind': message.kind,
  });

  if (isSystem) {
    article.append(h('p', { class: 'message-text', text: message.text ?? '' }), timeElement(message.created_at));
    return article;
  }

  const author = h('span', { class: 'message-author', text: message.user?.name ?? 'someone' });
  author.style.color = readableColor(message.user?.color);
  const body = message.kind === 'gif'
    ? gifElement(message)
    : h('p', { class: 'message-text', text: message.text ?? '' });
  article.append(
    h('header', { class: 'message-meta' }, author, timeElement(message.created_at)),
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

// ---------------------------------------------------------------------------
// Scrolling
// ---------------------------------------------------------------------------

function setUpScrolling() {
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

function isAtBottom() {
  const { scrollHeight, scrollTop, clientHeight } = els.scroller;
  return scrollHeight - scrollTop - clientHeight < BOTTOM_SLACK;
}

function scrollToBottom(smooth = false) {
  els.scroller.scrollTo({
    top: els.scroller.scrollHeight,
    behavior: smooth && !prefersReducedMotion() ? 'smooth' : 'auto',
  });
  els.pill.hidden = true;
}

// ---------------------------------------------------------------------------
// Composer
// ---------------------------------------------------------------------------

function setUpComposer() {
  els.text.addEventListener('keydown', (event) => {
    // Enter sends, Shift+Enter is a newline; never send in the middle of IME composition.
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    els.composer.requestSubmit();
  });
  els.text.addEventListener('input', growTextarea);
  els.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    sendText();
  });
}

function growTextarea() {
  els.text.style.height = 'auto';
  els.text.style.height = `${Math.min(els.text.scrollHeight, 160)}px`;
}

async function sendText() {
  const text = els.text.value;
  if (state.sending || els.chat.dataset.state !== 'ready' || text.trim() === '') return;
  setSending(true);
  clearError(els.composerError);
  try {
    const message = await withSeat(() => api(`${roomPath}/messages`, { method: 'POST', body: { text } }));
    // Only now is the text safe to drop; on failure it stays for another try.
    els.text.value = '';
    growTextarea();
    showLive(message, { mine: true });
  } catch (error) {
    showError(els.composerError, error);
  } finally {
    setSending(false);
    els.text.focus();
  }
}

/** readOnly rather than disabled keeps focus (and the caret) in the textarea. */
function setSending(sending) {
  state.sending = sending;
  els.text.readOnly = sending;
  els.send.disabled = sending || els.chat.dataset.state !== 'ready';
  els.composer.setAttribute('aria-busy', String(sending));
}

/**
 * Seats expire when no stream is open (a long network drop, a laptop lid). A post then
 * gets not_a_member: take the seat again and retry once.
 */
async function withSeat(action) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'not_a_member') throw error;
    await joinRoom(roomId);
    return action();
  }
}

// ---------------------------------------------------------------------------
// GIFs: pick, drop or paste → preview → upload with progress
// ---------------------------------------------------------------------------

function setUpGifs() {
  els.gifButton.addEventListener('click', () => els.gifInput.click());
  els.gifInput.addEventListener('change', () => {
    const file = els.gifInput.files?.[0];
    // Reset now so choosing the same file again still fires `change`.
    els.gifInput.value = '';
    if (file) prepareGif(file);
  });
  els.gifSend.addEventListener('click', sendGif);
  els.gifCancel.addEventListener('click', cancelGif);
  els.preview.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') cancelGif();
  });
  setUpDragAndDrop();
  document.addEventListener('paste', (event) => {
    const file = event.clipboardData?.files?.[0];
    if (!file) return; // plain text: let the textarea have it
    event.preventDefault();
    prepareGif(file);
  });
}

function setUpDragAndDrop() {
  let depth = 0; // dragenter/dragleave fire for every child element crossed
  const carriesFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes('Files');
  const hideOverlay = () => {
    depth = 0;
    els.dropOverlay.hidden = true;
  };

  window.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    if (els.chat.dataset.state === 'ready') els.dropOverlay.hidden = false;
  });
  window.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    // Always cancel, or the browser navigates away to show the dropped file.
    event.preventDefault();
    event.dataTransfer.dropEffect = els.chat.dataset.state === 'ready' ? 'copy' : 'none';
  });
  window.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) hideOverlay();
  });
  window.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    hideOverlay();
    const file = event.dataTransfer.files?.[0];
    if (file) prepareGif(file);
  });
}

/** Why a file cannot be sent, or null. Mirrors the server's checks to fail fast. */
function gifProblem(file) {
  const looksLikeGif = file.type === 'image/gif' || (file.type === '' && /\.gif$/i.test(file.name));
  if (!looksLikeGif) {
    const kind = file.type ? ` (${file.type})` : '';
    return `“${file.name || 'This file'}”${kind} is not a GIF. Only GIF images can be sent.`;
  }
  if (file.size === 0) return 'This file is empty.';
  if (file.size > MAX_GIF_BYTES) {
    return `This GIF is ${formatBytes(file.size)}; the limit is ${formatBytes(MAX_GIF_BYTES)}.`;
  }
  return null;
}

function prepareGif(file) {
  if (els.chat.dataset.state !== 'ready') return;
  if (state.upload) {
    showError(els.gifError, 'Wait for the current upload to finish, or cancel it.');
    return;
  }
  clearError(els.gifError);
  const problem = gifProblem(file);
  if (problem) {
    showError(els.gifError, problem);
    return;
  }
  releasePreviewUrl();
  state.gif = file;
  state.gifUrl = URL.createObjectURL(file); // blob: URLs are allowed by the CSP's img-src
  els.previewImage.src = state.gifUrl;
  els.previewName.textContent = `${file.name || 'Pasted GIF'} · ${formatBytes(file.size)}`;
  els.progress.hidden = true;
  els.progress.value = 0;
  els.gifSend.disabled = false;
  els.preview.hidden = false;
  els.gifSend.focus();
}

async function sendGif() {
  const file = state.gif;
  if (!file || state.upload) return;
  clearError(els.gifError);
  els.gifSend.disabled = true;
  els.progress.value = 0;
  els.progress.hidden = false;
  const attempt = () => {
    state.upload = uploadGif(roomId, file, (fraction) => {
      els.progress.value = Math.round(fraction * 100);
    });
    return state.upload.promise;
  };
  try {
    const message = await withSeat(attempt);
    closePreview();
    showLive(message, { mine: true });
    els.text.focus();
  } catch (error) {
    // A cancelled upload needs no message; the preview is already gone.
    if (!(error instanceof ApiError && error.code === 'aborted')) showError(els.gifError, error);
  } finally {
    state.upload = null;
    els.progress.hidden = true;
    els.gifSend.disabled = false;
  }
}

function cancelGif() {
  if (state.upload) state.upload.abort();
  closePreview();
  if (!els.text.disabled) els.text.focus();
}

function closePreview() {
  if (state.upload) state.upload.abort();
  state.gif = null;
  releasePreviewUrl();
  els.previewImage.removeAttribute('src');
  els.preview.hidden = true;
}

function releasePreviewUrl() {
  if (state.gifUrl) URL.revokeObjectURL(state.gifUrl);
  state.gifUrl = null;
}
