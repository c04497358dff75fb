// Issue 16: a counter appears near the text limit, counts as the server does (characters of
// the trimmed text, so an emoji is one), says by how much a text is too long, and goes away
// once the text is sent. The server runs with a 50-character limit, which the page must learn
// from /api/limits rather than assume.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoErrors, createRoomWithForm, hexToRgb, openLobby, parseRgb, sendText, setUp } from './harness.mjs';

const LIMIT = 50;

let suite;
let page;

before(async () => {
  suite = await setUp({ MAX_MESSAGE_CHARS: String(LIMIT) });
  page = await (await suite.user()).newPage();
  await openLobby(page, suite.server);
  await createRoomWithForm(page, { title: 'Counting' });
});

after(async () => {
  await suite?.teardown();
});

/** What the counter shows: null while hidden. */
function counter() {
  return page.evaluate(() => {
    const count = document.getElementById('composer-count');
    return count.hidden ? null : { text: count.textContent, over: count.dataset.over === 'true' };
  });
}

async function typeText(text) {
  await page.fill('#composer-text', text);
  return counter();
}

test('the counter stays away while the limit is far', async () => {
  assert.equal(await typeText('a'.repeat(44)), null);
  // Surrounding spaces do not count, as the server trims them.
  assert.equal(await typeText(`   ${'a'.repeat(44)}   `), null);
});

test('near the limit it says what is left, counting an emoji as one character', async () => {
  assert.deepEqual(await typeText('a'.repeat(45)), { text: '5 left', over: false });
  assert.deepEqual(await typeText(`${'a'.repeat(49)}😀`), { text: '0 left', over: false });
});

test('past the limit it says by how much, and the server agrees', async () => {
  assert.deepEqual(await typeText('a'.repeat(LIMIT + 6)), { text: '6 too many', over: true });
  const colour = await page.$eval('#composer-count', (node) => getComputedStyle(node).color);
  const danger = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--danger').trim());
  assert.deepEqual(parseRgb(colour), hexToRgb(danger), 'shown in the danger colour');
  await page.press('#composer-text', 'Enter');
  await page.waitForFunction(() => !document.getElementById('composer-error').hidden);
  const error = await page.textContent('#composer-error');
  assert.match(error, /1 to 50 characters/i);
  assert.deepEqual(await counter(), { text: '6 too many', over: true }, 'the text stays, and so does the count');
});

test('a text at the limit is sent, and the counter goes with it', async () => {
  const text = `${'a'.repeat(LIMIT - 1)}😀`;
  const id = await sendText(page, text);
  assert.ok(id > 0);
  assert.equal(await counter(), null);
});

test('no page logged an error', () => {
  assertNoErrors(suite.errors);
});
