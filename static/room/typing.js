// "Ann is typing…": who is typing in the room (or in a whisper to us), shown under the
// conversation for a few seconds, and telling the others while we type. Ephemeral: the
// server neither stores nor replays it, so a reconnect simply shows nobody typing.

import { api } from '/shared/http.js';
import { els, roomPath, state } from '/room/context.js';
import { stream } from '/room/transports.js';

/** How long one "is typing" stays shown unless another comes. */
const SHOW_MS = 6000;
/** How often we say so while typing (the server passes on one per 2 s at most). */
const SEND_EVERY_MS = 3000;

/** Who is typing now: user id → { name, timer }. */
const typists = new Map();
let lastSent = 0;

/** A `typing` event, from any transport: `{user, to}`. */
export function onTyping(data) {
  const user = data?.user;
  if (!user || typeof user.id !== 'string' || user.id === state.me?.id) return;
  clearTimeout(typists.get(user.id)?.timer);
  const timer = setTimeout(() => stopShowing(user.id), SHOW_MS);
  typists.set(user.id, { name: String(user.name ?? ''), timer });
  render();
}

/** Their message arrived: they are no longer typing it. */
export function stopShowing(userId) {
  const typist = typists.get(userId);
  if (!typist) return;
  clearTimeout(typist.timer);
  typists.delete(userId);
  render();
}

function render() {
  const names = [...typists.values()].map((typist) => typist.name);
  els.typing.textContent =
    names.length === 0 ? ''
      : names.length === 1 ? `${names[0]} is typing…`
        : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
          : 'Several people are typing…';
}

/** Called on each keystroke in the composer: says we are typing, at most every few seconds. */
export function noteTyping() {
  if (!els.text.value.trim() || !state.me) return;
  const now = Date.now();
  if (now - lastSent < SEND_EVERY_MS) return;
  lastSent = now;
  const body = state.whisperTo ? { to: state.whisperTo.id } : {};
  if (stream.sendTyping(body)) return;
  // Best effort: a refusal here (no seat yet, a blip) changes nothing for the writer.
  api(`${roomPath}/typing`, { method: 'POST', body }).catch(() => {});
}

/** After a send: the next keystroke starts a new message, and says so at once. */
export function typingSent() {
  lastSent = 0;
}
