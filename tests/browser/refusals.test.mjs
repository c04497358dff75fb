// Issue 16, item 5: Enter on a full or a banned locked room asked for the password first and
// refused only after it was typed, and a full row kept an active Enter button. Now a full row
// says "Full" on a disabled button, and a removed member hears so without being asked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertNoErrors, createRoomWithForm, openLobby, setUp, whoAmI } from './harness.mjs';

let suite;
let owner;
let guest;
let third;
let roomId;

before(async () => {
  // Seats taken over the API (no stream) must outlast the test.
  suite = await setUp({ PRESENCE_GRACE: '60s' });
  owner = await (await suite.user()).newPage();
  guest = await (await suite.user()).newPage();
  third = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

const row = (page) => page.locator(`#rooms [data-room-id="${roomId}"]`);

test('a full room shows "Full" on a button that cannot be pressed', { timeout: 30_000 }, async () => {
  await openLobby(owner, suite.server);
  roomId = await createRoomWithForm(owner, { title: 'Two seats', max: 2, password: 'secret' });
  await openLobby(guest, suite.server);
  assert.equal((await api(guest, 'POST', `/api/rooms/${roomId}/join`, { password: 'secret' })).status, 200);

  await openLobby(third, suite.server);
  await row(third).locator('.room-members', { hasText: '2/2' }).waitFor();
  const enter = row(third).locator('.room-enter');
  await third.waitForFunction((id) => document.querySelector(`#rooms [data-room-id="${id}"] .room-enter`)?.disabled, roomId);
  assert.equal(await enter.textContent(), 'Full');
  assert.equal(await enter.getAttribute('aria-label'), 'Two seats is full');
  // And the server refuses it as full before asking for a password.
  const refused = await api(third, 'POST', `/api/rooms/${roomId}/join`, {});
  assert.deepEqual([refused.status, refused.body.error], [409, 'room_full']);
});

test('a removed member is told so at once, never asked for the password', { timeout: 30_000 }, async () => {
  const guestMe = await whoAmI(guest);
  assert.equal((await api(owner, 'POST', `/api/rooms/${roomId}/kicks`, { user: guestMe.id })).status, 204);
  await row(guest).locator('.room-members', { hasText: '1/2' }).waitFor();
  const enter = row(guest).locator('.room-enter');
  assert.equal(await enter.isEnabled(), true);
  await enter.click();
  const error = guest.locator('#rooms-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /removed you from this room/);
  assert.equal(await guest.locator('#password-dialog').evaluate((el) => el.open), false, 'no password asked for');
  assert.equal(guest.url(), `${suite.server.url}/`);
});

test('no page logged an error', () => {
  assertNoErrors(suite.errors);
});
