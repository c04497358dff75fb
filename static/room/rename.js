// Changing one's nickname without leaving the room: the header's name opens a dialog that
// saves through the lobby's own code (shared/nickname.js). The server announces the rename in
// the room (a `renamed` system message), which updates the member list, and through it the
// names on old messages (names.js).

import { renderIdentity } from '/shared/dom.js';
import { resetNicknameForm, setUpNicknameForm } from '/shared/nickname.js';
import { els, state } from '/room/context.js';

export function setUpRename() {
  const input = els.renameForm.elements.namedItem('name');
  els.renameButton.addEventListener('click', () => {
    if (!state.me || els.renameDialog.open) return;
    resetNicknameForm({ form: els.renameForm, error: els.renameError });
    input.value = state.me.name;
    els.renameDialog.showModal();
    input.focus();
    input.select();
  });
  els.renameCancel.addEventListener('click', () => els.renameDialog.close());
  // Esc, Cancel or a save: focus goes back to the name in the header.
  els.renameDialog.addEventListener('close', () => els.renameButton.focus());
  setUpNicknameForm({
    form: els.renameForm,
    error: els.renameError,
    onSaved: (updated) => {
      state.me = { ...state.me, ...updated };
      renderIdentity(state.me);
      els.renameDialog.close();
    },
  });
}
