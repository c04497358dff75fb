// /compare follows one room over SSE, WebSocket and long-polling side by side: every message
// shows in all three columns once, with its id, and each column counts its requests and
// bytes. Sending over REST, over the WebSocket (ack and error frames), a burst, a server
// restart (each column resumes after its last id), a deleted room, a missing or locked one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertNoErrors, setUp, takeOutageErrors, waitFor } from './harness.mjs';

const NAMES = ['sse', 'ws', 'poll'];

let suite;
let page;
let other;
let roomId;
/** The newest message when the page opened the room: the columns show what came after it. */
let start;

before(async () => {
  // The production grace period: the restart below must not let the page's seat lapse.
  suite = await setUp({ PRESENCE_GRACE: '10s' });
  page = await (await suite.user()).newPage();
  other = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** What each column shows. */
function columnsUi() {
  return page.evaluate((names) => Object.fromEntries(names.map((name) => {
    const root = document.getElementById(`compare-${name}`);
    const part = (role) => root.querySelector(`[data-role="${role}"]`);
    return [name, {
      state: part('state').dataset.state,
      label: part('state').querySelector('.connection-label').textContent,
      count: Number(root.querySelector('.count').textContent),
      bytes: Number(part('bytes').title.replace(/\D/g, '')),
      requests: Number(part('requests').textContent),
      lastId: part('last-id').textContent,
      log: [...part('log').children].map((li) => Number(li.dataset.id)),
      status: part('status').textContent,
      endpoint: part('endpoint').textContent,
    }];
  })), NAMES);
}

/** The ids of the messages the page's user can see after `start`, as the API lists them. */
async function roomIds() {
  const { status, body } = await api(page, 'GET', `/api/rooms/${roomId}/messages?after=${start}&limit=100`);
  assert.equal(status, 200, JSON.stringify(body));
  return body.messages.map((message) => message.id);
}

/**
 * Waits until every column has every message of the room since `start` (the API's list,
 * which must include `sent`), and checks each lists the newest 20 of them, each once.
 */
async function waitForAllColumns(what, sent) {
  let ids;
  const ui = await waitFor(async () => {
    ids = await roomIds();
    if (!sent.every((id) => ids.includes(id))) return false;
    const columns = await columnsUi();
    return NAMES.every((name) => columns[name].count === ids.length && columns[name].lastId === `#${ids.at(-1)}`) && columns;
  }, { timeout: 15_000, message: `all three columns to have every message (${what})` });
  const newest = [...ids].reverse().slice(0, 20);
  for (const name of NAMES) assert.deepEqual(ui[name].log, newest, `${name} lists the newest messages, each once`);
  return ui;
}

const statusText = (id) => page.locator(id).textContent();

test('creating a room opens it in all three columns', { timeout: 30_000 }, async () => {
  await page.goto(`${suite.server.url}/compare`);
  await page.waitForFunction(() => document.getElementById('me').textContent !== '…');
  await page.click('#create-room');
  await page.waitForURL(/\/compare\?room=/);
  roomId = new URL(page.url()).searchParams.get('room');
  const ui = await waitFor(async () => {
    const columns = await columnsUi();
    return NAMES.every((name) => columns[name].state === 'connected') ? columns : false;
  }, { message: 'all three columns to connect' });
  const following = /^Following “Transport comparison” after message #(\d+)\./.exec(await statusText('#room-status'));
  assert.ok(following, await statusText('#room-status'));
  start = Number(following[1]);
  assert.deepEqual(NAMES.map((name) => ui[name].label), ['Open', 'Open', 'Polling']);
  assert.equal(ui.sse.status, 'One request, still open: events arrive on it.');
  assert.equal(ui.ws.status, 'One upgraded connection (101), used both ways.');
  for (const name of NAMES) {
    assert.ok(ui[name].endpoint.includes(`/api/rooms/${roomId}/`), `${name}: ${ui[name].endpoint}`);
    assert.equal(ui[name].count, 0, name);
    assert.ok(ui[name].requests >= 1, name);
  }
  assert.equal(await page.$eval('#room-select', (select) => select.value), roomId);
});

test('a message sent with REST shows in every column, with requests and bytes counted', { timeout: 30_000 }, async () => {
  await page.click('#send-rest');
  assert.equal(await statusText('#composer-error'), 'Type a message first.');

  await page.fill('#compose-text', 'hello over REST');
  await page.click('#send-rest');
  await page.waitForFunction(() => document.getElementById('composer-status').textContent.startsWith('Sent with POST'));
  const id = Number(/message #(\d+)/.exec(await statusText('#composer-status'))[1]);
  const ui = await waitForAllColumns('one REST post', [id]);
  assert.equal(ui.sse.requests, 1, 'SSE: one request');
  assert.equal(ui.ws.requests, 1, 'WebSocket: one connection');
  assert.ok(ui.poll.requests >= 2, `polling asked again after the answer: ${ui.poll.requests}`);
  for (const name of NAMES) assert.ok(ui[name].bytes > 0, `${name} counted bytes`);
  assert.match(ui.poll.status, /^The last answer carried 1 message and ended/);
});

test('over the WebSocket: a chat frame is acknowledged, an invalid one gets an error frame', { timeout: 30_000 }, async () => {
  await page.fill('#compose-text', 'hello over the WebSocket');
  await page.click('#send-ws');
  await page.waitForFunction(() => document.getElementById('composer-status').textContent.startsWith('The server acknowledged'));
  const [, ref, id] = /ref (\d+) on the WebSocket: message #(\d+)\./.exec(await statusText('#composer-status')).map(Number);
  const ui = await waitForAllColumns('one WebSocket chat', [id]);
  assert.equal(ui.ws.status, `ack: your frame (ref ${ref}) became message #${id}.`);

  // Past the input's maxlength, which only stops typing: the server is the one to refuse it.
  await page.$eval('#compose-text', (input) => { input.value = 'x'.repeat(1001); });
  await page.click('#send-ws');
  await page.locator('#composer-error').waitFor({ state: 'visible' });
  assert.equal(await statusText('#composer-error'), 'The WebSocket refused it: Text must be 1 to 1000 characters.');
  const columns = await columnsUi();
  assert.equal(columns.ws.status, 'error frame: Text must be 1 to 1000 characters.');
  assert.equal(columns.ws.state, 'connected', 'the socket stays open');
});

test('a burst of 20 arrives in every column; the streams need no new request for it', { timeout: 45_000 }, async () => {
  const before = await columnsUi();
  await page.click('#burst');
  await page.waitForFunction(() => document.getElementById('composer-status').textContent.startsWith('Burst done'), null, { timeout: 30_000 });
  const [, first, last] = /\(#(\d+)–#(\d+)\)/.exec(await statusText('#composer-status')).map(Number);
  assert.equal(last - first, 19);
  const ui = await waitForAllColumns('a burst', [first, last]);
  assert.equal(ui.sse.requests, before.sse.requests, 'no new SSE request');
  assert.equal(ui.ws.requests, before.ws.requests, 'no new WebSocket');
  assert.ok(ui.poll.requests > before.poll.requests, 'polling asked again');

  // Someone else joins (a system message) and says something.
  await other.goto(`${suite.server.url}/`);
  const joined = await api(other, 'POST', `/api/rooms/${roomId}/join`);
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  const reply = await api(other, 'POST', `/api/rooms/${roomId}/messages`, { text: 'from someone else' });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  await waitForAllColumns("another member's join and message", [reply.body.id]);
});

test('after a server restart each column resumes after its last id: nothing missed or doubled', { timeout: 60_000 }, async () => {
  const before = await columnsUi();
  const mark = suite.errors.length;
  await suite.server.restart();
  const reply = await api(other, 'POST', `/api/rooms/${roomId}/messages`, { text: 'after the restart' });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  const ui = await waitForAllColumns('after the restart', [reply.body.id]);
  for (const name of NAMES) assert.ok(ui[name].requests > before[name].requests, `${name} connected again`);
  await waitFor(async () => {
    const columns = await columnsUi();
    return NAMES.every((name) => columns[name].state === 'connected') ? columns : false;
  }, { message: 'all three columns to be connected again' });
  // Chrome logs the connections refused while the server was down; nothing else may show.
  takeOutageErrors(suite.errors, mark);
  const refused = /: console: WebSocket connection to 'ws:\/\/[^']+\/ws\?after=\d+' failed: .*ERR_CONNECTION_REFUSED/;
  suite.errors.splice(mark, suite.errors.length - mark, ...suite.errors.slice(mark).filter((line) => !refused.test(line)));
});

test('a deleted room ends all three, and says so', { timeout: 30_000 }, async () => {
  const deleted = await api(page, 'DELETE', `/api/rooms/${roomId}`);
  assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
  await page.locator('#room-error').waitFor({ state: 'visible' });
  assert.match(await statusText('#room-error'), /Pick another room\.$/);
  const ui = await columnsUi();
  for (const name of NAMES) assert.deepEqual([ui[name].state, ui[name].label], ['offline', 'Closed'], name);
  assert.equal(await page.isDisabled('#compose-text'), true);
  // A poll that asked after the deletion may have been answered 404, which Chrome logs.
  const notFound = (line) => line.includes('status of 404') && line.includes(`/api/rooms/${roomId}/`);
  suite.errors.splice(0, suite.errors.length, ...suite.errors.filter((line) => !notFound(line)));
});

test('a room that does not exist, and a locked one, are explained', { timeout: 30_000 }, async () => {
  await page.goto(`${suite.server.url}/compare?room=no-such-room`);
  await page.locator('#room-error').waitFor({ state: 'visible' });
  assert.equal(await statusText('#room-error'), 'The room in the address does not exist any more. Pick another one.');

  const locked = await api(other, 'POST', '/api/rooms', { title: 'Locked', password: 'secret' });
  assert.equal(locked.status, 201, JSON.stringify(locked.body));
  await page.goto(`${suite.server.url}/compare?room=${encodeURIComponent(locked.body.id)}`);
  await page.locator('#room-error').waitFor({ state: 'visible' });
  assert.match(await statusText('#room-error'), /^This room is locked, and this page does not ask for passwords\./);
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
