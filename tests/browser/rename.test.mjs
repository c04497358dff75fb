// Issue 16, item 6: renaming oneself without leaving the room. The name in the room's header
// opens a dialog (the lobby's nickname code behind it); the new name shows in the header, on
// the member lists and on old messages, and the conversation says who is now known as what.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, createRoomWithForm, openLobby, openRoom, sendText, setUp, waitForMessage,
  waitForText, whoAmI,
} from './harness.mjs';

let suite;
let alice;
let bob;

before(async () => {
  suite = await setUp();
  alice = await (await suite.user()).newPage();
  bob = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

test('the name in the header renames you: header, member lists and old messages follow', { timeout: 30_000 }, async () => {
  await openLobby(alice, suite.server);
  assert.equal((await api(alice, 'PATCH', '/api/me', { name: 'Alice' })).status, 200);
  const roomId = await createRoomWithForm(alice, { title: 'Renames' });
  await openRoom(bob, suite.server, roomId);
  const aliceMe = await whoAmI(alice);
  const old = await sendText(alice, 'a message from before the rename');
  await waitForMessage(bob, old);

  await alice.click('#rename-button');
  await alice.waitForSelector('#rename-dialog[open]');
  assert.equal(await alice.evaluate(() => document.activeElement.id), 'rename-name', 'the field has focus');
  assert.equal(await alice.inputValue('#rename-name'), 'Alice');
  await alice.fill('#rename-name', 'Alicia');
  await alice.press('#rename-name', 'Enter');
  await alice.waitForSelector('#rename-dialog:not([open])', { state: 'attached' });
  assert.equal(await alice.evaluate(() => document.activeElement.id), 'rename-button', 'focus back on the header');
  assert.equal((await alice.textContent('#me')).trim(), 'Alicia');
  assert.equal((await whoAmI(alice)).name, 'Alicia', 'the server has the new name');

  for (const page of [alice, bob]) {
    await waitForText(page, 'Alice is now known as Alicia.');
    await page.waitForFunction((id) => document.querySelector(`#members [data-member-id="${id}"] .member-name`)
      ?.textContent === 'Alicia', aliceMe.id);
    const author = page.locator(`#messages .message[data-message-id="${old}"] .message-author`);
    await page.waitForFunction((id) => document.querySelector(`#messages .message[data-message-id="${id}"] .message-author`)
      ?.textContent === 'Alicia', old);
    assert.equal(await author.getAttribute('title'), 'Posted as Alice');
  }
});

test('a refused name stays in the dialog with the reason; Esc closes it unchanged', { timeout: 30_000 }, async () => {
  await alice.click('#rename-button');
  await alice.waitForSelector('#rename-dialog[open]');
  await alice.fill('#rename-name', '   ');
  await alice.click('#rename-dialog button[type="submit"]');
  const error = alice.locator('#rename-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /\S/);
  assert.equal(await alice.getAttribute('#rename-name', 'aria-invalid'), 'true');
  assert.equal(await alice.evaluate(() => document.getElementById('rename-dialog').open), true, 'the dialog stays open');
  await alice.keyboard.press('Escape');
  await alice.waitForSelector('#rename-dialog:not([open])', { state: 'attached' });
  assert.equal((await alice.textContent('#me')).trim(), 'Alicia');
  // Opened again, the last refusal is gone and the field holds the current name.
  await alice.click('#rename-button');
  await alice.waitForSelector('#rename-dialog[open]');
  assert.equal(await alice.isVisible('#rename-error'), false);
  assert.equal(await alice.inputValue('#rename-name'), 'Alicia');
  await alice.click('#rename-cancel');
  await alice.waitForSelector('#rename-dialog:not([open])', { state: 'attached' });
});

test('the lobby\'s nickname form, which the dialog shares its code with, still saves and refuses', { timeout: 30_000 }, async () => {
  await openLobby(bob, suite.server);
  assert.equal(await bob.inputValue('#nickname'), (await whoAmI(bob)).name);
  await bob.fill('#nickname', 'Bobby');
  await bob.click('#nickname-form button[type="submit"]');
  await bob.waitForSelector('#nickname-status:text-is("Saved.")');
  assert.equal((await bob.textContent('#me')).trim(), 'Bobby');
  assert.equal((await whoAmI(bob)).name, 'Bobby');
  await bob.fill('#nickname', 'x'.repeat(33));
  await bob.click('#nickname-form button[type="submit"]');
  await bob.locator('#nickname-error').waitFor({ state: 'visible' });
  assert.equal(await bob.getAttribute('#nickname', 'aria-invalid'), 'true');
  assert.equal(await bob.textContent('#nickname-status'), '', 'no "Saved." for a refusal');
  assert.equal((await bob.textContent('#me')).trim(), 'Bobby');
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
