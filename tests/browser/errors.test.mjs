// Issue 16, item 6: error banners ("Text must be 1 to 1000 characters", "This file is not a
// GIF…") stayed for good. They go once their cause is gone: the text is edited, something is
// sent after all, or (for a refused file) after a few seconds.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoErrors, createRoomWithForm, openLobby, sendText, setUp } from './harness.mjs';

let suite;
let page;

before(async () => {
  suite = await setUp();
  page = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

const shown = (id) => page.$eval(`#${id}`, (el) => !el.hidden && el.textContent.trim() !== '');

test('an error goes once its cause is gone', { timeout: 30_000 }, async () => {
  await openLobby(page, suite.server);
  await createRoomWithForm(page, { title: 'Errors come and go' });

  // Too long: refused by the server, shown under the composer.
  await page.fill('#composer-text', 'x'.repeat(1001));
  await page.press('#composer-text', 'Enter');
  await page.waitForFunction(() => !document.getElementById('composer-error').hidden);
  // Editing the text is the fix: the error goes at once.
  await page.press('#composer-text', 'Backspace');
  assert.equal(await shown('composer-error'), false, 'the composer error went when the text changed');

  // Not a GIF: refused in the page; sending something clears it, as does time.
  await page.setInputFiles('#gif-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hi') });
  assert.equal(await shown('gif-error'), true);
  await sendText(page, 'sending works');
  assert.equal(await shown('gif-error'), false, 'a successful send clears the GIF error');
  await page.setInputFiles('#gif-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hi') });
  assert.equal(await shown('gif-error'), true);
  await page.waitForFunction(() => document.getElementById('gif-error').hidden, null, { timeout: 15_000 });
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
