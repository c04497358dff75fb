// A server crash and restart while people are in a room: the page says it is reconnecting,
// then catches up on what was posted meanwhile, with nothing lost, duplicated or reordered.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, checkOrder, createRoomWithForm, messageIds, openLobby, openRoom,
  sendText, setUp, takeOutageErrors, waitForConnection, waitForMessage,
} from './harness.mjs';

let suite;
let pageA;
let pageB;
let roomId;

before(async () => {
  suite = await setUp();
  pageA = await (await suite.user()).newPage();
  pageB = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** How many times each id is shown, and whether DOM order is id order. */
async function checkShownOnce(page, ids) {
  const shown = await messageIds(page);
  checkOrder(shown); // strictly increasing also means no id twice
  for (const id of ids) {
    assert.equal(shown.filter((x) => x === id).length, 1, `message ${id} shown once on ${page.url()}`);
  }
  return shown;
}

/** POSTs a chat as the page's user, retrying while the server does not answer at all. */
async function postChat(page, text, { retryFor = 0 } = {}) {
  const deadline = Date.now() + retryFor;
  for (;;) {
    try {
      const response = await api(page, 'POST', `/api/rooms/${roomId}/messages`, { text });
      assert.equal(response.status, 201, `POST answered ${response.status}: ${JSON.stringify(response.body)}`);
      return response.body;
    } catch (error) {
      if (error instanceof assert.AssertionError || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

test('A and B chat in a room', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  roomId = await createRoomWithForm(pageA, { title: 'Reconnect test' });
  await openRoom(pageB, suite.server, roomId);
  const one = await sendText(pageA, 'before the crash, from A');
  const two = await sendText(pageB, 'before the crash, from B');
  await waitForMessage(pageB, one);
  await waitForMessage(pageA, two);
});

test('after a crash and restart, B gets every new message exactly once, in order', { timeout: 45_000 }, async (t) => {
  const before = await checkShownOnce(pageB, []);
  assert.ok(before.length >= 4, `joins and two chats before the crash: ${before}`);

  const mark = suite.errors.length;
  await suite.server.stop('SIGKILL');
  for (const page of [pageB, pageA]) {
    const downState = await (await page.waitForFunction(() => {
      const state = document.getElementById('connection').dataset.state;
      return state === 'reconnecting' || state === 'offline' ? state : null;
    })).jsonValue();
    assert.ok(['reconnecting', 'offline'].includes(downState));
  }

  await suite.server.start();
  const posted = [await postChat(pageA, 'after the restart 1', { retryFor: 15_000 })];
  const stateAtFirstPost = await pageB.$eval('#connection', (el) => el.dataset.state);
  t.diagnostic(`B's stream was ${stateAtFirstPost} when the first message after the restart was posted`);
  // The others go out once B's stream is back, so both replay and live delivery are covered.
  await waitForConnection(pageB);
  posted.push(await postChat(pageA, 'after the restart 2'));
  posted.push(await postChat(pageA, 'after the restart 3'));
  const ids = posted.map((message) => message.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));

  for (const page of [pageB, pageA]) {
    for (const [i, id] of ids.entries()) {
      const message = await waitForMessage(page, id);
      assert.equal(message.text, `after the restart ${i + 1}`);
    }
    await waitForConnection(page);
  }
  assert.equal((await waitForMessage(pageB, ids[0])).side, 'theirs');

  // One more round trip through both streams, then nothing may have been shown twice.
  const last = await sendText(pageB, 'all caught up');
  await waitForMessage(pageA, last);
  const afterB = await checkShownOnce(pageB, [...before, ...ids, last]);
  const afterA = await checkShownOnce(pageA, [...before, ...ids, last]);
  assert.deepEqual(afterB.slice(0, before.length), before, 'history before the crash unchanged');
  assert.deepEqual(afterA, afterB, 'both pages show the same messages');
  assert.equal(await pageB.$eval('#connection', (el) => el.dataset.state), 'connected');

  // The two streams cut by the kill are logged by Chrome; nothing else may have been.
  const outage = takeOutageErrors(suite.errors, mark);
  t.diagnostic(`network errors caused by the deliberate outage: ${outage.length}`);
});

test('a message typed while the server is down is kept, with an error, and sent once it is back', { timeout: 45_000 }, async (t) => {
  const mark = suite.errors.length;
  await suite.server.stop('SIGKILL');
  await pageB.waitForSelector('#connection:not([data-state="connected"])', { state: 'attached' });

  const box = pageB.locator('#composer textarea[name="text"]');
  await box.fill('sent during the outage');
  await box.press('Enter');
  const error = pageB.locator('#composer-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /could not reach the server/i);
  assert.equal(await box.inputValue(), 'sent during the outage', 'the text is kept for another try');
  assert.equal(await box.isEditable(), true);

  await suite.server.start();
  await waitForConnection(pageB);
  await box.press('Enter');
  const id = await (await pageB.waitForFunction(() => {
    const node = [...document.querySelectorAll('#messages .message.mine')].pop();
    return node?.querySelector('.message-text')?.textContent === 'sent during the outage' ? Number(node.dataset.messageId) : null;
  })).jsonValue();
  await error.waitFor({ state: 'hidden' });
  assert.equal(await box.inputValue(), '');
  await waitForMessage(pageA, id);
  await waitForConnection(pageA);
  await checkShownOnce(pageA, [id]);
  await checkShownOnce(pageB, [id]);
  assert.deepEqual(await messageIds(pageA), await messageIds(pageB));

  const outage = takeOutageErrors(suite.errors, mark);
  t.diagnostic(`network errors caused by the deliberate outage: ${outage.length}`);
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
