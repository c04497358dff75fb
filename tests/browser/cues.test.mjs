// Issue 16, what people expect of a chat today: the cursor waits in the message box when a
// room opens, and a hidden tab's title counts the messages others sent meanwhile (on every
// transport: the count is taken where every transport's messages arrive).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertNoErrors, createRoomWithForm, openLobby, openRoom, sendText, setUp, waitForText } from './harness.mjs';

let suite;
let alice;
let bob;
let roomId;

before(async () => {
  suite = await setUp();
  alice = await (await suite.user()).newPage();
  bob = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** Makes the page believe its tab was hidden (or shown again), as switching tabs would. */
function setHidden(page, hidden) {
  return page.evaluate((hidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

test('the cursor is in the message box when a room opens', { timeout: 30_000 }, async () => {
  await openLobby(alice, suite.server);
  roomId = await createRoomWithForm(alice, { title: 'Cues' });
  await openRoom(bob, suite.server, roomId);
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => document.activeElement?.id === 'composer-text');
  }
  await bob.keyboard.type('typed straight away');
  assert.equal(await bob.inputValue('#composer-text'), 'typed straight away');
  await bob.fill('#composer-text', '');
});

for (const transport of ['sse', 'ws', 'poll']) {
  test(`a hidden tab counts others' messages in its title, over ${transport}`, { timeout: 30_000 }, async () => {
    await bob.click(`#transport-switch [data-transport="${transport}"]`);
    const title = 'Cues — gif-chat';
    await bob.waitForFunction((title) => document.title === title, title);
    await setHidden(bob, true);
    await sendText(bob, `my own, on ${transport}`); // one's own message does not count
    for (const n of [1, 2]) {
      const { status } = await api(alice, 'POST', `/api/rooms/${roomId}/messages`, { text: `${transport} ${n}` });
      assert.equal(status, 201);
    }
    await waitForText(bob, `${transport} 2`);
    await bob.waitForFunction((title) => document.title === `(2) ${title}`, title, { timeout: 5_000 })
      .catch(async () => assert.fail(`title: ${await bob.title()}`));
    await setHidden(bob, false);
    assert.equal(await bob.title(), title);
  });
}

test('no page logged an error', () => {
  assertNoErrors(suite.errors);
});
