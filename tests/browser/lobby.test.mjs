// The lobby's live room list: a room appears when created, its member count follows people
// entering and leaving, and it disappears once everybody left. Plus inline validation errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  api, assertNoErrors, createRoomWithForm, newUser, openLobby, openRoom, setUp,
  takeExpectedHttpError, waitUntilInRoom,
} from './harness.mjs';

let suite;
let pageA;
let pageB;
let watcher;

before(async () => {
  suite = await setUp();
  pageA = await (await suite.user()).newPage();
  pageB = await (await suite.user()).newPage();
  watcher = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

test('a room appears, counts its members, and disappears when everybody left', { timeout: 45_000 }, async () => {
  await openLobby(watcher, suite.server);
  await watcher.waitForSelector('#rooms-empty:has-text("No rooms yet")');
  assert.equal(await watcher.locator('#rooms [data-room-id]').count(), 0);

  await openLobby(pageA, suite.server);
  const roomId = await createRoomWithForm(pageA, { title: 'Lobby test' });

  const row = watcher.locator(`#rooms [data-room-id="${roomId}"]`);
  await row.locator('.room-title', { hasText: 'Lobby test' }).waitFor();
  await row.locator('.room-members', { hasText: /^1\/10$/ }).waitFor();
  assert.equal(await watcher.isHidden('#rooms-empty'), true);
  assert.equal((await watcher.textContent('#room-count')).trim(), '1');

  // B enters through the lobby list like a person would.
  await openLobby(pageB, suite.server);
  await pageB.locator(`#rooms [data-room-id="${roomId}"] .room-enter`).click();
  await pageB.waitForURL(`${suite.server.url}/rooms/${roomId}`);
  await waitUntilInRoom(pageB);
  await row.locator('.room-members', { hasText: /^2\/10$/ }).waitFor();

  // A leaves (the page goes away); after the grace period the count drops.
  await pageA.goto('about:blank');
  await row.locator('.room-members', { hasText: /^1\/10$/ }).waitFor();

  // B closes the tab; the room is now empty and is deleted, and the row goes.
  await pageB.close();
  await row.waitFor({ state: 'detached' });
  await watcher.waitForSelector('#rooms-empty:has-text("No rooms yet")');
  assert.equal((await watcher.textContent('#room-count')).trim(), '');
  const { body } = await api(watcher, 'GET', '/api/rooms');
  assert.deepEqual(body.rooms, [], 'the server agrees that the room is gone');
});

test('an empty title shows the API validation message inline and stays in the lobby', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  const lobbyUrl = pageA.url();
  const navigations = [];
  pageA.on('framenavigated', (frame) => {
    if (frame === pageA.mainFrame()) navigations.push(frame.url());
  });

  // What the API says about an empty title, to compare with what the page shows.
  const direct = await api(pageA, 'POST', '/api/rooms', { title: '' });
  assert.equal(direct.status, 422);
  assert.equal(direct.body.error, 'invalid_title');

  for (const title of ['', '    ']) {
    const form = pageA.locator('#create-room');
    await form.locator('input[name="title"]').fill(title);
    await form.locator('button[type="submit"]').click();
    const error = pageA.locator('#create-error');
    await error.waitFor({ state: 'visible' });
    const shown = (await error.textContent()).trim();
    assert.ok(
      shown.toLowerCase().includes(direct.body.message.toLowerCase()),
      `inline error ${JSON.stringify(shown)} carries the API message ${JSON.stringify(direct.body.message)}`,
    );
    assert.equal(await form.locator('input[name="title"]').getAttribute('aria-invalid'), 'true');
    assert.equal(await pageA.evaluate(() => document.activeElement?.name), 'title', 'focus moves to the title');
    assert.equal(await form.locator('button[type="submit"]').isEnabled(), true, 'the form can be used again');
  }

  assert.equal(pageA.url(), lobbyUrl);
  assert.deepEqual(navigations, []);
  assert.equal((await api(pageA, 'GET', '/api/rooms')).body.rooms.length, 0, 'no room was created');

  // Fixing the title clears the error and creates the room.
  const roomId = await createRoomWithForm(pageA, { title: 'Fixed title' });
  assert.ok(roomId);
});

test('when the owner deletes a room, the lobby row goes and members see a notice', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  const roomId = await createRoomWithForm(pageA, { title: 'Doomed room' });
  const member = await watcher.context().newPage();
  await openRoom(member, suite.server, roomId);
  await openLobby(watcher, suite.server);
  const row = watcher.locator(`#rooms [data-room-id="${roomId}"]`);
  await row.locator('.room-members', { hasText: /^2\/10$/ }).waitFor();
  // The owner's page re-reads the room after the join message; let it settle first (see the
  // next test for what happens otherwise).
  await pageA.waitForSelector('#room-members:has-text("2/10")');

  const deleted = await api(pageA, 'DELETE', `/api/rooms/${roomId}`);
  assert.equal(deleted.status, 204);

  await row.waitFor({ state: 'detached' });
  for (const page of [member, pageA]) {
    await page.waitForSelector('#room-notice', { state: 'visible' });
    assert.match(await page.textContent('#notice-title'), /deleted/i);
    assert.equal(await page.$eval('#chat', (el) => el.dataset.state), 'deleted');
    assert.equal(await page.locator('#composer textarea[name="text"]').isDisabled(), true);
    assert.notEqual(await page.$eval('#connection', (el) => el.dataset.state), 'connected');
  }
  await member.close();
});

// Regression guard: room.js re-reads the room 400 ms after a system message (when it has no
// member list yet); a room deleted inside that window must not be asked about any more.
test('a room page asks nothing more about a room once it was deleted', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  const roomId = await createRoomWithForm(pageA, { title: 'Deleted right after a join' });
  const roomUrl = `${suite.server.url}/api/rooms/${roomId}`;
  // The member walks in as the room goes: its 404s are expected, so it logs to its own list.
  const memberErrors = [];
  const memberContext = await newUser(suite.browser, memberErrors);
  const member = await memberContext.newPage();
  // Delete as soon as the owner's page shows the member's join, within the 400 ms debounce.
  const joined = pageA.waitForSelector('#messages .message.system:nth-child(2)', { state: 'attached' });
  const entering = member.goto(`${suite.server.url}/rooms/${roomId}`);
  await joined;
  const mark = suite.errors.length;
  let deletedAt = null;
  const strayRequest = pageA.waitForRequest(
    (request) => deletedAt !== null && request.url() === roomUrl && request.method() === 'GET',
    { timeout: 1500 },
  ).catch(() => null);
  deletedAt = Date.now();
  assert.equal((await api(pageA, 'DELETE', `/api/rooms/${roomId}`)).status, 204);
  await pageA.waitForSelector('#room-notice', { state: 'visible' });
  await entering;
  // Any stray GET of the room comes within the 400 ms debounce; the wait for it is bounded.
  const stray = await strayRequest;
  await memberContext.close();
  const memberUnexpected = memberErrors.filter((line) => !line.includes('status of 404 (Not Found) [')
    || !line.endsWith(']') || !line.slice(line.lastIndexOf(' [') + 2, -1).startsWith(roomUrl));
  assert.deepEqual(memberUnexpected, [], 'the member page only met 404s of the deleted room');
  // A stray GET would be logged as a 404; report it here rather than in the final check.
  const logged = suite.errors.splice(mark).filter((line) => {
    if (line.endsWith(` [${roomUrl}]`) && line.includes('status of 404')) return true;
    suite.errors.push(line);
    return false;
  });
  assert.equal(stray, null, `GET ${roomUrl} after the room was deleted (logged: ${logged.join(' | ')})`);
});

test('a link to a room that does not exist shows a notice, not a broken page', { timeout: 30_000 }, async () => {
  const page = await watcher.context().newPage();
  const missing = randomUUID();
  await page.goto(`${suite.server.url}/rooms/${missing}`);
  await page.waitForSelector('#room-notice', { state: 'visible' });
  assert.match(await page.textContent('#notice-title'), /does not exist/i);
  assert.equal(await page.textContent('#room-title'), 'Room not found');
  assert.equal(await page.locator('#composer textarea[name="text"]').isDisabled(), true);
  await page.locator('#room-notice a', { hasText: 'Back to the lobby' }).click();
  await page.waitForURL(`${suite.server.url}/`);
  await page.close();
  // The 404 of the join is the point of this test; any other 404 still fails the suite.
  takeExpectedHttpError(suite.errors, 404, `${suite.server.url}/api/rooms/${missing}/join`);
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
