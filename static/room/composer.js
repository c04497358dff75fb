// The composer: send text (or a whisper), over the WebSocket when that is the transport.

import { api } from '/shared/http.js';
import { clearError, showError } from '/shared/errors.js';
import { els, roomPath, state } from '/room/context.js';
import { stream } from '/room/transports.js';
import { showLive } from '/room/messages.js';
import { isMember } from '/room/members.js';
import { clearWhisperTarget } from '/room/whisper.js';
import { isKicked, withSeat } from '/room/seat.js';
import { noteTyping, typingSent } from '/room/typing.js';

/** What a refused post calls when the owner removed us (live-events.js' onKicked). */
let onKicked = () => {};

export function setUpComposer(options) {
  onKicked = options.onKicked;
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
  els.text.addEventListener('input', showCount);
  els.text.addEventListener('input', noteTyping);
  loadLimit();
  // Its cause is what was typed: once that changes, the error has had its say.
  els.text.addEventListener('input', () => clearError(els.composerError));
  els.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    sendText();
  });
}

/** The longest text the server takes, in characters; /api/limits says, 1,000 until it has. */
let maxChars = 1000;

async function loadLimit() {
  try {
    const limits = await api('/api/limits');
    if (Number.isInteger(limits.message_chars) && limits.message_chars > 0) maxChars = limits.message_chars;
    showCount();
  } catch {
    // Without it the server's own refusal still says the limit.
  }
}

/** From this share of the limit on, the counter shows what is left; past it, by how much. */
const COUNT_FROM = 0.9;

/**
 * Counts as the server does: characters (code points, not UTF-16 units) of the trimmed text.
 * Hidden while the limit is far away, so it does not compete with the conversation.
 */
function showCount() {
  const length = [...els.text.value.trim()].length;
  const left = maxChars - length;
  els.count.hidden = length < maxChars * COUNT_FROM;
  els.count.textContent = left >= 0 ? `${left} left` : `${-left} too many`;
  els.count.dataset.over = String(left < 0);
  els.count.title = `At most ${maxChars.toLocaleString()} characters`;
}

/**
 * Fits the box to its text. Measuring at height:auto shrinks it for a moment, which lets the
 * conversation above grow and the browser clamp its scroll position: put that back, or every
 * keystroke would pull a reader at the end a little further from it.
 */
function growTextarea() {
  const { scrollTop } = els.scroller;
  els.text.style.height = 'auto';
  els.text.style.height = `${Math.min(els.text.scrollHeight, 160)}px`;
  els.scroller.scrollTop = scrollTop;
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
    showCount();
    typingSent();
    clearError(els.gifError); // whatever it said, sending works
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
  const sent = stream.sendChat(body);
  if (sent) return sent.reply;
  return api(`${roomPath}/messages`, { method: 'POST', body });
}

/** readOnly rather than disabled keeps focus (and the caret) in the textarea. */
function setSending(sending) {
  state.sending = sending;
  els.text.readOnly = sending;
  els.send.disabled = sending || els.chat.dataset.state !== 'ready';
  els.composer.setAttribute('aria-busy', String(sending));
}
