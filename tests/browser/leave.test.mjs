// Issue 16, item 3: "Leave" left the others seeing the leaver (as owner) for the whole grace
// period, with the lobby count and the hand-over as late. It now gives the seat up at once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoErrors, createRoomWithForm, openLobby, openRoom, setUp, waitForText, whoAmI,
} from './harness.mjs';

let suite;
let owner;
let guest;

before(async () => {
  // A grace period far longer than the test: only an explicit leave explains a quick one.
  suite = await setUp({ PRESENCE_GRACE: '60s' });
  owner = await (await suite.user()).newPage();
  guest = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

test('"Leave" takes the owner out at once: the others see it and get the room', { timeout: 30_000 }, async () => {
  await openLobby(owner, suite.server);
  const roomId = await createRoomWithForm(owner, { title: 'Leaving early' });
  await openRoom(guest, suite.server, roomId);
  const ownerMe = await whoAmI(owner);
  const guestMe = await whoAmI(guest);

  const started = Date.now();
  await owner.click('#leave');
  await owner.waitForURL(`${suite.server.url}/`);
  await waitForText(guest, `${ownerMe.name} left the room.`, 5_000);
  await waitForText(guest, `${guestMe.name} is now the owner.`, 5_000);
  assert.ok(Date.now() - started < 5_000, `seen after ${Date.now() - started} ms`);
  await guest.waitForFunction(() => document.getElementById('room-members').textContent.startsWith('1/'));
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
