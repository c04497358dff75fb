// Names as the room shows them: the current name of a present member (a rename shows on their
// old messages too, with the name they posted under kept in the tooltip), and a short mark
// from the user id whenever two present members go by the same name, so "Bob" renamed to
// copy another Bob is never mistaken for him.

import { h } from '/shared/dom.js';
import { els, state } from '/room/context.js';

/** Case, width and spacing do not tell names apart for a reader. */
function sameNameKey(name) {
  return String(name ?? '').normalize('NFKC').toLocaleLowerCase().replace(/\s+/gu, ' ').trim();
}

/** The short mark: the first four hex digits of the user id ("#3f2a"). */
export function nameMark(id) {
  return `#${String(id ?? '').replace(/[^0-9a-f]/giu, '').slice(0, 4).toLowerCase()}`;
}

/** The member's current name, or the given one for someone not present. */
export function currentName(user) {
  const member = state.members?.find((m) => m.id === user?.id);
  return member?.name ?? user?.name ?? 'someone';
}

/** Whether another present member goes by the same name as this user does now. */
export function nameIsShared(user) {
  const key = sameNameKey(currentName(user));
  return Boolean(state.members?.some((m) => m.id !== user?.id && sameNameKey(m.name) === key));
}

/**
 * Fills `element` (an author or member name) for `user`: the current name, then the mark if
 * the name is shared. `postedAs` is the name a message was posted under, for the tooltip.
 */
export function fillName(element, user, postedAs = null) {
  const name = currentName(user);
  const children = [name];
  if (nameIsShared(user)) {
    children.push(h('span', { class: 'name-mark', title: 'Two members go by this name; this mark tells them apart', text: ` ${nameMark(user?.id)}` }));
  }
  element.replaceChildren(...children);
  element.dataset.userId = user?.id ?? '';
  if (postedAs && postedAs !== name) element.title = `Posted as ${postedAs}`;
  else element.removeAttribute('title');
}

/** After the member list changed: every author label in the list again (renames, marks). */
let pending = false;
export function refreshNames() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    for (const author of els.messages.querySelectorAll('.message-author[data-user-id]')) {
      fillName(author, { id: author.dataset.userId, name: author.dataset.postedAs }, author.dataset.postedAs);
    }
  });
}
