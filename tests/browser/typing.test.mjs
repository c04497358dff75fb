// Issue 16: "Ann is typing…". While one member types, the others see it under the
// conversation, over every transport (the typist's page says so over the socket on WebSocket,
// by POST otherwise; the reader's page hears it on SSE, WebSocket or a waiting long-poll);
// it goes when their message arrives, and fades by itself when they stop. The typist never
// sees their own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoErrors, createRoomWithForm, openLobby, openRoom, sendText, setUp, waitFor, waitForMessage, whoAmI,
} from './harness.mjs';

let suite;
let ann;
let bob;
let annName;

before(async () => {
  suite = await setUp();
  ann = await (await suite.user()).newPage();
  bob = await (await suite.user()).newPage();
  await openLobby(ann, suite.server);
  const roomId = await createRoomWithForm(ann, { title: 'Typing' });
  await openRoom(bob, suite.server, roomId);
  annName = (await whoAmI(ann)).name;
});

after(async () => {
  await suite?.teardown();
});

const typingLine = (page) => page.evaluate(() => document.getElementById('typing').textContent);

async function useTransport(page, name) {
  await page.click(`#transport-switch [data-transport="${name}"]`);
  await page.waitForSelector(`#connection[data-transport="${name}"][data-state="connected"]`, { state: 'attached' });
}

for (const transport of ['sse', 'ws', 'poll']) {
  test(`typing shows over ${transport} and goes with the message`, { timeout: 30_000 }, async () => {
    await Promise.all([useTransport(ann, transport), useTransport(bob, transport)]);
    // The server passes on one "typing" per member every 2 s: let the last test's go stale.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const box = ann.locator('#composer-text');
    const height = await bob.evaluate(() => document.getElementById('messages').getBoundingClientRect().height);
    await box.pressSequentially('hello th', { delay: 20 });
    await waitFor(async () => (await typingLine(bob)) === `${annName} is typing…`, { message: 'Bob sees Ann typing' });
    assert.equal(
      await bob.evaluate(() => document.getElementById('messages').getBoundingClientRect().height),
      height,
      'the conversation does not jump when the line appears',
    );
    assert.equal(await typingLine(ann), '', 'Ann does not see her own typing');
    await box.fill('');
    const id = await sendText(ann, `hello over ${transport}`);
    await waitForMessage(bob, id);
    assert.equal(await typingLine(bob), '', 'the message replaces the typing line');
  });
}

test('the line fades by itself when the typist stops', { timeout: 30_000 }, async () => {
  await new Promise((resolve) => setTimeout(resolve, 2100));
  await ann.locator('#composer-text').pressSequentially('never sent', { delay: 20 });
  await waitFor(async () => (await typingLine(bob)) !== '', { message: 'Bob sees Ann typing' });
  const shownAt = Date.now();
  await waitFor(async () => (await typingLine(bob)) === '', { timeout: 12_000, message: 'the line fades' });
  assert.ok(Date.now() - shownAt > 3000, 'it stayed a few seconds');
  assertNoErrors(suite.errors);
});
