// Issue 16, item 8: while polling, the member list went stale and disagreed with the header
// (2 listed against "3/10"). Polling now reads the list once (GET …/members) and applies the
// changes the polled system messages carry, as the streams' clients do.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertNoErrors, createRoomWithForm, openLobby, openRoom, setUp, whoAmI } from './harness.mjs';

let suite;
let alice;
let bob;
let carol;
let roomId;

before(async () => {
  suite = await setUp({ PRESENCE_GRACE: '60s' });
  alice = await (await suite.user()).newPage();
  bob = await (await suite.user()).newPage();
  carol = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** The member rows' ids and the header's count, as `page` shows them. */
function shown(page) {
  return page.evaluate(() => ({
    ids: [...document.querySelectorAll('#members [data-member-id]')].map((el) => el.dataset.memberId).sort(),
    header: document.getElementById('room-members').textContent,
  }));
}

async function waitForMembers(page, ids) {
  const want = [...ids].sort();
  await page.waitForFunction((want) => {
    const have = [...document.querySelectorAll('#members [data-member-id]')].map((el) => el.dataset.memberId).sort();
    return JSON.stringify(have) === JSON.stringify(want)
      && document.getElementById('room-members').textContent.startsWith(`${want.length}/`);
  }, want, { timeout: 10_000 }).catch(async () => {
    assert.fail(`expected ${want.length} members ${want}, page shows ${JSON.stringify(await shown(page))}`);
  });
}

test('on polling the member list follows joins and leaves, and agrees with the header', { timeout: 45_000 }, async () => {
  await openLobby(alice, suite.server);
  roomId = await createRoomWithForm(alice, { title: 'Polled' });
  await openRoom(bob, suite.server, roomId);
  await bob.click('#transport-switch [data-transport="poll"]');
  const [aliceMe, bobMe] = [await whoAmI(alice), await whoAmI(bob)];
  await waitForMembers(bob, [aliceMe.id, bobMe.id]);

  await openLobby(carol, suite.server);
  assert.equal((await api(carol, 'POST', `/api/rooms/${roomId}/join`, {})).status, 200);
  const carolMe = await whoAmI(carol);
  await waitForMembers(bob, [aliceMe.id, bobMe.id, carolMe.id]);

  assert.equal((await api(carol, 'DELETE', `/api/rooms/${roomId}/seat`)).status, 204);
  await waitForMembers(bob, [aliceMe.id, bobMe.id]);
});

test('a page that starts on polling has the list at once', { timeout: 30_000 }, async () => {
  await bob.reload();
  await bob.waitForFunction(() => document.querySelector('#transport-switch [data-transport="poll"]')
    ?.getAttribute('aria-pressed') === 'true');
  const [aliceMe, bobMe] = [await whoAmI(alice), await whoAmI(bob)];
  await waitForMembers(bob, [aliceMe.id, bobMe.id]);
  // And it still follows: Carol comes back.
  assert.equal((await api(carol, 'POST', `/api/rooms/${roomId}/join`, {})).status, 200);
  await waitForMembers(bob, [aliceMe.id, bobMe.id, (await whoAmI(carol)).id]);
});

test('no page logged an error', () => {
  assertNoErrors(suite.errors);
});
