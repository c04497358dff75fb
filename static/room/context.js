// What every part of the room page shares: its elements, which room it is, and its state.

const $ = (id) => document.getElementById(id);
export const els = {
  chat: $('chat'),
  title: $('room-title'),
  members: $('room-members'),
  leave: $('leave'),
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
  count: $('composer-count'),
  typing: $('typing'),
  gifButton: $('gif-button'),
  gifInput: $('gif-input'),
  gifError: $('gif-error'),
  preview: $('gif-preview'),
  previewImage: $('gif-preview-image'),
  previewName: $('gif-preview-name'),
  previewAudience: $('gif-preview-audience'),
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
  notifyToggle: $('notify-toggle'),
  renameButton: $('rename-button'),
  renameDialog: $('rename-dialog'),
  renameForm: $('rename-form'),
  renameError: $('rename-error'),
  renameCancel: $('rename-cancel'),
  lightbox: $('gif-lightbox'),
  lightboxImage: $('lightbox-image'),
  lightboxCaption: $('lightbox-caption'),
  lightboxClose: $('lightbox-close'),
};

export const DEFAULT_PLACEHOLDER = els.text.placeholder;

export const roomId = parseRoomId();
export const roomPath = `/api/rooms/${encodeURIComponent(roomId ?? '')}`;

function parseRoomId() {
  const match = /^\/rooms\/([^/]+)\/?$/.exec(window.location.pathname);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

/**
 * What several modules of the page read. Each field says which module writes it; what only
 * one module needs stays inside that module.
 */
export const state = {
  /** Who we are ({id, name, color}): from /api/me (entering.js), renamed by members.js and rename.js. */
  me: null,
  /**
   * The id the stream resumes after, read by transports.js. Only moved by the stream
   * (live-events.js) and by the first page of history (history.js), never by our own POST
   * answers: those could jump past a message the stream has not delivered yet, which a
   * reconnect would then skip.
   */
  cursor: 0,
  /** Whether a text is being sent (composer.js). */
  sending: false,
  /** The room as last read (title, max), by entering.js; the header count prefers the member list. */
  room: null,
  /** The newest member list ({id, name, color, owner, since}[]), by members.js; null before one. */
  members: null,
  /** Whisper mode: the recipient ({id, name, color}) of what the composer sends, or null (whisper.js). */
  whisperTo: null,
};
