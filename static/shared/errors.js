// Error display: API errors as sentences in role="alert" elements.

import { ApiError } from '/shared/http.js';

/** Server messages are lower-case fragments ("the room is full"); show them as sentences. */
export function sentence(text) {
  const trimmed = String(text ?? '').trim();
  if (!trimmed) return 'Something went wrong. Please try again.';
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

export function errorText(error) {
  if (error instanceof ApiError) return sentence(error.message);
  return 'Something went wrong. Please try again.';
}

const fadeTimers = new WeakMap();

/**
 * Shows an error (ApiError, Error or plain string) in an element that has role="alert". With
 * `fadeAfterMs`, it goes by itself after that long (for a refusal whose cause does not last,
 * such as a file that was not a GIF), unless another error replaced it meanwhile.
 */
export function showError(element, error, { fadeAfterMs } = {}) {
  clearTimeout(fadeTimers.get(element));
  element.textContent = typeof error === 'string' ? error : errorText(error);
  element.hidden = false;
  if (fadeAfterMs) fadeTimers.set(element, setTimeout(() => clearError(element), fadeAfterMs));
}

export function clearError(element) {
  clearTimeout(fadeTimers.get(element));
  element.textContent = '';
  element.hidden = true;
}

/**
 * Last-resort net for promise rejections nobody handled: show them on the page instead of
 * leaving a console error and a silently broken UI.
 */
export function installGlobalErrorHandler(element) {
  window.addEventListener('unhandledrejection', (event) => {
    event.preventDefault();
    showError(element, event.reason);
  });
}
