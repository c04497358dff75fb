// The server is away (a crash, a deploy) while people are in a room, on each transport: the
// page says "Reconnecting in N s…" with a "Retry now" button for as long as the server does
// not answer, never "Offline" (the reader's network is fine) nor "This room does not exist";
// "Retry now" reconnects at once when the server is back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, openLobby, createRoomWithForm, openRoom, setUp, takeOutageErrors, waitFor, waitForConnection,
} from './harness.mjs';

let suite;
let owner;
const pages = {};
let roomId;

before(async () => {
  suite = await setUp();
  owner = await (await suite.user()).newPage();
  for (const transport of ['sse', 'ws', 'poll']) pages[transport] = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** What the room page shows about its connection. */
function connectionUi(page) {
  return page.evaluate(() => ({
    state: document.getElementById('connection').dataset.state,
    label: document.querySelector('#connection .connection-label').textContent,
    retryShown: !document.getElementById('connection-retry').hidden,
    notice: document.getElementById('room-notice')?.hidden === false
      ? document.getElementById('room-notice').textContent.trim().replace(/\s+/g, ' ')
      : null,
  }));
}

test('on every transport, a server that is away reads as "reconnecting", with a countdown and "Retry now"', { timeout: 60_000 }, async () => {
  await openLobby(owner, suite.server);
  roomId = await createRoomWithForm(owner, { title: 'Outage' });
  for (const [transport, page] of Object.entries(pages)) {
    await openRoom(page, suite.server, roomId);
    if (transport !== 'sse') {
      await page.click(`#transport-switch [data-transport="${transport}"]`);
      await waitFor(async () => (await page.getAttribute('#connection', 'data-transport')) === transport);
      await waitForConnection(page);
    }
  }

  const mark = suite.errors.length;
  await suite.server.stop('SIGKILL');
  // Longer than it took polling to say "Offline" (3 s) before.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  for (const [transport, page] of Object.entries(pages)) {
    const ui = await connectionUi(page);
    assert.equal(ui.state, 'reconnecting', `${transport}: ${JSON.stringify(ui)}`);
    assert.match(ui.label, /^Reconnecting/, transport);
    assert.ok(ui.retryShown, `${transport}: a "Retry now" button`);
    assert.equal(ui.notice, null, `${transport}: no notice while the server is away`);
  }
  // Someone waiting on a back-off sees it count down.
  const counting = await waitFor(async () => {
    const labels = await Promise.all(Object.values(pages).map(async (page) => (await connectionUi(page)).label));
    return labels.find((label) => /^Reconnecting in \d+ s…$/.test(label));
  }, { timeout: 20_000, message: 'a countdown to the next attempt' });
  assert.ok(counting);

  await suite.server.start();
  let clicks = 0;
  for (const [transport, page] of Object.entries(pages)) {
    // In the page, in one go: the button may go by itself as an attempt starts.
    const clicked = await page.evaluate(() => {
      const retry = document.getElementById('connection-retry');
      if (retry.hidden) return false;
      retry.click();
      return true;
    });
    clicks += clicked ? 1 : 0;
    // A back-off is up to 15 s; "Retry now" does not wait for it.
    await waitForConnection(page, 'connected', clicked ? 5_000 : 20_000);
    const ui = await connectionUi(page);
    assert.equal(ui.retryShown, false, `${transport}: the button goes once connected`);
    assert.equal(ui.notice, null, transport);
  }
  assert.ok(clicks >= 1, 'at least one page was waiting on a back-off to cut short');
  const { status, body } = await api(owner, 'GET', `/api/rooms/${roomId}`);
  assert.equal(status, 200);
  assert.equal(body.members, 4, 'everyone is still in the room');
  takeOutageErrors(suite.errors, mark);
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
