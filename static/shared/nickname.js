// Changing one's nickname (PATCH /api/me): the lobby's form and the room's dialog both submit
// through here, so a refused name reads and behaves the same in both places.

import { ApiError, api } from '/shared/http.js';
import { clearError, showError } from '/shared/errors.js';

/**
 * Submits `form`'s `name` field as the new nickname. `onSaved(user)` gets the updated
 * identity; a refusal is shown in `error` (a 422 also marks the field invalid and focuses it).
 * `status`, when given, says "Saved.".
 */
export function setUpNicknameForm({ form, error, status = null, onSaved }) {
  const input = form.elements.namedItem('name');
  const button = form.querySelector('[type="submit"]');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError(error);
    if (status) status.textContent = '';
    input.removeAttribute('aria-invalid');
    button.disabled = true;
    try {
      const updated = await api('/api/me', { method: 'PATCH', body: { name: input.value } });
      input.value = updated.name;
      onSaved(updated);
      if (status) status.textContent = 'Saved.';
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) input.setAttribute('aria-invalid', 'true');
      showError(error, err);
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
}

/** A form opened afresh starts without the last attempt's refusal. */
export function resetNicknameForm({ form, error }) {
  clearError(error);
  form.elements.namedItem('name').removeAttribute('aria-invalid');
}
