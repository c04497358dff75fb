// Issue 16, item 1: every page follows the system's colour scheme (prefers-color-scheme), and
// axe-core finds nothing wrong on any of them in either scheme: contrast, names, landmarks.
// The room is checked full of what it can show: chats both ways, a system message, whispers
// both ways, a GIF, the member list with the owner's buttons, and whisper mode on.
// Screenshots: room-dark.png and lobby-dark.png (chat.test writes the light ones, mobile.test
// the phone's).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoErrors, axeInBothSchemes, createRoomWithForm, makeGif, openLobby, openRoom, screenshot, sendText, setUp,
  takeExpectedHttpError, waitForMessage, whoAmI,
} from './harness.mjs';

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
  failures.push(...await axeInBothSchemes(guest, 'lobby'));

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
  failures.push(...await axeInBothSchemes(owner, 'room with a GIF preview'));
  await owner.click('#gif-send');
  await owner.waitForSelector('#gif-preview', { state: 'hidden' });
  await owner.waitForFunction(() => [...document.querySelectorAll('#messages .message[data-kind="gif"] img')]
    .some((img) => img.complete && img.naturalWidth === 120));
  failures.push(...await axeInBothSchemes(owner, 'room (owner, whispering)'));
  failures.push(...await axeInBothSchemes(guest, 'room (guest, whispering)'));
  // The room's dialogs: the GIF lightbox and the nickname dialog.
  await owner.click('#messages .message[data-kind="gif"] button.gif-open');
  await owner.waitForSelector('#gif-lightbox[open]');
  failures.push(...await axeInBothSchemes(owner, 'room with the GIF lightbox open'));
  await owner.keyboard.press('Escape');
  await owner.waitForSelector('#gif-lightbox:not([open])', { state: 'attached' });
  await owner.click('#rename-button');
  await owner.waitForSelector('#rename-dialog[open]');
  failures.push(...await axeInBothSchemes(owner, 'room with the nickname dialog open'));
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
  failures.push(...await axeInBothSchemes(owner, '/compare'));
  for (const path of ['/demo/ws', '/demo/sse']) {
    await owner.goto(`${suite.server.url}${path}`);
    await owner.waitForLoadState('load');
    failures.push(...await axeInBothSchemes(owner, path));
  }
  await owner.goto(`${suite.server.url}/no-such-page`);
  takeExpectedHttpError(suite.errors, 404, `${suite.server.url}/no-such-page`);
  failures.push(...await axeInBothSchemes(owner, '404 page'));

  assert.deepEqual(failures, [], `axe found ${failures.length} problem(s):\n  ${failures.join('\n  ')}`);
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
