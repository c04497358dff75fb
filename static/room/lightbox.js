// The lightbox: a GIF of the conversation, clicked (or Enter on it), opens large in a modal
// dialog; Esc, a click anywhere or the close button closes it, and focus goes back to the GIF.

import { els } from '/room/context.js';

/** The GIF button that opened the lightbox, to give focus back to. */
let opener = null;
/** A GIF is shown at most this many times its size, so a tiny one does not turn to mush. */
const MAX_SCALE = 8;

export function setUpLightbox() {
  els.messages.addEventListener('click', (event) => {
    const button = event.target.closest('button.gif-open');
    if (button && els.messages.contains(button)) open(button);
  });
  // A click anywhere closes it: on the GIF, on the backdrop (the dialog itself), or the button.
  els.lightbox.addEventListener('click', () => els.lightbox.close());
  els.lightbox.addEventListener('close', () => {
    els.lightboxImage.removeAttribute('src');
    const back = opener;
    opener = null;
    if (back?.isConnected) back.focus();
  });
}

function open(button) {
  const gif = button.querySelector('img');
  if (!gif || els.lightbox.open) return;
  opener = button;
  const width = Number(gif.getAttribute('width')) || gif.naturalWidth || 1;
  const height = Number(gif.getAttribute('height')) || gif.naturalHeight || 1;
  // As large as the window allows, keeping the GIF's shape; CSS reads the numbers.
  els.lightboxImage.style.setProperty('--gif-ratio', String(width / height));
  els.lightboxImage.style.setProperty('--gif-max-width', `${width * MAX_SCALE}px`);
  els.lightboxImage.width = width;
  els.lightboxImage.height = height;
  els.lightboxImage.alt = gif.alt;
  els.lightboxImage.src = gif.currentSrc || gif.src;
  els.lightboxCaption.textContent = gif.alt;
  els.lightbox.showModal();
  els.lightboxClose.focus();
}
