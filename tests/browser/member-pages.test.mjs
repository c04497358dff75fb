// A room with more members than fit one `members` event: the server sends the list in pages
// (`more: true` on all but the last) and the page must show every member once, in order,
// over SSE and after switching to the WebSocket.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertNoErrors, openRoom, setUp, waitFor, whoAmI } from './harness.mjs';

/** Several of the server's pages of 12. */
const OTHERS = 60;

let suite;
let page;

before(async () => {
  // Members who join without a stream keep their seat for the grace period only: make it
  // long enough for the whole test. Its 61 members all come from this one address, more
  // sessions than one address is given at once.
  suite = await setUp({ PRESENCE_GRACE: '120s', NEW_SESSION_BURST: '0' });
  page = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** A session of its own, outside the browser, that joins the room (a seat, no stream). */
async function joinAsStranger(roomId) {
  const me = await fetch(`${suite.server.url}/api/me`);
  const cookie = me.headers.get('set-cookie').split(';')[0];
  const joined = await fetch(`${suite.server.url}/api/rooms/${roomId}/join`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(joined.status, 200, await joined.text());
  return (await me.json()).id;
}

function memberIds() {
  return page.$$eval('#members [data-member-id]', (rows) => rows.map((row) => row.dataset.memberId));
}

test('a member list longer than one page shows every member once, in order', { timeout: 60_000 }, async () => {
  await page.goto(suite.server.url);
  const created = await api(page, 'POST', '/api/rooms', { title: 'a crowd', max: 100 });
  assert.equal(created.status, 201);
  const me = await whoAmI(page);
  const others = [];
  for (let n = 0; n < OTHERS; n += 1) others.push(await joinAsStranger(created.body.id));

  await openRoom(page, suite.server, created.body.id);
  const expected = [me.id, ...others];
  const shown = await waitFor(async () => {
    const ids = await memberIds();
    return ids.length === expected.length ? ids : false;
  }, { timeout: 15_000, message: `${expected.length} member rows` });
  assert.deepEqual(shown, expected, 'owner first, then in order of joining, each once');
  assert.equal((await page.textContent('#members-count')).trim(), String(expected.length));

  // The WebSocket sends the same pages; once its last page is in, the list must be the same,
  // not doubled and not cut to the last page.
  let lastPage = false;
  page.on('websocket', (socket) => socket.on('framereceived', ({ payload }) => {
    const frame = JSON.parse(String(payload));
    if (frame.event === 'members' && frame.data.more === undefined) lastPage = true;
  }));
  await page.click('#transport-switch [data-transport="ws"]');
  await waitFor(() => lastPage, { timeout: 15_000, message: "the WebSocket's last members page" });
  await page.waitForTimeout(200); // the page handles the frame right after it arrives
  assert.deepEqual(await memberIds(), expected, 'the same list over the WebSocket');
  assertNoErrors(suite.errors);
});
