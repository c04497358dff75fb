// Issue 16, item 4: Eve renamed herself "Bob" and was accepted, and nothing told the two apart
// but a slightly different purple. Now two present members never show the same name without
// a mark from their ids, and a rename shows on the renamed member's old messages as well.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, createRoomWithForm, openLobby, openRoom, sendText, setUp, waitForMessage, whoAmI,
} from './harness.mjs';

let suite;
let alice;
let eve;

before(async () => {
  suite = await setUp();
  alice = await (await suite.user()).newPage();
  eve = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** What `page` shows for `userId`: its member row's name and the authors of its messages. */
function namesShown(page, userId) {
  return page.evaluate((id) => ({
    member: document.querySelector(`#members [data-member-id="${id}"] .member-name`)?.textContent ?? null,
    authors: [...document.querySelectorAll(`#messages .message-author[data-user-id="${id}"]`)]
      .map((el) => ({ text: el.textContent, title: el.getAttribute('title') })),
  }), userId);
}

test('two members with one name are told apart, and a rename shows on old messages', { timeout: 30_000 }, async () => {
  await openLobby(alice, suite.server);
  assert.equal((await api(alice, 'PATCH', '/api/me', { name: 'Alice' })).status, 200);
  const roomId = await createRoomWithForm(alice, { title: 'Who is who' });
  await openLobby(eve, suite.server);
  assert.equal((await api(eve, 'PATCH', '/api/me', { name: 'Eve' })).status, 200);
  await openRoom(eve, suite.server, roomId);
  const aliceMe = await whoAmI(alice);
  const eveMe = await whoAmI(eve);

  const fromAlice = await sendText(alice, 'hello, I am the real Alice');
  const fromEve = await sendText(eve, 'hi there');
  await waitForMessage(alice, fromEve);
  await waitForMessage(eve, fromAlice);
  assert.deepEqual((await namesShown(alice, eveMe.id)).authors, [{ text: 'Eve', title: null }]);

  // Eve copies Alice's name (another case and spacing are the same name to a reader).
  assert.equal((await api(eve, 'PATCH', '/api/me', { name: ' alice' })).status, 200);
  const aliceMark = `#${aliceMe.id.replaceAll('-', '').slice(0, 4)}`;
  const eveMark = `#${eveMe.id.replaceAll('-', '').slice(0, 4)}`;
  assert.notEqual(aliceMark, eveMark);
  for (const page of [alice, eve]) {
    await page.waitForFunction((id) => document.querySelector(`#members [data-member-id="${id}"] .member-name`)
      ?.textContent.startsWith('alice'), eveMe.id);
    await page.waitForFunction((id) => [...document.querySelectorAll(`#messages .message-author[data-user-id="${id}"]`)]
      .every((el) => el.textContent.startsWith('alice ')), eveMe.id);
    const real = await namesShown(page, aliceMe.id);
    const copy = await namesShown(page, eveMe.id);
    assert.equal(real.member, `Alice ${aliceMark}`);
    assert.equal(copy.member, `alice ${eveMark}`);
    assert.deepEqual(real.authors, [{ text: `Alice ${aliceMark}`, title: null }]);
    // Her old message shows who she is now, and the tooltip who she was then.
    assert.deepEqual(copy.authors, [{ text: `alice ${eveMark}`, title: 'Posted as Eve' }]);
  }

  // Another name, and the marks go.
  assert.equal((await api(eve, 'PATCH', '/api/me', { name: 'Eve again' })).status, 200);
  await alice.waitForFunction((id) => document.querySelector(`#members [data-member-id="${id}"] .member-name`)
    ?.textContent === 'Eve again', eveMe.id);
  await alice.waitForFunction((id) => document.querySelector(`#messages .message-author[data-user-id="${id}"]`)
    ?.textContent === 'Alice', aliceMe.id);
  assert.equal(await alice.locator('#messages .name-mark, #members .name-mark').count(), 0);
});

test('no page logged an error', () => {
  assertNoErrors(suite.errors);
});
