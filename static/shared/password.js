// Joining rooms, with the password dialog for locked rooms.

import { ApiError, joinRoom } from '/shared/http.js';
import { clearError, showError } from '/shared/errors.js';

/**
 * Takes a seat in a room. Tries without a password first: open rooms need none, a locked
 * room remembers its owner and whoever gave the password before, and a full room or a
 * removed member is refused before any password is asked for. A `wrong_password` answer
 * then opens `#password-dialog`.
 *
 * Resolves with the Room, or null when the person cancelled the dialog. Rejects with
 * ApiError for anything else (room_not_found, room_full, kicked, network trouble).
 */
export async function enterRoom(roomId, title) {
  try {
    return await joinRoom(roomId);
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'wrong_password') throw error;
  }
  return askPassword(title, (password) => joinRoom(roomId, password));
}

/**
 * Shows the password dialog until `tryJoin(password)` succeeds or the person cancels.
 * A wrong password keeps the dialog open with the server's message; other errors close it
 * and reject, so the caller shows them where they belong.
 */
export function askPassword(title, tryJoin) {
  const dialog = document.getElementById('password-dialog');
  const form = dialog.querySelector('form');
  const input = form.elements.namedItem('password');
  const error = dialog.querySelector('.form-error');
  const submit = form.querySelector('[type="submit"]');
  const cancel = form.querySelector('[data-action="cancel"]');
  const roomName = dialog.querySelector('[data-role="room-name"]');

  roomName.textContent = title ? `“${title}” is locked. Enter its password to join.` : 'Enter the room password to join.';
  input.value = '';
  input.removeAttribute('aria-invalid');
  clearError(error);
  submit.disabled = false;

  return new Promise((resolve, reject) => {
    const listeners = new AbortController();
    const { signal } = listeners;
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      listeners.abort();
      if (dialog.open) dialog.close();
      fn(value);
    };

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!input.value) {
        input.setAttribute('aria-invalid', 'true');
        showError(error, 'Enter the password.');
        input.focus();
        return;
      }
      submit.disabled = true;
      try {
        finish(resolve, await tryJoin(input.value));
      } catch (err) {
        if (err instanceof ApiError && (err.code === 'wrong_password' || err.status === 0 || err.status === 422)) {
          input.setAttribute('aria-invalid', 'true');
          showError(error, err);
          input.select();
        } else {
          finish(reject, err);
        }
      } finally {
        submit.disabled = false;
      }
    }, { signal });
    cancel.addEventListener('click', () => finish(resolve, null), { signal });
    // Escape closes a modal dialog by itself; treat it like Cancel.
    dialog.addEventListener('close', () => finish(resolve, null), { signal });

    dialog.showModal();
    input.focus();
  });
}
