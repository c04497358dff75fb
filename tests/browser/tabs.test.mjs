// One person with the same room open in five tabs. Chrome allows six HTTP/1.1 connections per
// origin and profile, so this only works if each room page holds a single stream: five for the
// tabs, one left for everything else. Presence is per person, not per tab.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, checkOrder, createRoomWithForm, messageIds, openLobby, openRoom,
  sendText, setUp, waitForMessage, whoAmI,
} from './harness.mjs';

const TABS = 5;

let suite;
let contextA;
let tabs = [];
let other;
let roomId;
let meA;
/** Page → how many room streams it requested. */
const streamRequests = new Map();

before(async () => {
  suite = await setUp();
  contextA = await suite.user();
  contextA.on('request', (request) => {
    if (!/\/api\/rooms\/[^/]+\/events/.test(new URL(request.url()).pathname)) return;
    const page = request.frame().page();
    streamRequests.set(page, (streamRequests.get(page) ?? 0) + 1);
  });
  other = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

test(`one user opens the same room in ${TABS} tabs`, { timeout: 45_000 }, async () => {
  const first = await contextA.newPage();
  await openLobby(first, suite.server);
  roomId = await createRoomWithForm(first, { title: 'Many tabs' });
  tabs = [first];
  for (let i = 1; i < TABS; i += 1) {
    const tab = await contextA.newPage();
    await openRoom(tab, suite.server, roomId);
    tabs.push(tab);
  }
  meA = await whoAmI(first);
  await openRoom(other, suite.server, roomId);

  // Every tab is still live after the last one opened.
  for (const tab of tabs) {
    assert.equal(await tab.$eval('#connection', (el) => el.dataset.state), 'connected');
  }
  for (const tab of tabs) assert.equal(streamRequests.get(tab), 1, `one stream per tab (${tab.url()})`);

  // Five tabs are one member.
  const { body: room } = await api(other, 'GET', `/api/rooms/${roomId}`);
  assert.equal(room.members, 2);
  await other.waitForSelector('#room-members:has-text("2/10")');
});

test('every tab can send, and every tab and the other user receive all messages', { timeout: 45_000 }, async () => {
  // All at once: the posts share the one connection the streams leave free.
  const ids = await Promise.all(tabs.map((tab, i) => sendText(tab, `from tab ${i + 1}`)));
  assert.equal(new Set(ids).size, TABS);

  for (const [t, tab] of tabs.entries()) {
    for (const [i, id] of ids.entries()) {
      const message = await waitForMessage(tab, id);
      assert.equal(message.side, 'mine', `tab ${t + 1}, message ${i + 1}`);
      assert.equal(message.text, `from tab ${i + 1}`);
    }
    checkOrder(await messageIds(tab));
  }
  for (const [i, id] of ids.entries()) {
    const message = await waitForMessage(other, id);
    assert.deepEqual(message, { side: 'theirs', kind: 'chat', text: `from tab ${i + 1}`, author: meA.name });
  }
  checkOrder(await messageIds(other));

  // The other user's reply reaches every tab.
  const reply = await sendText(other, 'hello, all five of you');
  for (const tab of tabs) assert.equal((await waitForMessage(tab, reply)).side, 'theirs');

  // All tabs show the same conversation, and still with one stream each.
  const reference = await messageIds(other);
  for (const tab of tabs) assert.deepEqual(await messageIds(tab), reference);
  for (const tab of tabs) assert.equal(streamRequests.get(tab), 1);
});

test('closing tabs one by one announces a single leave, after the last one', { timeout: 30_000 }, async () => {
  const leftText = `${meA.name} left the room.`;
  const countLeaves = () => other.$$eval('#messages .message.system .message-text', (nodes, text) =>
    nodes.filter((n) => n.textContent === text).length, leftText);
  for (const tab of tabs.slice(0, -1)) await tab.close();
  // A round trip through the remaining tab: it is still in the room and still live.
  const still = await sendText(tabs[TABS - 1], 'last tab standing');
  await waitForMessage(other, still);
  assert.equal(await countLeaves(), 0);

  await tabs[TABS - 1].close();
  await other.waitForFunction((text) => [...document.querySelectorAll('#messages .message.system .message-text')]
    .some((n) => n.textContent === text), leftText);
  await other.waitForSelector('#room-members:has-text("1/10")');
  assert.equal(await countLeaves(), 1);
  const joins = await other.$$eval('#messages .message.system .message-text', (nodes, text) =>
    nodes.filter((n) => n.textContent === text).length, `${meA.name} joined the room.`);
  assert.equal(joins, 1, 'the five tabs joined once');
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
