// History: the first page of messages, and older pages as the reader scrolls up.

import { api } from '/shared/http.js';
import { clearError, showError } from '/shared/errors.js';
import { els, roomPath, state } from '/room/context.js';
import { clearMessages, insertBatch, oldestShownId } from '/room/messages.js';
import { scrollToBottom } from '/room/scrolling.js';

const HISTORY_PAGE = 50;

/** Whether the server has messages before the oldest one shown, and whether we fetch them now. */
let hasOlder = false;
let loadingOlder = false;

export async function loadHistory() {
  const { messages } = await api(`${roomPath}/messages?limit=${HISTORY_PAGE}`);
  clearMessages();
  insertBatch(messages);
  state.cursor = messages.length ? messages[messages.length - 1].id : 0;
  setHasOlder(messages.length === HISTORY_PAGE && messages[0].id > 1);
  scrollToBottom();
}

export async function loadOlder() {
  if (loadingOlder || !hasOlder) return;
  const oldest = oldestShownId();
  if (!oldest || oldest <= 1) {
    setHasOlder(false);
    return;
  }
  loadingOlder = true;
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
    loadingOlder = false;
    els.loadOlder.disabled = false;
    els.loadOlder.textContent = 'Load older messages';
  }
}

function setHasOlder(value) {
  hasOlder = value;
  els.loadOlder.hidden = !value;
  els.historyStart.hidden = value;
}
