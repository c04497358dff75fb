// The owner's actions on a member (remove, hand the room on), each confirmed in a dialog first.

import { api } from '/shared/http.js';
import { clearError, showError } from '/shared/errors.js';
import { els, roomPath } from '/room/context.js';

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

/** Resolves the open confirm dialog's promise. */
let confirmResolve = null;

/** Asks first, then calls the API; the stream's system message and member list show the result. */
export async function ownerAction(kind, member, button) {
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
    confirmResolve = resolve;
    els.confirmDialog.showModal();
    els.confirmCancel.focus();
  });
}

export function settleConfirm(value) {
  const resolve = confirmResolve;
  confirmResolve = null;
  if (els.confirmDialog.open) els.confirmDialog.close();
  if (resolve) resolve(value);
}
