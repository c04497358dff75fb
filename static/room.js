// A chat room: join, show history, follow new messages (over SSE, a WebSocket or long-polling,
// picked with the switch in the header), send text and GIFs; the member list
// with whispers and the owner's actions (remove a member, hand the room on).

import {
  ApiError, LiveStream, LongPoll, MAX_GIF_BYTES, RoomSocket, TRANSPORT_LABELS, api, askPassword,
  clearError, formatBytes, h, installGlobalErrorHandler, joinRoom, prefersReducedMotion,
  readableColor, renderIdentity, setConnectionState, setConnectionTransport, showError,
  timeElement, uploadGif,
} from '/api.js';

const HISTORY_PAGE = 50;
/** How close to the bottom (px) still counts as "at the bottom" for auto-scrolling. */
const BOTTOM_SLACK = 48;
/** Scrolling within this many px of the top fetches older messages. */
const TOP_SLACK = 150;
/** Largest box a GIF is drawn in; CSS max-width scales it down, keeping its aspect ratio. */
const GIF_MAX_WIDTH = 400;
const GIF_MAX_HEIGHT = 320;
/** Where the chosen transport (sse, ws, poll) is remembered, per browser. */
const TRANSPORT_KEY = 'gifchat.transport';
/** Seconds a long poll waits for something new. */
const POLL_WAIT_S = 25;
/** While polling (no member lists), the header count is re-read this often. */
const POLL_ROOM_REFRESH_MS = 30_000;

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
  membersPanel: $('members-panel'),
  membersList: $('members'),
  membersCount: $('members-count'),
  membersToggle: $('members-toggle'),
  whisperTarget: $('whisper-target'),
  whisperTargetName: $('whisper-target-name'),
  whisperCancel: $('whisper-cancel'),
  confirmDialog: $('confirm-dialog'),
  confirmTitle: $('confirm-title'),
  confirmText: $('confirm-text'),
  confirmOk: $('confirm-ok'),
  confirmCancel: $('confirm-cancel'),
  transportSwitch: $('transport-switch'),
  membersNote: $('members-note'),
};

const DEFAULT_PLACEHOLDER = els.text.placeholder;

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
  /** The room as last read (title, max); the header count prefers the member list. */
  room: null,
  /** The newest member list ({id, name, color, owner, since}[]) and its as_of; null before one. */
  members: null,
  membersAsOf: -Infinity,
  /** The pages of a long member list received so far ({asOf, members}), or null. */
  membersPage: null,
  /** Whisper mode: the recipient ({id, name, color}) of what the composer sends, or null. */
  whisperTo: null,
  /** Resolves the open confirm dialog's promise. */
  confirmResolve: null,
};

/** What the SSE stream and the WebSocket deliver: the same event names and JSON. */
const STREAM_EVENTS = {
  chat: onStreamMessage,
  gif: onStreamMessage,
  system: onStreamMessage,
  whisper: onStreamMessage,
  members: onMembers,
  kicked: onKicked,
  'room-deleted': onRoomDeleted,
  resync: onResync,
};

/**
 * The three ways of receiving the room's events. Each resumes after `state.cursor`, so
 * switching from one to another (stop the old, open the new) misses nothing, and what
 * both deliver is shown once (insertMessage skips ids already shown).
 */
const transports = {
  // Always resume after what we have; the browser's own Last-Event-ID header wins over it.
  sse: new LiveStream({
    url: () => `${roomPath}/events?after=${state.cursor}`,
    events: STREAM_EVENTS,
    beforeReopen: rejoinBeforeReopen,
  }),
  ws: new RoomSocket({
    url: () => `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}${roomPath}/ws?after=${state.cursor}`,
    events: STREAM_EVENTS,
    beforeReopen: rejoinBeforeReopen,
  }),
  poll: new LongPoll({
    url: () => `${roomPath}/messages?after=${state.cursor}`,
    wait: POLL_WAIT_S,
    onMessage: onStreamMessage,
    onGone: (error) => (error.code === 'kicked' ? onKicked() : onRoomDeleted()),
    beforeReopen: rejoinBeforeReopen,
  }),
};

/** The live feed of the page: whichever transport is chosen, behind one open/stop. */
const stream = {
  name: storedTransport(),
  get current() {
    return transports[this.name];
  },
  get running() {
    return !this.current.stopped;
  },
  open() {
    for (const [name, transport] of Object.entries(transports)) if (name !== this.name) transport.stop();
    this.current.open();
  },
  stop() {
    for (const transport of Object.values(transports)) transport.stop();
  },
};

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
  state.members = null;
  state.membersAsOf = -Infinity;
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
  } else if (error instanceof ApiError && error.code === 'kicked') {
    showKickedNotice('blocked');
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
  state.room = room;
  if (!membersAreLive()) applyOwner(room.owner);
  els.title.textContent = room.title;
  document.title = `${room.title} — gif-chat`;
  renderMemberCount();
}

/** "n/max members": n from the live member list once there is one, else from the Room. */
function renderMemberCount() {
  if (!state.room) return;
  const count = membersAreLive() ? state.members.length : state.room.members;
  els.members.textContent = `${count}/${state.room.max} members`;
}

// The room stream carries no member counts; system messages (joins, leaves) mean the count
// changed, so re-read the room shortly after a burst of them.
let refreshTimer = null;
function scheduleRoomRefresh(delay = 400) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      const room = await api(roomPath);
      if (els.chat.dataset.state === 'ready') renderRoomHeader(room);
    } catch {
      // Keep the old count; a deleted room announces itself (room-deleted, or a 404 poll).
    }
  }, delay);
}

// Long-polling carries messages only: keep the count (and the owner) from going stale.
setInterval(() => {
  if (stream.name === 'poll' && stream.running && !document.hidden) scheduleRoomRefresh(0);
}, POLL_ROOM_REFRESH_MS);

/** loading → ready, or blocked (cannot enter) / deleted; CSS shows and hides parts by it. */
function setChatState(value) {
  els.chat.dataset.state = value;
  const usable = value === 'ready';
  els.text.disabled = !usable;
  els.send.disabled = !usable || state.sending;
  els.gifButton.disabled = !usable;
  els.membersPanel.hidden = !usable || !state.members;
  if (!usable) {
    closePreview();
    clearWhisperTarget();
    settleConfirm(false);
  }
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
  const id = Number(event?.lastEventId) || Number(message.id) || 0;
  state.cursor = Math.max(state.cursor, id);
  showLive(message);
  if (message.kind !== 'system') return;
  // The member list keeps the header count current; without a live one, re-read the room.
  if (membersAreLive()) applyMemberChange(message, id);
  else scheduleRoomRefresh();
}

function onRoomDeleted() {
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
function onKicked() {
  stream.stop();
  setConnectionState('offline');
  showKickedNotice('kicked');
}

/** `kicked`: removed while here (history stays); `blocked`: refused on entering. */
function showKickedNotice(chatState) {
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
async function onResync(data) {
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

// ---------------------------------------------------------------------------
// Transport switch: SSE · WebSocket · Polling
// ---------------------------------------------------------------------------

/** The remembered choice; SSE unless this browser picked another one before. */
function storedTransport() {
  try {
    const saved = localStorage.getItem(TRANSPORT_KEY);
    if (Object.hasOwn(TRANSPORT_LABELS, saved ?? '')) return saved;
  } catch {
    // Storage blocked (privacy settings): the default, and nothing remembered.
  }
  return 'sse';
}

function rememberTransport(name) {
  try {
    localStorage.setItem(TRANSPORT_KEY, name);
  } catch {
    // Not remembered; it still applies to this page.
  }
}

function setUpTransportSwitch() {
  els.transportSwitch.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-transport]');
    if (button) switchTransport(button.dataset.transport);
  });
  renderTransport();
}

/** The pressed button, the indicator's transport and the member-list note follow the choice. */
function renderTransport() {
  for (const button of els.transportSwitch.querySelectorAll('button[data-transport]')) {
    button.setAttribute('aria-pressed', String(button.dataset.transport === stream.name));
  }
  els.transportSwitch.dataset.active = stream.name;
  setConnectionTransport(stream.name);
  els.membersNote.hidden = stream.name !== 'poll';
}

/**
 * Stops the running transport and starts the chosen one from the same cursor: the new one
 * replays everything after it, and ids already shown are skipped, so nothing is missed or
 * doubled. When no transport runs (still entering, kicked, deleted), only the choice
 * changes; whatever opens the stream later opens the chosen one.
 */
function switchTransport(name) {
  if (!Object.hasOwn(TRANSPORT_LABELS, name) || name === stream.name) return;
  const wasRunning = stream.running;
  stream.stop();
  stream.name = name;
  rememberTransport(name);
  renderTransport();
  renderMemberCount();
  if (!wasRunning) return;
  stream.open();
  // Polling brings no member lists: start from a fresh count (and owner).
  if (name === 'poll') scheduleRoomRefresh(0);
}

/** Member lists arrive over SSE and the WebSocket only; polling has counts from the room. */
function membersAreLive() {
  return Boolean(state.members) && stream.name !== 'poll';
}

/** While polling, a hand-over shows in the room's owner: move the crown in our old list. */
function applyOwner(owner) {
  if (!state.members || typeof owner?.id !== 'string') return;
  if (state.members.every((m) => Boolean(m.owner) === (m.id === owner.id))) return;
  state.members = state.members.map((m) => ({ ...m, owner: m.id === owner.id }));
  renderMembers();
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

  const author = h('span', { class: 'message-author', text: message.user?.name ?? 'someone' });
  author.style.color = readableColor(message.user?.color);
  const body = message.kind === 'gif'
    ? gifElement(message)
    : h('p', { class: 'message-text', text: message.text ?? '' });
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
  // Escape anywhere in the composer (text, chip, buttons) leaves whisper mode.
  els.composer.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !state.whisperTo) return;
    event.preventDefault();
    clearWhisperTarget();
    els.text.focus();
  });
  els.whisperCancel.addEventListener('click', () => {
    clearWhisperTarget();
    els.text.focus();
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
  // Never turn a whisper into a public message behind the writer's back: while the
  // recipient is gone, the text stays until they cancel whisper mode themselves.
  const to = state.whisperTo;
  if (to && !isMember(to.id)) {
    showError(els.composerError, `${to.name} is not in the room any more. Press Esc to write to everyone instead.`);
    return;
  }
  setSending(true);
  clearError(els.composerError);
  try {
    const body = to ? { text, to: to.id } : { text };
    const message = await withSeat(() => postText(body));
    // Only now is the text safe to drop; on failure it stays for another try.
    els.text.value = '';
    growTextarea();
    showLive(message, { mine: true });
  } catch (error) {
    if (isKicked(error)) onKicked();
    else showError(els.composerError, error);
  } finally {
    setSending(false);
    if (!els.text.disabled) els.text.focus();
  }
}

/**
 * With the WebSocket transport, a chat (or whisper) goes over the socket and its `ack` frame
 * answers like REST's 201, an `error` frame like an error status. While the socket is
 * between connections, REST still delivers it rather than refusing to send.
 */
function postText(body) {
  if (stream.name === 'ws') {
    const sent = transports.ws.sendChat(body);
    if (sent) return sent;
  }
  return api(`${roomPath}/messages`, { method: 'POST', body });
}

function isKicked(error) {
  return error instanceof ApiError && error.code === 'kicked';
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
  // GIFs cannot be whispered: say so rather than let one go public by surprise.
  const audience = state.whisperTo ? ' · GIFs go to everyone, not only to the whisper' : '';
  els.previewName.textContent = `${file.name || 'Pasted GIF'} · ${formatBytes(file.size)}${audience}`;
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
    if (isKicked(error)) onKicked();
    else if (!(error instanceof ApiError && error.code === 'aborted')) showError(els.gifError, error);
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

// ---------------------------------------------------------------------------
// Members: the live list, whisper mode, the owner's actions
// ---------------------------------------------------------------------------

function setUpMembers() {
  // One listener for all rows: they are rebuilt on every list, and read the member from it.
  els.membersList.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-role]');
    const row = button?.closest('[data-member-id]');
    if (!button || !row) return;
    const member = state.members?.find((m) => m.id === row.dataset.memberId);
    if (!member || els.chat.dataset.state !== 'ready') return;
    if (button.dataset.role === 'whisper') toggleWhisperTarget(member);
    else if (button.dataset.role === 'kick') ownerAction('kick', member, button);
    else if (button.dataset.role === 'make-owner') ownerAction('make-owner', member, button);
  });
  els.membersToggle.addEventListener('click', () => {
    const open = els.membersPanel.dataset.open !== 'true';
    els.membersPanel.dataset.open = String(open);
    els.membersToggle.setAttribute('aria-expanded', String(open));
  });
  els.confirmOk.addEventListener('click', () => settleConfirm(true));
  els.confirmCancel.addEventListener('click', () => settleConfirm(false));
  // Escape closes a modal dialog by itself; that is a Cancel.
  els.confirmDialog.addEventListener('close', () => {
    if (!els.confirmDialog.open) settleConfirm(false);
  });
}

/**
 * A `members` event: the list, longest-present first, sent once on connect. A long list comes
 * in pages with the same as_of, `more: true` on all but the last. Older lists (lower as_of) lose.
 */
function onMembers(data) {
  if (!Array.isArray(data?.members)) return;
  const asOf = Number(data.as_of);
  if (data.more === true) {
    if (state.membersPage?.asOf !== asOf) state.membersPage = { asOf, members: [] };
    state.membersPage.members.push(...data.members);
    return;
  }
  if (state.membersPage?.asOf === asOf) {
    // Pages left by a connection that broke off mid-list hold the same list (same as_of), so
    // joining them with the new connection's pages only repeats members: keep each once.
    const seen = new Set();
    const members = [...state.membersPage.members, ...data.members].filter((m) => !seen.has(m?.id) && seen.add(m?.id));
    data = { ...data, members };
  }
  state.membersPage = null;
  if (Number.isFinite(asOf)) {
    if (asOf < state.membersAsOf) return;
    state.membersAsOf = asOf;
  }
  state.members = data.members.filter((m) => m && typeof m.id === 'string');
  renderMembers();
  renderMemberCount();
}

/**
 * A system message records a membership change (`change`): apply it to the list, unless the
 * list was read after it (`as_of` at or past its id: the change is already in there).
 */
function applyMemberChange(message, id) {
  const user = message.user;
  if (!state.members || !message.change || typeof user?.id !== 'string') return;
  if (!(id > state.membersAsOf)) return;
  state.membersAsOf = id;
  const others = state.members.filter((m) => m.id !== user.id);
  const existing = state.members.find((m) => m.id === user.id);
  switch (message.change) {
    case 'joined':
      state.members = [...others, { ...user, owner: false, since: message.created_at }];
      break;
    case 'left':
    case 'kicked':
      state.members = others;
      break;
    case 'owner':
      state.members = state.members.map((m) => ({ ...m, owner: m.id === user.id }));
      break;
    case 'renamed':
      if (existing) state.members = state.members.map((m) => (m.id === user.id ? { ...m, ...user } : m));
      break;
    default:
      return;
  }
  renderMembers();
  renderMemberCount();
}

function isMember(id) {
  return Boolean(state.members?.some((m) => m.id === id));
}

function iAmOwner() {
  return Boolean(state.members?.some((m) => m.id === state.me?.id && m.owner));
}

function renderMembers() {
  const members = state.members ?? [];
  const owner = iAmOwner();
  // A rename made in another tab reaches this one through the list: keep the header current.
  const self = members.find((m) => m.id === state.me?.id);
  if (self && typeof self.name === 'string' && self.name !== state.me.name) {
    state.me = { ...state.me, name: self.name };
    renderIdentity(state.me);
  }
  // Rows are rebuilt; put focus back on the same button of the same member afterwards.
  const active = document.activeElement;
  const focused = els.membersList.contains(active)
    ? { id: active.closest('[data-member-id]')?.dataset.memberId, role: active.dataset.role }
    : null;

  els.membersList.replaceChildren(...members.map((member) => memberRow(member, owner)));
  els.membersPanel.dataset.owner = String(owner);
  els.membersCount.textContent = String(members.length);
  els.membersToggle.textContent = `Members (${members.length})`;
  els.membersPanel.hidden = els.chat.dataset.state !== 'ready';

  if (focused?.id) {
    const row = els.membersList.querySelector(`[data-member-id="${CSS.escape(focused.id)}"]`);
    const again = row?.querySelector(`[data-role="${CSS.escape(focused.role ?? '')}"]`)
      ?? row?.querySelector('button');
    if (again) again.focus({ preventScroll: true });
  }
  // Keep the whisper chip's name current (renames), and say so when the recipient left.
  if (state.whisperTo) {
    const current = members.find((m) => m.id === state.whisperTo.id);
    if (current) setWhisperTarget(current);
    else markWhisperTargetGone();
  }
}

function memberRow(member, viewerIsOwner) {
  const isMe = member.id === state.me?.id;
  const row = h('li', {
    class: `member${isMe ? ' is-me' : ''}${member.owner ? ' is-owner' : ''}`,
    'data-member-id': member.id,
    'data-owner': String(Boolean(member.owner)),
  });

  const swatch = h('span', { class: 'swatch member-swatch', 'aria-hidden': 'true' });
  swatch.style.backgroundColor = /^#[0-9a-f]{6}$/i.test(member.color ?? '') ? member.color : '';
  const name = h('span', { class: 'member-name', text: member.name ?? 'someone' });
  name.style.color = readableColor(member.color);
  const parts = [
    swatch,
    name,
    isMe ? h('span', { class: 'member-you', text: '(you)' }) : null,
    member.owner ? ownerBadge() : null,
  ];

  if (isMe) {
    row.append(h('span', { class: 'member-who' }, ...parts));
  } else {
    const selected = state.whisperTo?.id === member.id;
    row.append(h('button', {
      type: 'button',
      class: 'member-who member-whisper',
      'data-role': 'whisper',
      'aria-pressed': String(selected),
      title: selected ? `Stop whispering to ${member.name}` : `Whisper to ${member.name}`,
    }, h('span', { class: 'visually-hidden', text: 'Whisper to ' }), ...parts));
  }

  if (viewerIsOwner && !isMe) {
    row.append(h('div', { class: 'member-actions' },
      h('button', {
        type: 'button',
        class: 'button secondary danger kick-button',
        'data-role': 'kick',
        'aria-label': `Remove ${member.name} from the room`,
        text: 'Kick',
      }),
      h('button', {
        type: 'button',
        class: 'button secondary make-owner-button',
        'data-role': 'make-owner',
        'aria-label': `Make ${member.name} the owner`,
        text: 'Make owner',
      })));
  }
  return row;
}

function ownerBadge() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [key, value] of Object.entries({
    viewBox: '0 0 16 16', width: '12', height: '12', 'aria-hidden': 'true', focusable: 'false', class: 'owner-crown',
  })) svg.setAttribute(key, value);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M1 4.5 4.6 8 8 2.5 11.4 8 15 4.5 13.6 13H2.4z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return h('span', { class: 'owner-badge', title: 'Owner of this room' }, svg, 'owner');
}

// --- whisper mode ----------------------------------------------------------

function toggleWhisperTarget(member) {
  if (state.whisperTo?.id === member.id) clearWhisperTarget();
  else setWhisperTarget(member);
  els.text.focus();
}

function setWhisperTarget(member) {
  state.whisperTo = { id: member.id, name: member.name, color: member.color };
  els.whisperTargetName.textContent = member.name;
  els.whisperTargetName.style.color = readableColor(member.color);
  els.whisperTarget.hidden = false;
  delete els.whisperTarget.dataset.gone;
  els.composer.dataset.whisper = 'true';
  els.text.placeholder = `Whisper to ${member.name}…`;
  syncWhisperButtons();
}

/** The recipient left: keep whisper mode (so nothing private goes public) but say so. */
function markWhisperTargetGone() {
  els.whisperTarget.dataset.gone = 'true';
  els.whisperTargetName.textContent = `${state.whisperTo.name} (not in the room)`;
}

function clearWhisperTarget() {
  if (!state.whisperTo && els.whisperTarget.hidden) return;
  state.whisperTo = null;
  els.whisperTarget.hidden = true;
  delete els.whisperTarget.dataset.gone;
  els.whisperTargetName.textContent = '';
  delete els.composer.dataset.whisper;
  els.text.placeholder = DEFAULT_PLACEHOLDER;
  syncWhisperButtons();
}

function syncWhisperButtons() {
  for (const button of els.membersList.querySelectorAll('button[data-role="whisper"]')) {
    const id = button.closest('[data-member-id]')?.dataset.memberId;
    button.setAttribute('aria-pressed', String(id === state.whisperTo?.id));
  }
}

// --- owner actions ---------------------------------------------------------

const OWNER_ACTIONS = {
  kick: {
    title: (name) => `Remove ${name}?`,
    text: (name) => `${name} will be removed from this room and cannot come back while it exists.`,
    ok: 'Remove',
    request: (member) => api(`${roomPath}/kicks`, { method: 'POST', body: { user: member.id } }),
  },
  'make-owner': {
    title: (name) => `Make ${name} the owner?`,
    text: (name) => `${name} will own this room and can remove members. You will no longer be able to.`,
    ok: 'Make owner',
    request: (member) => api(`${roomPath}/owner`, { method: 'POST', body: { to: member.id } }),
  },
};

/** Asks first, then calls the API; the stream's system message and member list show the result. */
async function ownerAction(kind, member, button) {
  const action = OWNER_ACTIONS[kind];
  const confirmed = await confirmAction({
    title: action.title(member.name),
    text: action.text(member.name),
    ok: action.ok,
  });
  if (!confirmed || els.chat.dataset.state !== 'ready') return;
  clearError(els.composerError);
  button.disabled = true;
  try {
    await action.request(member);
  } catch (error) {
    showError(els.composerError, error);
  } finally {
    button.disabled = false; // harmless if the row was rebuilt meanwhile
  }
}

/** A modal with Confirm/Cancel; resolves true only for Confirm. Focus starts on Cancel. */
function confirmAction({ title, text, ok }) {
  settleConfirm(false);
  els.confirmTitle.textContent = title;
  els.confirmText.textContent = text;
  els.confirmOk.textContent = ok;
  return new Promise((resolve) => {
    state.confirmResolve = resolve;
    els.confirmDialog.showModal();
    els.confirmCancel.focus();
  });
}

function settleConfirm(value) {
  const resolve = state.confirmResolve;
  state.confirmResolve = null;
  if (els.confirmDialog.open) els.confirmDialog.close();
  if (resolve) resolve(value);
}
