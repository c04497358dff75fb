// Locked rooms: the password dialog in the lobby (cancel, wrong password, right password),
// on a direct link to the room page, and the password never travelling in a URL.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoErrors, createRoomWithForm, openLobby, sendText, setUp, waitForMessage,
  waitUntilInRoom,
} from './harness.mjs';

const PASSWORD = 'p&ss #1+';
const TITLE = 'Locked room';

let suite;
let pageA;
let pageB;
let roomId;
/** Every URL any page of any user requested or navigated to. */
const urls = [];

function recordUrls(context) {
  context.on('request', (request) => urls.push(request.url()));
  context.on('page', (page) => page.on('framenavigated', (frame) => urls.push(frame.url())));
}

before(async () => {
  suite = await setUp();
  const contextA = await suite.user();
  const contextB = await suite.user();
  recordUrls(contextA);
  recordUrls(contextB);
  pageA = await contextA.newPage();
  pageB = await contextB.newPage();
});

after(async () => {
  await suite?.teardown();
});

const dialog = (page) => page.locator('#password-dialog');
const passwordInput = (page) => page.locator('#password-dialog input[name="password"]');

async function submitPassword(page, password) {
  await passwordInput(page).fill(password);
  await page.locator('#password-dialog button[type="submit"]').click();
}

test('the owner creates a locked room and is let in without being asked', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  roomId = await createRoomWithForm(pageA, { title: TITLE, password: PASSWORD });
  assert.equal(await dialog(pageA).evaluate((el) => el.open), false);
  assert.equal(await pageA.textContent('#room-title'), TITLE);
});

test('in the lobby, Enter on a locked room asks for the password; Cancel stays put', { timeout: 30_000 }, async () => {
  await openLobby(pageB, suite.server);
  const lobbyUrl = pageB.url();
  const row = pageB.locator(`#rooms [data-room-id="${roomId}"]`);
  await row.locator('.room-title', { hasText: TITLE }).waitFor();
  assert.equal(await row.getAttribute('data-locked'), 'true');
  assert.equal(await row.locator('.room-lock').isVisible(), true);

  await row.locator('.room-enter').click();
  await pageB.waitForSelector('#password-dialog[open]');
  assert.match(await pageB.textContent('#password-dialog [data-role="room-name"]'), new RegExp(TITLE));
  await pageB.locator('#password-dialog [data-action="cancel"]').click();
  await pageB.waitForSelector('#password-dialog:not([open])', { state: 'attached' });
  assert.equal(pageB.url(), lobbyUrl);
  assert.equal(await row.locator('.room-enter').isEnabled(), true);
});

test('a wrong password is refused in the dialog; the right one enters the room', { timeout: 30_000 }, async () => {
  const lobbyUrl = pageB.url();
  const row = pageB.locator(`#rooms [data-room-id="${roomId}"]`);
  await row.locator('.room-enter').click();
  await pageB.waitForSelector('#password-dialog[open]');

  await submitPassword(pageB, 'p&ss #1');
  const error = pageB.locator('#password-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /password is not right/i);
  assert.equal(await passwordInput(pageB).getAttribute('aria-invalid'), 'true');
  assert.equal(await dialog(pageB).evaluate((el) => el.open), true, 'the dialog stays open');
  assert.equal(pageB.url(), lobbyUrl);

  await submitPassword(pageB, PASSWORD);
  await pageB.waitForURL(`${suite.server.url}/rooms/${roomId}`);
  await waitUntilInRoom(pageB);
  assert.equal(await dialog(pageB).evaluate((el) => el.open), false, 'the room page does not ask again');

  const id = await sendText(pageB, 'B got in');
  assert.equal((await waitForMessage(pageA, id)).side, 'theirs');
  const reply = await sendText(pageA, 'welcome, B');
  assert.equal((await waitForMessage(pageB, reply)).side, 'theirs');

  // The grant is remembered: a reload goes straight in.
  await pageB.reload();
  await waitUntilInRoom(pageB);
  assert.equal(await dialog(pageB).evaluate((el) => el.open), false);
  await waitForMessage(pageB, reply);
});

test('a direct link to a locked room asks for the password on the room page', { timeout: 30_000 }, async () => {
  const contextC = await suite.user();
  recordUrls(contextC);
  const pageC = await contextC.newPage();
  await pageC.goto(`${suite.server.url}/rooms/${roomId}`);
  await pageC.waitForSelector('#password-dialog[open]');
  assert.equal(await pageC.textContent('#room-title'), 'Loading…', 'nothing of the room is shown yet');
  assert.equal(await pageC.locator('#messages .message').count(), 0);

  await submitPassword(pageC, 'nope');
  await pageC.locator('#password-error').waitFor({ state: 'visible' });
  assert.equal(await dialog(pageC).evaluate((el) => el.open), true);

  await submitPassword(pageC, PASSWORD);
  await waitUntilInRoom(pageC);
  assert.equal(await pageC.textContent('#room-title'), TITLE);
  const id = await sendText(pageC, 'C is here too');
  await waitForMessage(pageA, id);
  await waitForMessage(pageB, id);
  await contextC.close();
});

test('the password never appears in any URL', () => {
  assert.ok(urls.length > 10, `recorded ${urls.length} URLs`);
  const forms = new Set([
    PASSWORD,
    encodeURIComponent(PASSWORD),
    encodeURI(PASSWORD),
    new URLSearchParams({ password: PASSWORD }).toString().split('=')[1],
    'p&ss', 'p%26ss',
  ]);
  const leaks = urls.filter((url) => [...forms].some((form) => url.includes(form) || decodeURIComponentSafe(url).includes(form)));
  assert.deepEqual(leaks, []);
  assert.ok(!urls.some((url) => /[?&]password=/i.test(url)), 'no password= query parameter');
});

function decodeURIComponentSafe(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
