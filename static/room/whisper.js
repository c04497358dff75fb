// Whisper mode: the composer writes to one member, shown by the chip above it.

import { paintUserColor } from '/shared/dom.js';
import { DEFAULT_PLACEHOLDER, els, state } from '/room/context.js';

export function toggleWhisperTarget(member) {
  if (state.whisperTo?.id === member.id) clearWhisperTarget();
  else setWhisperTarget(member);
  els.text.focus();
}

export function setWhisperTarget(member) {
  state.whisperTo = { id: member.id, name: member.name, color: member.color };
  els.whisperTargetName.textContent = member.name;
  paintUserColor(els.whisperTargetName, member.color);
  els.whisperTarget.hidden = false;
  delete els.whisperTarget.dataset.gone;
  els.composer.dataset.whisper = 'true';
  els.text.placeholder = `Whisper to ${member.name}…`;
  els.previewAudience.hidden = false; // a GIF waiting in the preview would still go to everyone
  syncWhisperButtons();
}

/** The recipient left: keep whisper mode (so nothing private goes public) but say so. */
export function markWhisperTargetGone() {
  els.whisperTarget.dataset.gone = 'true';
  els.whisperTargetName.textContent = `${state.whisperTo.name} (not in the room)`;
}

export function clearWhisperTarget() {
  if (!state.whisperTo && els.whisperTarget.hidden) return;
  state.whisperTo = null;
  els.whisperTarget.hidden = true;
  delete els.whisperTarget.dataset.gone;
  els.whisperTargetName.textContent = '';
  delete els.composer.dataset.whisper;
  els.text.placeholder = DEFAULT_PLACEHOLDER;
  els.previewAudience.hidden = true;
  syncWhisperButtons();
}

function syncWhisperButtons() {
  for (const button of els.membersList.querySelectorAll('button[data-role="whisper"]')) {
    const id = button.closest('[data-member-id]')?.dataset.memberId;
    button.setAttribute('aria-pressed', String(id === state.whisperTo?.id));
  }
}
