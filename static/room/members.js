// Members: the live list and its changes, and the count and owner while it is not live.

import { h, paintUserColor, renderIdentity } from '/shared/dom.js';
import { api } from '/shared/http.js';
import { els, roomPath, state } from '/room/context.js';
import { markWhisperTargetGone, setWhisperTarget, toggleWhisperTarget } from '/room/whisper.js';
import { ownerAction, settleConfirm } from '/room/owner-actions.js';
import { fillName, nameIsShared, nameMark, refreshNames } from '/room/names.js';

/** The as_of of the newest list (or change) applied: an older list loses. */
let membersAsOf = -Infinity;
/** The pages of a long member list received so far ({asOf, members}), or null. */
let membersPage = null;

/**
 * Whether the list is current: once a list arrived (a stream's `members` event, or for
 * polling `GET …/members`), the changes in the room's system messages keep it so on every
 * transport; before that the header's count comes from the room.
 */
export function membersAreLive() {
  return Boolean(state.members);
}

/**
 * Reads the list over REST, for polling (which has no `members` event). Read after the
 * history, so its as_of is at or past the poll's cursor: the changes the poll brings up to
 * as_of are already in it (and skipped), the later ones apply to it.
 */
export async function loadMembers() {
  try {
    onMembers(await api(`${roomPath}/members`));
  } catch {
    // The header keeps the room's count; the next switch or entry tries again.
  }
}

/** Entering (again): no list until the stream sends one. */
export function clearMembers() {
  state.members = null;
  membersAsOf = -Infinity;
}

/** The server counts from scratch again (its storage was reset): a lower as_of is now the newer list. */
export function restartMemberLists() {
  membersAsOf = -Infinity;
}

/** "n/max members": n from the live member list once there is one, else from the Room. */
export function renderMemberCount() {
  if (!state.room) return;
  const count = membersAreLive() ? state.members.length : state.room.members;
  els.members.textContent = `${count}/${state.room.max} members`;
}

/** While polling, a hand-over shows in the room's owner: move the crown in our old list. */
export function applyOwner(owner) {
  if (!state.members || typeof owner?.id !== 'string') return;
  if (state.members.every((m) => Boolean(m.owner) === (m.id === owner.id))) return;
  state.members = state.members.map((m) => ({ ...m, owner: m.id === owner.id }));
  renderMembers();
}

export function setUpMembers() {
  // One listener for all rows: they are rebuilt on every list, and read the member from it.
  els.membersList.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-role]');
    const row = button?.closest('[data-member-id]');
    if (!button || !row) return;
    const member = state.members?.find((m) => m.id === row.dataset.memberId);
    if (!member || els.chat.dataset.state !== 'ready') return;
    if (button.dataset.role === 'whisper') {
      toggleWhisperTarget(member);
      // On a narrow screen the open list covers the conversation: the choice is made, fold it.
      setMembersOpen(false);
    }
    else if (button.dataset.role === 'kick') ownerAction('kick', member, button);
    else if (button.dataset.role === 'make-owner') ownerAction('make-owner', member, button);
  });
  els.membersToggle.addEventListener('click', () => setMembersOpen(els.membersPanel.dataset.open !== 'true'));
  els.confirmOk.addEventListener('click', () => settleConfirm(true));
  els.confirmCancel.addEventListener('click', () => settleConfirm(false));
  // Escape closes a modal dialog by itself; that is a Cancel.
  els.confirmDialog.addEventListener('close', () => {
    if (!els.confirmDialog.open) settleConfirm(false);
  });
}

/** Unfolds or folds the list (only narrow screens fold it; wide ones always show it). */
function setMembersOpen(open) {
  els.membersPanel.dataset.open = String(open);
  els.membersToggle.setAttribute('aria-expanded', String(open));
}

/**
 * A `members` event: the list, longest-present first, sent once on connect. A long list comes
 * in pages with the same as_of, `more: true` on all but the last. Older lists (lower as_of) lose.
 */
export function onMembers(data) {
  if (!Array.isArray(data?.members)) return;
  const asOf = Number(data.as_of);
  if (data.more === true) {
    if (membersPage?.asOf !== asOf) membersPage = { asOf, members: [] };
    membersPage.members.push(...data.members);
    return;
  }
  if (membersPage?.asOf === asOf) {
    // Pages left by a connection that broke off mid-list hold the same list (same as_of), so
    // joining them with the new connection's pages only repeats members: keep each once.
    const seen = new Set();
    const members = [...membersPage.members, ...data.members].filter((m) => !seen.has(m?.id) && seen.add(m?.id));
    data = { ...data, members };
  }
  membersPage = null;
  if (Number.isFinite(asOf)) {
    if (asOf < membersAsOf) return;
    membersAsOf = asOf;
  }
  state.members = data.members.filter((m) => m && typeof m.id === 'string');
  renderMembers();
  renderMemberCount();
}

/**
 * A system message records a membership change (`change`): apply it to the list, unless the
 * list was read after it (`as_of` at or past its id: the change is already in there).
 */
export function applyMemberChange(message, id) {
  const user = message.user;
  if (!state.members || !message.change || typeof user?.id !== 'string') return;
  if (!(id > membersAsOf)) return;
  membersAsOf = id;
  const others = state.members.filter((m) => m.id !== user.id);
  const existing = state.members.find((m) => m.id === user.id);
  switch (message.change) {
    case 'joined':
      state.members = [...others, { ...user, owner: false, since: message.created_at }];
      break;
    case 'left':
    case 'kicked':
      state.members = others;
      break;
    case 'owner':
      state.members = state.members.map((m) => ({ ...m, owner: m.id === user.id }));
      break;
    case 'renamed':
      if (existing) state.members = state.members.map((m) => (m.id === user.id ? { ...m, ...user } : m));
      break;
    default:
      return;
  }
  renderMembers();
  renderMemberCount();
}

export function isMember(id) {
  return Boolean(state.members?.some((m) => m.id === id));
}

function iAmOwner() {
  return Boolean(state.members?.some((m) => m.id === state.me?.id && m.owner));
}

function renderMembers() {
  const members = state.members ?? [];
  const owner = iAmOwner();
  // A rename made in another tab reaches this one through the list: keep the header current.
  const self = members.find((m) => m.id === state.me?.id);
  if (self && typeof self.name === 'string' && self.name !== state.me.name) {
    state.me = { ...state.me, name: self.name };
    renderIdentity(state.me);
  }
  // Rows are rebuilt; put focus back on the same button of the same member afterwards.
  const active = document.activeElement;
  const focused = els.membersList.contains(active)
    ? { id: active.closest('[data-member-id]')?.dataset.memberId, role: active.dataset.role }
    : null;

  els.membersList.replaceChildren(...members.map((member) => memberRow(member, owner)));
  refreshNames();
  els.membersPanel.dataset.owner = String(owner);
  els.membersCount.textContent = String(members.length);
  els.membersToggle.textContent = `Members (${members.length})`;
  els.membersPanel.hidden = els.chat.dataset.state !== 'ready';

  if (focused?.id) {
    const row = els.membersList.querySelector(`[data-member-id="${CSS.escape(focused.id)}"]`);
    const again = row?.querySelector(`[data-role="${CSS.escape(focused.role ?? '')}"]`)
      ?? row?.querySelector('button');
    if (again) again.focus({ preventScroll: true });
  }
  // Keep the whisper chip's name current (renames), and say so when the recipient left.
  if (state.whisperTo) {
    const current = members.find((m) => m.id === state.whisperTo.id);
    if (current) setWhisperTarget(current);
    else markWhisperTargetGone();
  }
}

/** The member's name as words (the mark too when the name is shared), for titles and labels. */
function labelOf(member) {
  return nameIsShared(member) ? `${member.name} ${nameMark(member.id)}` : member.name;
}

function memberRow(member, viewerIsOwner) {
  const isMe = member.id === state.me?.id;
  const row = h('li', {
    class: `member${isMe ? ' is-me' : ''}${member.owner ? ' is-owner' : ''}`,
    'data-member-id': member.id,
    'data-owner': String(Boolean(member.owner)),
  });

  const swatch = h('span', { class: 'swatch member-swatch', 'aria-hidden': 'true' });
  swatch.style.backgroundColor = /^#[0-9a-f]{6}$/i.test(member.color ?? '') ? member.color : '';
  const name = h('span', { class: 'member-name' });
  fillName(name, member);
  paintUserColor(name, member.color);
  const parts = [
    swatch,
    name,
    isMe ? h('span', { class: 'member-you', text: '(you)' }) : null,
    member.owner ? ownerBadge() : null,
  ];

  if (isMe) {
    row.append(h('span', { class: 'member-who' }, ...parts));
  } else {
    const selected = state.whisperTo?.id === member.id;
    row.append(h('button', {
      type: 'button',
      class: 'member-who member-whisper',
      'data-role': 'whisper',
      'aria-pressed': String(selected),
      title: selected ? `Stop whispering to ${labelOf(member)}` : `Whisper to ${labelOf(member)}`,
    }, h('span', { class: 'visually-hidden', text: 'Whisper to ' }), ...parts));
  }

  if (viewerIsOwner && !isMe) {
    row.append(h('div', { class: 'member-actions' },
      h('button', {
        type: 'button',
        class: 'button secondary danger kick-button',
        'data-role': 'kick',
        // The accessible name starts with the visible label (WCAG 2.5.3), so "click Kick" works
        // for voice control too.
        'aria-label': `Kick ${labelOf(member)}`,
        text: 'Kick',
      }),
      h('button', {
        type: 'button',
        class: 'button secondary make-owner-button',
        'data-role': 'make-owner',
        'aria-label': `Make owner: ${labelOf(member)}`,
        text: 'Make owner',
      })));
  }
  return row;
}

function ownerBadge() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [key, value] of Object.entries({
    viewBox: '0 0 16 16', width: '12', height: '12', 'aria-hidden': 'true', focusable: 'false', class: 'owner-crown',
  })) svg.setAttribute(key, value);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M1 4.5 4.6 8 8 2.5 11.4 8 15 4.5 13.6 13H2.4z');
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return h('span', { class: 'owner-badge', title: 'Owner of this room' }, svg, 'owner');
}
