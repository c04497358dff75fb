// GIFs: pick, drop or paste → preview → upload with progress.

import { ApiError, MAX_GIF_BYTES, uploadGif } from '/shared/http.js';
import { clearError, showError } from '/shared/errors.js';
import { formatBytes } from '/shared/dom.js';
import { els, roomId, state } from '/room/context.js';
import { showLive } from '/room/messages.js';
import { isKicked, withSeat } from '/room/seat.js';

/** The GIF waiting in the preview, its object URL, and the running upload ({promise, abort}). */
let gif = null;
let gifUrl = null;
let upload = null;
/** What a refused upload calls when the owner removed us (live-events.js' onKicked). */
let onKicked = () => {};

export function setUpGifs(options) {
  onKicked = options.onKicked;
  els.gifButton.addEventListener('click', () => els.gifInput.click());
  els.gifInput.addEventListener('change', () => {
    const file = els.gifInput.files?.[0];
    // Reset now so choosing the same file again still fires `change`.
    els.gifInput.value = '';
    if (file) prepareGif(file);
  });
  els.gifSend.addEventListener('click', sendGif);
  els.gifCancel.addEventListener('click', cancelGif);
  els.preview.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') cancelGif();
  });
  setUpDragAndDrop();
  document.addEventListener('paste', (event) => {
    const file = event.clipboardData?.files?.[0];
    if (!file) return; // plain text: let the textarea have it
    event.preventDefault();
    prepareGif(file);
  });
}

function setUpDragAndDrop() {
  let depth = 0; // dragenter/dragleave fire for every child element crossed
  const carriesFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes('Files');
  const hideOverlay = () => {
    depth = 0;
    els.dropOverlay.hidden = true;
  };

  window.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    if (els.chat.dataset.state === 'ready') els.dropOverlay.hidden = false;
  });
  window.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    // Always cancel, or the browser navigates away to show the dropped file.
    event.preventDefault();
    event.dataTransfer.dropEffect = els.chat.dataset.state === 'ready' ? 'copy' : 'none';
  });
  window.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) hideOverlay();
  });
  window.addEventListener('drop', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    hideOverlay();
    const file = event.dataTransfer.files?.[0];
    if (file) prepareGif(file);
  });
}

/** How long a refused file's message stays (the next pick or send clears it sooner). */
const GIF_ERROR_FADE_MS = 10_000;

/** Why a file cannot be sent, or null. Mirrors the server's checks to fail fast. */
function gifProblem(file) {
  const looksLikeGif = file.type === 'image/gif' || (file.type === '' && /\.gif$/i.test(file.name));
  if (!looksLikeGif) {
    const kind = file.type ? ` (${file.type})` : '';
    return `“${file.name || 'This file'}”${kind} is not a GIF. Only GIF images can be sent.`;
  }
  if (file.size === 0) return 'This file is empty.';
  if (file.size > MAX_GIF_BYTES) {
    return `This GIF is ${formatBytes(file.size)}; the limit is ${formatBytes(MAX_GIF_BYTES)}.`;
  }
  return null;
}

function prepareGif(file) {
  if (els.chat.dataset.state !== 'ready') return;
  if (upload) {
    showError(els.gifError, 'Wait for the current upload to finish, or cancel it.');
    return;
  }
  clearError(els.gifError);
  const problem = gifProblem(file);
  if (problem) {
    showError(els.gifError, problem, { fadeAfterMs: GIF_ERROR_FADE_MS });
    return;
  }
  releasePreviewUrl();
  gif = file;
  gifUrl = URL.createObjectURL(file); // blob: URLs are allowed by the CSP's img-src
  els.previewImage.src = gifUrl;
  els.previewName.textContent = `${file.name || 'Pasted GIF'} · ${formatBytes(file.size)}`;
  // GIFs cannot be whispered: say so rather than let one go public by surprise. A line of its
  // own, which wraps: the name above it may be cut short, the warning may not.
  els.previewAudience.hidden = !state.whisperTo;
  els.progress.hidden = true;
  els.progress.value = 0;
  els.gifSend.disabled = false;
  els.preview.hidden = false;
  els.gifSend.focus();
}

async function sendGif() {
  const file = gif;
  if (!file || upload) return;
  clearError(els.gifError);
  els.gifSend.disabled = true;
  els.progress.value = 0;
  els.progress.hidden = false;
  const attempt = () => {
    upload = uploadGif(roomId, file, (fraction) => {
      els.progress.value = Math.round(fraction * 100);
    });
    return upload.promise;
  };
  try {
    const message = await withSeat(attempt);
    closePreview();
    clearError(els.composerError); // whatever it said, sending works
    showLive(message, { mine: true });
    els.text.focus();
  } catch (error) {
    // A cancelled upload needs no message; the preview is already gone.
    if (isKicked(error)) onKicked();
    else if (!(error instanceof ApiError && error.code === 'aborted')) showError(els.gifError, error);
  } finally {
    upload = null;
    els.progress.hidden = true;
    els.gifSend.disabled = false;
  }
}

function cancelGif() {
  if (upload) upload.abort();
  closePreview();
  if (!els.text.disabled) els.text.focus();
}

export function closePreview() {
  if (upload) upload.abort();
  gif = null;
  releasePreviewUrl();
  els.previewImage.removeAttribute('src');
  els.preview.hidden = true;
}

function releasePreviewUrl() {
  if (gifUrl) URL.revokeObjectURL(gifUrl);
  gifUrl = null;
}
