// Desktop notifications, for a whisper to you or a message that says your name, while this tab
// is hidden. Off until the reader turns them on with the bell in the header: the browser's
// permission is asked for on that click, never on load. The choice is remembered per browser;
// a later visit turns them on again only if the permission is still granted.

import { els, state } from '/room/context.js';
import { currentName } from '/room/names.js';

const STORAGE_KEY = 'gif-chat:notifications';
/** A notification shows this much of a long message. */
const BODY_CHARS = 160;

let enabled = false;

function supported() {
  return typeof window.Notification === 'function';
}

function remembered() {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'on';
  } catch {
    return false;
  }
}

function remember(on) {
  try {
    localStorage.setItem(STORAGE_KEY, on ? 'on' : 'off');
  } catch {
    // Private mode and the like: the choice lasts as long as the page.
  }
}

export function setUpNotifications() {
  if (!supported()) return; // the bell stays hidden
  els.notifyToggle.hidden = false;
  setEnabled(remembered() && Notification.permission === 'granted');
  els.notifyToggle.addEventListener('click', async () => {
    if (enabled) {
      setEnabled(false);
      remember(false);
      return;
    }
    let permission = Notification.permission;
    if (permission === 'default') {
      try {
        permission = await Notification.requestPermission();
      } catch {
        permission = Notification.permission;
      }
    }
    setEnabled(permission === 'granted');
    remember(permission === 'granted');
  });
}

function setEnabled(on) {
  enabled = on;
  const blocked = supported() && Notification.permission === 'denied';
  els.notifyToggle.setAttribute('aria-pressed', String(on));
  els.notifyToggle.dataset.blocked = String(blocked);
  els.notifyToggle.title = blocked
    ? 'Notifications are blocked for this site in the browser\'s settings'
    : on
      ? 'Notifications on: whispers to you and messages with your name, while this tab is hidden'
      : 'Notify me of whispers to me and messages with my name while this tab is hidden';
}

/** Whether `text` says `name` as a word of its own ("@Bob" and "Bob," do; "Bobby" does not). */
export function mentions(text, name) {
  const wanted = String(name ?? '').trim();
  if (!wanted || typeof text !== 'string') return false;
  const escaped = wanted.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
  return new RegExp(`(^|[^\\p{L}\\p{N}_])${escaped}(?![\\p{L}\\p{N}_])`, 'iu').test(text);
}

/** A message that just arrived live: notifies when it is for us and we are looking elsewhere. */
export function notifyIfAddressed(message) {
  if (!enabled || !document.hidden || Notification.permission !== 'granted') return;
  if (message.kind === 'system' || !message.user || message.user.id === state.me?.id) return;
  const whisper = message.kind === 'whisper';
  if (!whisper && !mentions(message.text, state.me?.name)) return;
  const author = currentName(message.user);
  const room = state.room?.title ?? 'gif-chat';
  const text = message.kind === 'gif' ? 'sent a GIF' : String(message.text ?? '');
  try {
    const notification = new Notification(whisper ? `${author} whispered to you` : `${author} in ${room}`, {
      body: text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS - 1)}…` : text,
      tag: `gif-chat-message-${message.id}`,
      lang: document.documentElement.lang,
    });
    notification.onclick = () => {
      window.focus();
      notification.close();
    };
  } catch {
    // Some browsers only notify from a service worker; the title's unread count still says it.
  }
}
