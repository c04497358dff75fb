// Issue 16, item 1: every page follows the system's colour scheme (prefers-color-scheme), and
// axe-core finds nothing wrong on any of them in either scheme: contrast, names, landmarks.
// The room is checked full of what it can show: chats both ways, a system message, whispers
// both ways, a GIF, the member list with the owner's buttons, and whisper mode on.
// Screenshots: room-dark.png and lobby-dark.png (chat.test writes the light ones, mobile.test
// the phone's).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  assertNoErrors, createRoomWithForm, makeGif, openLobby, openRoom, screenshot, sendText, setUp,
  takeExpectedHttpError, waitForMessage, whoAmI,
} from './harness.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let suite;
let owner;
let guest;
let roomId;

before(async () => {
  suite = await setUp();
  owner = await (await suite.user()).newPage();
  guest = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/**
 * Runs axe on `page` as it is; returns the violations as readable lines. Evaluated through
 * the DevTools protocol rather than a <script> tag, which the pages' CSP would refuse.
 */
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const { violations, contrastChecked } = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      violations: result.violations.map((v) => ({
        id: v.id,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`),
      })),
      // That axe did look at the colours: a check that never ran finds nothing either.
      contrastChecked: [...result.passes, ...result.violations, ...result.incomplete].some((r) => r.id === 'color-contrast'),
    };
  });
  assert.ok(contrastChecked, `axe checked the contrast on ${page.url()}`);
  return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.help}) at ${n}`));
}

/** Checks `page` in the light and in the dark scheme; returns what failed, by scheme. */
async function checkBothSchemes(page, name) {
  const failures = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    // Buttons ease their colours for 120 ms: let a scheme change finish before measuring.
    await page.waitForTimeout(250);
    const scheme = await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme);
    assert.equal(scheme, colorScheme, `${name}: the page is in the ${colorScheme} scheme`);
    for (const line of await axeViolations(page)) failures.push(`${name} [${colorScheme}]: ${line}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return failures;
}

/** The page's background in the scheme in force, as the computed body colour. */
function bodyBackground(page) {
  return page.evaluate(() => getComputedStyle(document.body).backgroundColor);
}

test('every page has a dark scheme', { timeout: 30_000 }, async () => {
  await openLobby(owner, suite.server);
  for (const path of ['/', '/compare', '/demo/ws', '/demo/sse', '/no-such-page']) {
    await owner.goto(`${suite.server.url}${path}`);
    await owner.emulateMedia({ colorScheme: 'light' });
    const light = await bodyBackground(owner);
    await owner.emulateMedia({ colorScheme: 'dark' });
    const dark = await bodyBackground(owner);
    assert.notEqual(light, dark, `${path}: the dark scheme changes the page`);
    const [r, g, b] = dark.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 3 * 60, `${path}: the dark background is dark (${dark})`);
  }
  await owner.emulateMedia({ colorScheme: 'light' });
  takeExpectedHttpError(suite.errors, 404, `${suite.server.url}/no-such-page`);
});

test('axe finds no violation on the lobby, a busy room, /compare, the demos and the 404 page, light or dark', { timeout: 120_000 }, async () => {
  const failures = [];
  await openLobby(owner, suite.server);
  roomId = await createRoomWithForm(owner, { title: 'Schemes' });
  await openLobby(guest, suite.server);
  await guest.locator(`#rooms [data-room-id="${roomId}"]`).waitFor();
  failures.push(...await checkBothSchemes(guest, 'lobby'));

  await openRoom(guest, suite.server, roomId);
  const ownerMe = await whoAmI(owner);
  const guestMe = await whoAmI(guest);
  await waitForMessage(owner, await sendText(guest, 'Hello, owner. See https://example.org/a'));
  await waitForMessage(guest, await sendText(owner, 'Hello, guest'));
  await guest.click(`#members [data-member-id="${ownerMe.id}"] [data-role="whisper"]`);
  await waitForMessage(owner, await sendText(guest, 'a whisper for you', { kind: 'whisper' }));
  await owner.click(`#members [data-member-id="${guestMe.id}"] [data-role="whisper"]`);
  await waitForMessage(guest, await sendText(owner, 'and one back', { kind: 'whisper' }));
  const gif = makeGif(120, 80, [[67, 56, 202], [250, 204, 21], [236, 72, 153], [255, 255, 255]],
    (x, y) => Math.floor((x + y) / 16) % 4);
  await owner.setInputFiles('#gif-input', { name: 'stripes.gif', mimeType: 'image/gif', buffer: gif });
  await owner.waitForSelector('#gif-preview:not([hidden])');
  // The preview (with its "GIFs go to everyone" warning) is checked too, then sent.
  failures.push(...await checkBothSchemes(owner, 'room with a GIF preview'));
  await owner.click('#gif-send');
  await owner.waitForSelector('#gif-preview', { state: 'hidden' });
  await owner.waitForFunction(() => [...document.querySelectorAll('#messages .message[data-kind="gif"] img')]
    .some((img) => img.complete && img.naturalWidth === 120));
  failures.push(...await checkBothSchemes(owner, 'room (owner, whispering)'));
  failures.push(...await checkBothSchemes(guest, 'room (guest, whispering)'));
  // The room's dialogs: the GIF lightbox and the nickname dialog.
  await owner.click('#messages .message[data-kind="gif"] button.gif-open');
  await owner.waitForSelector('#gif-lightbox[open]');
  failures.push(...await checkBothSchemes(owner, 'room with the GIF lightbox open'));
  await owner.keyboard.press('Escape');
  await owner.waitForSelector('#gif-lightbox:not([open])', { state: 'attached' });
  await owner.click('#rename-button');
  await owner.waitForSelector('#rename-dialog[open]');
  failures.push(...await checkBothSchemes(owner, 'room with the nickname dialog open'));
  await owner.keyboard.press('Escape');
  await owner.waitForSelector('#rename-dialog:not([open])', { state: 'attached' });
  await owner.emulateMedia({ colorScheme: 'dark' });
  await owner.waitForTimeout(250);
  await screenshot(owner, 'room-dark');
  await owner.emulateMedia({ colorScheme: 'light' });
  const lobby = await owner.context().newPage();
  await lobby.emulateMedia({ colorScheme: 'dark' });
  await openLobby(lobby, suite.server);
  await lobby.locator(`#rooms [data-room-id="${roomId}"] .room-members`, { hasText: '2/10' }).waitFor();
  await screenshot(lobby, 'lobby-dark');
  await lobby.close();

  // /compare following the room, with a message in its three columns.
  await owner.goto(`${suite.server.url}/compare?room=${encodeURIComponent(roomId)}`);
  await owner.waitForFunction(() => ['sse', 'ws', 'poll'].every((name) => document
    .querySelector(`#compare-${name} [data-role="state"]`)?.dataset.state === 'connected'));
  await owner.fill('#compose-text', 'hello to the three columns');
  await owner.click('#send-rest');
  await owner.waitForFunction(() => ['sse', 'ws', 'poll'].every((name) => document
    .querySelector(`#compare-${name} [data-role="log"]`)?.children.length > 0));
  failures.push(...await checkBothSchemes(owner, '/compare'));
  for (const path of ['/demo/ws', '/demo/sse']) {
    await owner.goto(`${suite.server.url}${path}`);
    await owner.waitForLoadState('load');
    failures.push(...await checkBothSchemes(owner, path));
  }
  await owner.goto(`${suite.server.url}/no-such-page`);
  takeExpectedHttpError(suite.errors, 404, `${suite.server.url}/no-such-page`);
  failures.push(...await checkBothSchemes(owner, '404 page'));

  assert.deepEqual(failures, [], `axe found ${failures.length} problem(s):\n  ${failures.join('\n  ')}`);
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
