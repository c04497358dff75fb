// The room page's transport switch (SSE · WebSocket · Polling). B's page switches
// SSE → WebSocket → Polling → SSE while A keeps posting, before, during and after each switch:
// every message shows exactly once, in id order. Each transport is checked on the wire (what
// Chrome opened) and in the page (which EventSource / WebSocket objects are still open). B
// also chats, whispers and gets an error frame over the WebSocket; the choice survives a
// reload; a polling page learns that it was removed, or that the room is gone, from the
// poll's 403 / 404 answer.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, checkOrder, createRoomWithForm, messageIds, openLobby, openRoom,
  screenshot, sendText, setUp, takeOutageErrors, waitFor, waitForConnection, waitForMessage,
  waitUntilInRoom, whoAmI,
} from './harness.mjs';

let suite;
let pageA;
let pageB;
let meA;
let meB;
let roomId;
/** Everything A posted through the API, in posting order: { id, text }. */
const posted = [];

/** B's traffic as Chrome saw it: HTTP requests (with whether they ended) and WebSockets. */
const wire = { requests: [], sockets: [] };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Counts, inside the page, the EventSource and WebSocket objects the page's own code creates
 * (the constructors are wrapped before any page script runs, and behave as before).
 */
function trackTransportObjects() {
  const log = { sources: [], sockets: [], closeCodes: [] };
  Object.defineProperty(window, '__transports', { value: log });
  const NativeEventSource = window.EventSource;
  window.EventSource = class extends NativeEventSource {
    constructor(...args) {
      super(...args);
      log.sources.push(this);
    }
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      log.sockets.push(this);
      this.addEventListener('close', (event) => log.closeCodes.push(event.code));
    }
  };
}

before(async () => {
  // The production grace period (the harness' default is 1.5 s): a graceful shutdown (the
  // restart test) hands every seat this much time, and a room whose seats all lapse before
  // its members are back is deleted as empty.
  suite = await setUp({ PRESENCE_GRACE: '10s' });
  const contextA = await suite.user();
  const contextB = await suite.user();
  await contextB.addInitScript(trackTransportObjects);
  pageA = await contextA.newPage();
  pageB = await contextB.newPage();

  const entryOf = (request) => wire.requests.find((entry) => entry.request === request);
  pageB.on('request', (request) => {
    wire.requests.push({ request, url: request.url(), type: request.resourceType(), method: request.method(), at: Date.now(), ended: false });
  });
  for (const event of ['requestfinished', 'requestfailed']) {
    pageB.on(event, (request) => {
      const entry = entryOf(request);
      if (entry) entry.ended = true;
    });
  }
  pageB.on('websocket', (socket) => {
    const entry = { url: socket.url(), at: Date.now(), sent: [], received: [], closed: false };
    socket.on('framesent', (frame) => entry.sent.push(String(frame.payload)));
    socket.on('framereceived', (frame) => entry.received.push(String(frame.payload)));
    socket.on('close', () => { entry.closed = true; });
    wire.sockets.push(entry);
  });
});

after(async () => {
  await suite?.teardown();
});

// --- helpers -----------------------------------------------------------------------------

/** POSTs a chat as A through the API; returns { id, text }. */
async function postAsA(text) {
  const response = await api(pageA, 'POST', `/api/rooms/${roomId}/messages`, { text });
  assert.equal(response.status, 201, `POST answered ${response.status}: ${JSON.stringify(response.body)}`);
  const message = { id: response.body.id, text };
  posted.push(message);
  return message;
}

/** Posts `count` chats as A one after the other, `gap` ms apart, while something else happens. */
async function postBurst(prefix, count, gap) {
  const messages = [];
  for (let i = 1; i <= count; i += 1) {
    messages.push(await postAsA(`${prefix} ${i}`));
    await sleep(gap);
  }
  return messages;
}

/** Asserts that `page` shows each of `messages` exactly once, with its text, in id order. */
async function assertShownOnce(page, messages) {
  for (const { id, text } of messages) {
    const shown = await waitForMessage(page, id);
    assert.equal(shown.text, text, `message ${id}`);
  }
  const ids = await messageIds(page);
  checkOrder(ids); // strictly increasing: in id order and no id twice
  for (const { id } of messages) {
    assert.equal(ids.filter((x) => x === id).length, 1, `message ${id} shown once`);
  }
  return ids;
}

/** The transport objects the page still has open (EventSource not CLOSED, WebSocket not CLOSED). */
function openInPage(page) {
  return page.evaluate(() => ({
    sources: window.__transports.sources.filter((s) => s.readyState !== EventSource.CLOSED).map((s) => s.url),
    sockets: window.__transports.sockets.filter((s) => s.readyState !== WebSocket.CLOSED).map((s) => s.url),
  }));
}

/** Waits until exactly the expected kinds of transport are open in the page. */
function waitForOpenInPage(page, { sources, sockets }, what) {
  return waitFor(async () => {
    const open = await openInPage(page);
    return open.sources.length === sources && open.sockets.length === sockets ? open : false;
  }, { message: `${what}: ${sources} open EventSource(s) and ${sockets} open WebSocket(s) in the page` });
}

const isStream = (entry) => /\/api\/rooms\/[^/]+\/events\?/.test(entry.url);
const isPoll = (entry) => /\/api\/rooms\/[^/]+\/messages\?after=\d+&wait=\d+$/.test(entry.url);

/** Adds `latency` ms to every request `page` makes from now on (0: none), through CDP. */
const cdpSessions = new Map();
async function throttle(page, latency) {
  if (!cdpSessions.has(page)) {
    const session = await page.context().newCDPSession(page);
    await session.send('Network.enable');
    cdpSessions.set(page, session);
  }
  await cdpSessions.get(page).send('Network.emulateNetworkConditions', {
    offline: false, latency, downloadThroughput: -1, uploadThroughput: -1,
  });
}

/** What the transport switch and the connection indicator show. */
function transportUi(page) {
  return page.evaluate(() => ({
    pressed: [...document.querySelectorAll('#transport-switch [data-transport]')]
      .filter((b) => b.getAttribute('aria-pressed') === 'true').map((b) => b.dataset.transport),
    buttons: [...document.querySelectorAll('#transport-switch [data-transport]')].map((b) => `${b.dataset.transport}:${b.textContent.trim()}`),
    indicator: document.getElementById('connection').dataset.transport,
    label: document.querySelector('#connection .connection-transport')?.textContent ?? null,
    state: document.getElementById('connection').dataset.state,
    stored: localStorage.getItem('gifchat.transport'),
  }));
}

const LABELS = { sse: 'SSE', ws: 'WebSocket', poll: 'Polling' };

async function assertTransportUi(page, name) {
  const ui = await transportUi(page);
  assert.deepEqual(ui.pressed, [name], 'exactly the chosen button is pressed');
  assert.deepEqual(ui.buttons, ['sse:SSE', 'ws:WebSocket', 'poll:Polling']);
  assert.equal(ui.indicator, name, '#connection[data-transport]');
  assert.equal(ui.label, LABELS[name], 'the indicator names the transport');
}

/**
 * Clicks B's switch while A posts: a burst that runs across the switch, one post right after
 * the click (before the new transport is up, as far as timing allows), one after it is up.
 * Returns everything A posted, and B's connection state when the post right after the
 * click was answered.
 */
async function switchWhileAPosts(t, name) {
  const mark = Date.now();
  const burst = postBurst(`across the switch to ${LABELS[name]},`, 8, 35);
  await sleep(80);
  const cursorBefore = Math.max(0, ...(await messageIds(pageB)));
  // On localhost a new connection is up within milliseconds, before A's post could land in
  // between. Chrome's network emulation gives B's requests (and WebSocket handshake) some
  // latency, so the post right after the click is stored while the new transport connects.
  await throttle(pageB, 1500);
  await pageB.click(`#transport-switch [data-transport="${name}"]`);
  const during = await postAsA(`right after clicking ${LABELS[name]}`);
  const stateThen = await pageB.$eval('#connection', (el) => el.dataset.state);
  t.diagnostic(`B's connection was "${stateThen}" when A's post right after the click (#${during.id}) was stored`);
  assert.equal(stateThen, 'reconnecting', 'the post right after the click went out before the new transport was up');
  await waitForConnection(pageB);
  await throttle(pageB, 0);
  const fromBurst = await burst;
  const afterwards = await postAsA(`after switching to ${LABELS[name]}`);
  const messages = [...fromBurst, during, afterwards].sort((a, b) => a.id - b.id);
  await assertShownOnce(pageB, messages);
  await assertTransportUi(pageB, name);
  assert.equal((await transportUi(pageB)).stored, name, 'the choice is stored in localStorage');
  return { mark, cursorBefore, messages };
}

// --- tests ---------------------------------------------------------------------------------

test('A and B are in a room; B starts on SSE, the default', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  roomId = await createRoomWithForm(pageA, { title: 'Transports' });
  await openRoom(pageB, suite.server, roomId);
  meA = await whoAmI(pageA);
  meB = await whoAmI(pageB);

  await assertTransportUi(pageB, 'sse');
  assert.equal((await transportUi(pageB)).stored, null, 'nothing stored before a choice');
  assert.equal(await pageB.getAttribute('#transport-switch', 'role'), 'group');
  await waitForOpenInPage(pageB, { sources: 1, sockets: 0 }, 'on SSE');
  assert.equal(wire.requests.filter(isStream).length, 1, 'one EventSource request');
  assert.equal(wire.sockets.length, 0, 'no WebSocket');

  const hello = await postAsA('hello over SSE');
  await assertShownOnce(pageB, [hello]);
  const reply = await sendText(pageB, 'hi A, B on SSE');
  await waitForMessage(pageA, reply);
  assert.ok(wire.requests.some((e) => e.method === 'POST' && /\/messages$/.test(e.url)), 'SSE sends over REST');
});

test('SSE → WebSocket while A posts: nothing missed or doubled, and only a WebSocket is open', { timeout: 45_000 }, async (t) => {
  const { mark, cursorBefore } = await switchWhileAPosts(t, 'ws');

  // On the wire: one WebSocket to the room's /ws, resuming after B's cursor; the
  // EventSource request has ended and none was made since.
  const sockets = wire.sockets.filter((s) => s.at >= mark);
  assert.equal(sockets.length, 1, `one WebSocket since the switch: ${sockets.map((s) => s.url)}`);
  const url = new URL(sockets[0].url);
  assert.equal(url.protocol, 'ws:');
  assert.equal(url.pathname, `/api/rooms/${roomId}/ws`);
  assert.ok(Number(url.searchParams.get('after')) >= cursorBefore, `after=${url.searchParams.get('after')} ≥ ${cursorBefore}`);
  assert.ok(sockets[0].received.some((frame) => JSON.parse(frame).event === 'members'), 'the socket carries events');
  await waitFor(() => wire.requests.filter(isStream).every((e) => e.ended), { message: 'the EventSource request to end' });
  assert.equal(wire.requests.filter((e) => isStream(e) && e.at >= mark).length, 0, 'no new EventSource request');
  assert.equal(wire.requests.filter((e) => isPoll(e)).length, 0, 'no polling');
  // In the page: the EventSource is closed, one WebSocket is open.
  const open = await waitForOpenInPage(pageB, { sources: 0, sockets: 1 }, 'on WebSocket');
  assert.match(open.sockets[0], new RegExp(`/api/rooms/${roomId}/ws\\?after=\\d+$`));
  await screenshot(pageB, 'room-transport-ws');
});

test('on WebSocket, B chats and whispers over the socket, and an error frame keeps the text', { timeout: 30_000 }, async () => {
  const socket = wire.sockets.at(-1);
  const restPostsBefore = wire.requests.filter((e) => e.method === 'POST').length;

  const id = await sendText(pageB, 'sent over the WebSocket');
  const chatFrame = socket.sent.map((f) => JSON.parse(f)).find((f) => f.text === 'sent over the WebSocket');
  assert.equal(chatFrame?.type, 'chat', `a chat frame was sent: ${socket.sent.join(' | ')}`);
  assert.equal(typeof chatFrame.ref, 'number');
  const ack = socket.received.map((f) => JSON.parse(f)).find((f) => f.event === 'ack' && f.data.ref === chatFrame.ref);
  assert.equal(ack?.data.id, id, 'the ack names the message shown');
  const seenByA = await waitForMessage(pageA, id);
  assert.deepEqual(seenByA, { side: 'theirs', kind: 'chat', text: 'sent over the WebSocket', author: meB.name });
  assert.equal(await pageB.inputValue('#composer-text'), '', 'the text is cleared once acknowledged');

  // A whisper to A: also over the socket, with `to`.
  await pageB.click(`#members [data-member-id="${meA.id}"] [data-role="whisper"]`);
  await pageB.fill('#composer-text', 'a whisper over the WebSocket');
  await pageB.press('#composer-text', 'Enter');
  const whisperId = await waitFor(() => pageB.$eval('#messages', (list) => {
    const node = [...list.querySelectorAll('.message.whisper.mine')]
      .find((el) => el.querySelector('.message-text')?.textContent === 'a whisper over the WebSocket');
    return node ? Number(node.dataset.messageId) : null;
  }), { message: 'B to show its whisper' });
  assert.equal((await waitForMessage(pageA, whisperId)).kind, 'whisper');
  const whisperFrame = socket.sent.map((f) => JSON.parse(f)).find((f) => f.text === 'a whisper over the WebSocket');
  assert.equal(whisperFrame?.to, meA.id, 'the whisper frame names its recipient');
  await pageB.press('#composer-text', 'Escape');
  await pageB.waitForSelector('#whisper-target', { state: 'hidden' });

  // Too long: the server answers with an error frame, shown like a REST error; the text stays.
  const tooLong = 'x'.repeat(1001);
  await pageB.fill('#composer-text', tooLong);
  await pageB.press('#composer-text', 'Enter');
  const error = pageB.locator('#composer-error');
  await error.waitFor({ state: 'visible' });
  assert.equal(await error.textContent(), 'Text must be 1 to 1000 characters.');
  assert.equal(await pageB.inputValue('#composer-text'), tooLong, 'the text is kept for another try');
  const errorFrame = socket.received.map((f) => JSON.parse(f)).find((f) => f.event === 'error');
  assert.equal(errorFrame?.data.error, 'invalid_text');
  assert.ok(socket.sent.some((f) => JSON.parse(f).text === tooLong), 'it went over the socket');

  // Fixing it and sending again clears the error.
  await pageB.fill('#composer-text', 'shorter this time');
  await pageB.press('#composer-text', 'Enter');
  await error.waitFor({ state: 'hidden' });
  assert.equal(wire.requests.filter((e) => e.method === 'POST').length, restPostsBefore, 'no REST post while on WebSocket');
  assert.equal(socket.closed, false, 'the socket stays open after an error frame');
});

test('WebSocket → Polling while A posts: nothing missed or doubled, and it polls', { timeout: 45_000 }, async (t) => {
  const { mark, cursorBefore } = await switchWhileAPosts(t, 'poll');

  // Repeated long polls, each resuming after the last message it got.
  const polls = await waitFor(() => {
    const since = wire.requests.filter((e) => isPoll(e) && e.at >= mark);
    return since.length >= 3 ? since : false;
  }, { message: 'repeated messages?after= requests' });
  const afters = polls.map((e) => Number(new URL(e.url).searchParams.get('after')));
  assert.ok(afters[0] >= cursorBefore, `the first poll resumes after B's cursor: ${afters}`);
  for (let i = 1; i < afters.length; i += 1) assert.ok(afters[i] >= afters[i - 1], `after= never goes back: ${afters}`);
  assert.ok(afters.at(-1) > afters[0], `after= moves on as messages arrive: ${afters}`);
  assert.ok(polls.every((e) => e.method === 'GET' && e.type === 'fetch'));
  assert.ok(polls.slice(1).some((e) => new URL(e.url).searchParams.get('wait') === '25'), 'long waits');
  t.diagnostic(`${polls.length} polls since the switch; after= ${afters.join(', ')}`);

  // No stream of any kind: the WebSocket is closed, and no EventSource or WebSocket was opened.
  await waitFor(() => wire.sockets.every((s) => s.closed), { message: 'the WebSocket to close' });
  assert.equal(wire.sockets.filter((s) => s.at >= mark).length, 0, 'no new WebSocket');
  assert.equal(wire.requests.filter((e) => isStream(e) && e.at >= mark).length, 0, 'no EventSource');
  await waitForOpenInPage(pageB, { sources: 0, sockets: 0 }, 'on Polling');
  await screenshot(pageB, 'room-transport-poll');

  // Sending while polling goes over REST.
  const id = await sendText(pageB, 'sent while polling');
  await waitForMessage(pageA, id);
  assert.ok(wire.requests.some((e) => e.method === 'POST' && e.at >= mark && /\/messages$/.test(e.url)));
});

test('the choice survives a reload', { timeout: 30_000 }, async () => {
  const mark = Date.now();
  await pageB.reload();
  await waitUntilInRoom(pageB);
  await assertTransportUi(pageB, 'poll');
  assert.equal((await transportUi(pageB)).stored, 'poll');
  const message = await postAsA('after B reloaded on Polling');
  await assertShownOnce(pageB, [message]);
  assert.ok(wire.requests.some((e) => isPoll(e) && e.at >= mark), 'the reloaded page polls');
  assert.equal(wire.requests.filter((e) => isStream(e) && e.at >= mark).length, 0, 'and opens no EventSource');
  assert.equal(wire.sockets.filter((s) => s.at >= mark).length, 0, 'nor a WebSocket');
  await waitForOpenInPage(pageB, { sources: 0, sockets: 0 }, 'reloaded on Polling');
});

test('Polling → SSE while A posts: nothing missed or doubled, and polling stops', { timeout: 45_000 }, async (t) => {
  const { mark } = await switchWhileAPosts(t, 'sse');
  assert.equal(wire.requests.filter((e) => isStream(e) && e.at >= mark).length, 1, 'one EventSource request');
  await waitForOpenInPage(pageB, { sources: 1, sockets: 0 }, 'back on SSE');
  // The poll that was waiting is abandoned, and no other starts.
  await waitFor(() => wire.requests.filter(isPoll).every((e) => e.ended), { message: 'the last poll to end' });
  const polls = wire.requests.filter(isPoll).length;
  await sleep(1500);
  assert.equal(wire.requests.filter(isPoll).length, polls, 'no polls on SSE');
});

test('the whole conversation: every message exactly once, in order, the same on both pages', { timeout: 30_000 }, async () => {
  const last = await sendText(pageB, 'all caught up');
  await waitForMessage(pageA, last);
  const idsB = await assertShownOnce(pageB, posted);
  const idsA = await assertShownOnce(pageA, posted);
  assert.deepEqual(idsB, idsA, 'both pages show the same messages');
  assert.ok(posted.length >= 30, `A posted ${posted.length} messages`);
});

test('WebSocket after a reload, and back to SSE', { timeout: 30_000 }, async () => {
  await pageB.click('#transport-switch [data-transport="ws"]');
  await waitForConnection(pageB);
  const mark = Date.now();
  await pageB.reload();
  await waitUntilInRoom(pageB);
  await assertTransportUi(pageB, 'ws');
  await waitForOpenInPage(pageB, { sources: 0, sockets: 1 }, 'reloaded on WebSocket');
  assert.equal(wire.sockets.filter((s) => s.at >= mark).length, 1);
  assert.equal(wire.requests.filter((e) => isStream(e) && e.at >= mark).length, 0);
  const message = await postAsA('after B reloaded on WebSocket');
  await assertShownOnce(pageB, [message]);

  await pageB.click('#transport-switch [data-transport="sse"]');
  await waitForConnection(pageB);
  await assertTransportUi(pageB, 'sse');
  await waitForOpenInPage(pageB, { sources: 1, sockets: 0 }, 'back on SSE');
});

test('a server restart: the WebSocket (closed with 1001) and the polling loop come back and catch up', { timeout: 60_000 }, async (t) => {
  for (const name of ['ws', 'poll']) {
    await pageB.click(`#transport-switch [data-transport="${name}"]`);
    await waitForConnection(pageB);
    const mark = suite.errors.length;
    await suite.server.stop('SIGTERM'); // a deploy: the server says goodbye (1001) to sockets
    try {
      await pageB.waitForSelector('#connection:not([data-state="connected"])', { state: 'attached' });
      assert.equal(await pageB.getAttribute('#connection', 'data-transport'), name, 'still on the same transport');
      if (name === 'ws') {
        // 1001 "going away" is what the server sends at shutdown. The session task that sends
        // it is not among those the server waits for, so the process sometimes exits first
        // and Chrome reports 1006 (abnormal closure); the page reconnects either way.
        const code = (await pageB.evaluate(() => window.__transports.closeCodes)).at(-1);
        assert.ok([1001, 1006].includes(code), `the socket was closed by the server's shutdown: ${code}`);
        t.diagnostic(`WebSocket close code at the server's shutdown: ${code}`);
      }
    } finally {
      if (suite.server.process.exitCode !== null || suite.server.process.signalCode !== null) await suite.server.start();
    }
    const message = await postAsA(`after the restart, B on ${LABELS[name]}`);
    await waitForConnection(pageB);
    await assertShownOnce(pageB, [message]);
    await assertTransportUi(pageB, name);

    // Chrome logs the connections refused while the server was down; nothing else may show.
    const outage = takeOutageErrors(suite.errors, mark);
    const refusedSockets = suite.errors.splice(mark).filter((line) => {
      if (/: console: WebSocket connection to 'ws:\/\/[^']+\/ws\?after=\d+' failed: .*ERR_CONNECTION_REFUSED/.test(line)) return true;
      suite.errors.push(line);
      return false;
    });
    t.diagnostic(`${LABELS[name]}: ${outage.length} refused request(s), ${refusedSockets.length} refused WebSocket(s) during the restart`);
  }
  // Every message A posted so far, on both pages, once each.
  await assertShownOnce(pageB, posted);
  await waitForConnection(pageA);
  await assertShownOnce(pageA, posted);
});

test('while polling, a removed member is told (403 kicked) and a deleted room says so (404)', { timeout: 45_000 }, async () => {
  // C joins and polls; A (the owner) removes B, who polls too.
  const pageC = await (await suite.user()).newPage();
  await openRoom(pageC, suite.server, roomId);
  for (const page of [pageB, pageC]) {
    await page.click('#transport-switch [data-transport="poll"]');
    await waitForConnection(page);
    await assertTransportUi(page, 'poll');
  }
  const kicked = await api(pageA, 'POST', `/api/rooms/${roomId}/kicks`, { user: meB.id });
  assert.equal(kicked.status, 204, JSON.stringify(kicked.body));
  await pageB.waitForSelector('#chat[data-state="kicked"]', { state: 'attached' });
  await pageB.waitForSelector('#room-notice:not([hidden])');
  assert.match(await pageB.textContent('#notice-title'), /removed/i);
  assert.equal(await pageB.getAttribute('#connection', 'data-state'), 'offline');

  const deleted = await api(pageA, 'DELETE', `/api/rooms/${roomId}`);
  assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
  await pageC.waitForSelector('#chat[data-state="deleted"]', { state: 'attached' });
  assert.match(await pageC.textContent('#notice-title'), /deleted/i);
  assert.equal(await pageC.getAttribute('#connection', 'data-state'), 'offline');

  // C's poll after the deletion answered 404, which Chrome logs: expected here, and only here.
  const notFound = (line) => line.includes('status of 404') && new RegExp(`/api/rooms/${roomId}[/\\]]`).test(line);
  const expected = suite.errors.filter(notFound);
  assert.ok(expected.some((line) => line.includes(`/api/rooms/${roomId}/messages?after=`)), `a 404 poll: ${suite.errors.join(' | ')}`);
  suite.errors.splice(0, suite.errors.length, ...suite.errors.filter((line) => !notFound(line)));
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
