// Issue 16, item 10 (the named findings): the lobby had no level-one heading, "Kick" and
// "Make owner" had accessible names that did not contain their visible labels (WCAG 2.5.3:
// "click Kick" did nothing for voice control), and no page had a skip link.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoErrors, createRoomWithForm, openLobby, openRoom, setUp } from './harness.mjs';

let suite;
let owner;
let guest;

before(async () => {
  suite = await setUp();
  owner = await (await suite.user()).newPage();
  guest = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

test('headings, skip links and labels in names', { timeout: 30_000 }, async () => {
  await openLobby(owner, suite.server);
  assert.equal(await owner.locator('h1').count(), 1, 'the lobby has one level-one heading');
  await owner.keyboard.press('Tab');
  assert.equal(await owner.evaluate(() => document.activeElement.className), 'skip-link');
  await owner.keyboard.press('Enter');
  assert.equal(await owner.evaluate(() => document.activeElement.id), 'lobby-main');

  const roomId = await createRoomWithForm(owner, { title: 'Accessible' });
  await openRoom(guest, suite.server, roomId);
  for (const [selector, visible] of [['.kick-button', 'Kick'], ['.make-owner-button', 'Make owner']]) {
    const button = owner.locator(`#members ${selector}`).first();
    await button.waitFor();
    assert.equal((await button.textContent()).trim(), visible);
    assert.ok((await button.getAttribute('aria-label')).startsWith(visible), `${selector}: the name starts with "${visible}"`);
  }
  await owner.keyboard.press('Tab');
  await owner.evaluate(() => document.activeElement.blur());
  await owner.focus('.skip-link');
  await owner.keyboard.press('Enter');
  assert.equal(await owner.evaluate(() => document.activeElement.id), 'composer-text', 'the room skips to the message box');
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
