// Issue 16, item 9: /compare and the demos were linked from nowhere, and the demos logged
// only on the page, where the textbook told its readers to look at the console.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoErrors, openLobby, setUp } from './harness.mjs';

let suite;
let page;

before(async () => {
  suite = await setUp();
  page = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

test('the lobby links to the comparison and both demos, and the demos log to the console', { timeout: 30_000 }, async () => {
  await openLobby(page, suite.server);
  const links = await page.$$eval('footer nav a', (anchors) => anchors.map((a) => a.getAttribute('href')));
  assert.deepEqual(links, ['/compare', '/demo/ws', '/demo/sse']);
  for (const [href, expected] of [['/demo/ws', /^open: Connected/], ['/demo/sse', /^open: Connected/]]) {
    await page.goto(`${suite.server.url}/`);
    const logged = page.waitForEvent('console', { predicate: (m) => m.type() === 'info' && expected.test(m.text()) });
    await page.click(`footer nav a[href="${href}"]`);
    await page.waitForURL(`${suite.server.url}${href}`);
    await logged;
  }
  await page.goto(`${suite.server.url}/`);
  await page.click('footer nav a[href="/compare"]');
  await page.waitForURL(`${suite.server.url}/compare`);
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
