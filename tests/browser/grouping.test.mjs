// Issue 16, item 2: a sender's consecutive messages within five minutes share one header (name,
// colour and time shown once), a separator names each day ("Today", "Yesterday", a date), and
// each time says its full date on hover. Live messages, whispers (never grouped with public
// ones) and system messages (which break runs), history pages loaded above (the old first
// message joins the run that now comes before it), and days taken from rewritten history.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, createRoomWithForm, openLobby, openRoom, sendText, setUp, waitForMessage, whoAmI,
} from './harness.mjs';

let suite;
let alice;
let bob;
let roomId;

before(async () => {
  // The history test posts sixty messages at once: no rate limit in the way.
  suite = await setUp({ RATE_LIMIT_BURST: '0' });
  alice = await (await suite.user()).newPage();
  bob = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/** How `page` shows each message: grouped or not, and whether its header can be seen. */
function layout(page) {
  return page.evaluate(() => [...document.querySelectorAll('#messages .message')].map((node) => {
    const author = node.querySelector('.message-author');
    const box = author?.getBoundingClientRect();
    return {
      id: Number(node.dataset.messageId),
      text: node.dataset.kind === 'system' ? null : node.querySelector('.message-text')?.textContent ?? null,
      continued: node.classList.contains('continued'),
      authorSeen: author ? box.width > 1 && box.height > 1 : null,
      timeSeen: Number(getComputedStyle(node.querySelector('time')).opacity) > 0,
      dayBefore: node.previousElementSibling?.classList.contains('day-separator')
        ? node.previousElementSibling.textContent : null,
    };
  }));
}

function byText(rows, text) {
  const row = rows.find((r) => r.text === text);
  assert.ok(row, `a message "${text}" is shown`);
  return row;
}

test('live messages: one header per run, broken by another sender, a whisper or a system message', { timeout: 30_000 }, async () => {
  await openLobby(alice, suite.server);
  roomId = await createRoomWithForm(alice, { title: 'Runs' });
  await openRoom(bob, suite.server, roomId);
  const aliceMe = await whoAmI(alice);
  const bobMe = await whoAmI(bob);

  await sendText(alice, 'one');
  await sendText(alice, 'two');
  await sendText(bob, 'three');
  await sendText(alice, 'four');
  await alice.click(`#members [data-member-id="${bobMe.id}"] [data-role="whisper"]`);
  await sendText(alice, 'whisper one', { kind: 'whisper' });
  await sendText(alice, 'whisper two', { kind: 'whisper' });
  await alice.press('#composer-text', 'Escape');
  await sendText(alice, 'five');
  // A third member comes in: a system message between Alice's runs.
  const carol = await (await suite.user()).newPage();
  await openRoom(carol, suite.server, roomId);
  await bob.waitForFunction(() => document.querySelectorAll('#messages .message.system').length >= 3);
  const last = await sendText(alice, 'six');
  await waitForMessage(bob, last);

  for (const page of [alice, bob]) {
    const rows = await layout(page);
    const expectContinued = {
      one: false, two: true, three: false, four: false, 'whisper one': false, 'whisper two': true, five: false, six: false,
    };
    for (const [text, continued] of Object.entries(expectContinued)) {
      const row = byText(rows, text);
      assert.equal(row.continued, continued, `"${text}" ${continued ? 'carries on' : 'starts'} a run`);
      assert.equal(row.authorSeen, !continued, `"${text}": the name shows ${continued ? 'only once' : 'on it'}`);
      assert.equal(row.timeSeen, !continued, `"${text}": the time shows ${continued ? 'only on hover' : 'on it'}`);
    }
    assert.ok(rows.filter((r) => r.text === null).every((r) => !r.continued), 'system messages are never part of a run');
    // One day, one separator, at the top.
    assert.equal(rows[0].dayBefore, 'Today');
    assert.equal(await page.locator('#messages .day-separator').count(), 1);
  }

  // The hidden time comes back on hover, and every time says its full date in its tooltip.
  const twoId = byText(await layout(bob), 'two').id;
  const two = bob.locator(`#messages .message[data-message-id="${twoId}"]`);
  await two.locator('.message-bubble').hover();
  await bob.waitForFunction((id) => getComputedStyle(document.querySelector(`#messages .message[data-message-id="${id}"] time`)).opacity === '1', twoId);
  const time = await two.locator('time').evaluate((el) => ({ datetime: el.getAttribute('datetime'), title: el.title }));
  assert.ok(!Number.isNaN(Date.parse(time.datetime)), time.datetime);
  assert.ok(time.title.includes(String(new Date(time.datetime).getFullYear())), `the tooltip has the date: ${time.title}`);
  // Screen readers still hear who wrote a grouped message.
  assert.equal(await two.locator('.message-author').textContent(), aliceMe.name);
  await carol.context().close();
});

test('a page of history loaded above joins the run of the old first message', { timeout: 60_000 }, async () => {
  await openLobby(alice, suite.server);
  const room = await createRoomWithForm(alice, { title: 'Long history' });
  for (let i = 1; i <= 60; i += 1) {
    const { status } = await api(alice, 'POST', `/api/rooms/${room}/messages`, { text: `line ${i}` });
    assert.equal(status, 201);
  }
  await openRoom(bob, suite.server, room);
  await bob.waitForSelector('#load-older:not([hidden])');
  const before = await layout(bob);
  const oldFirst = before[0];
  assert.equal(oldFirst.continued, false, 'the first message shown starts a run');
  assert.equal(oldFirst.dayBefore, 'Today');

  await bob.click('#load-older');
  await bob.waitForFunction((id) => Number(document.querySelector('#messages .message').dataset.messageId) < id, oldFirst.id);
  const rows = await layout(bob);
  const again = rows.find((r) => r.id === oldFirst.id);
  assert.equal(again.continued, true, `"${again.text}" now carries on the run loaded above it`);
  assert.equal(again.dayBefore, null, 'and its separator went to the top');
  assert.equal(await bob.locator('#messages .day-separator').count(), 1, 'one day, one separator');
  assert.equal(rows[0].dayBefore, 'Today');
  // Alice's lines are one run from her first line on (the system message above breaks it).
  const lines = rows.filter((r) => r.text?.startsWith('line '));
  assert.equal(lines.length, 60);
  assert.deepEqual(lines.map((r) => r.continued), lines.map((_, i) => i > 0));
});

test('days: separators for older days, Yesterday and Today, and runs that break after five minutes', { timeout: 30_000 }, async () => {
  await openLobby(alice, suite.server);
  const room = await createRoomWithForm(alice, { title: 'Days' });
  for (let i = 1; i <= 6; i += 1) {
    assert.equal((await api(alice, 'POST', `/api/rooms/${room}/messages`, { text: `day ${i}` })).status, 201);
  }
  // The server stamps messages with the time they were sent: rewrite the history page's times,
  // in the browser's time zone (this machine's), as if the room had been busy for days.
  const now = new Date();
  const at = (daysAgo, hours, minutes) => new Date(now.getFullYear(), now.getMonth(), now.getDate() - daysAgo, hours, minutes).toISOString();
  const stamps = [at(10, 12, 0), at(10, 12, 1), at(10, 12, 2), at(1, 9, 0), at(1, 9, 2), at(1, 9, 20)];
  const page = await (await suite.user()).newPage();
  await page.route(/\/api\/rooms\/[^/]+\/messages\?limit=\d+$/, async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    json.messages.forEach((message, i) => {
      if (i < stamps.length) message.created_at = stamps[i];
    });
    await route.fulfill({ response, json });
  });
  await openRoom(page, suite.server, room);
  const rows = await layout(page);
  const texts = rows.map((r) => r.text);
  assert.deepEqual(texts, [null, 'day 1', 'day 2', 'day 3', 'day 4', 'day 5', 'day 6', null],
    'the creator\'s join, six lines, the visitor\'s join');
  const tenDaysAgo = new Date(stamps[0]);
  const expectedLabel = await page.evaluate((iso) => {
    const date = new Date(iso);
    const sameYear = date.getFullYear() === new Date().getFullYear();
    return date.toLocaleDateString(undefined, sameYear
      ? { weekday: 'long', day: 'numeric', month: 'long' }
      : { day: 'numeric', month: 'long', year: 'numeric' });
  }, stamps[0]);
  assert.ok(expectedLabel.includes(String(tenDaysAgo.getDate())), expectedLabel);
  assert.deepEqual(rows.map((r) => r.dayBefore), [expectedLabel, null, null, 'Yesterday', null, null, 'Today', null]);
  // The join breaks the run: 12:01 starts one, 12:02 goes on it; 9:00 starts the new day's,
  // 9:02 goes on it, 9:20 is too late for it; today starts again.
  assert.deepEqual(rows.map((r) => r.continued), [false, false, true, false, true, false, false, false]);
  const separatorTime = await page.locator('#messages .day-separator time').first()
    .evaluate((el) => ({ datetime: el.getAttribute('datetime'), title: el.title }));
  assert.match(separatorTime.datetime, /^\d{4}-\d{2}-\d{2}$/);
  assert.ok(separatorTime.title.includes(String(tenDaysAgo.getFullYear())), separatorTime.title);
  await page.context().close();
});

test('at midnight, Today becomes Yesterday without a new message', { timeout: 30_000 }, async () => {
  // The browser's clock runs fast from a minute before the next midnight; nothing is posted.
  await openLobby(alice, suite.server);
  const room = await createRoomWithForm(alice, { title: 'Midnight' });
  await sendText(alice, 'late in the day');
  const context = await suite.user();
  const page = await context.newPage();
  const now = new Date();
  const beforeMidnight = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 0) - 60_000;
  await page.clock.install({ time: now });
  await openRoom(page, suite.server, room);
  assert.equal(await page.locator('#messages .day-separator').first().textContent(), 'Today');
  await page.clock.setSystemTime(beforeMidnight);
  await page.clock.runFor(3 * 60_000);
  await page.waitForFunction(() => document.querySelector('#messages .day-separator')?.textContent === 'Yesterday');
  await context.close();
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
