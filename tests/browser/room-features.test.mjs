// Room features in the browser: the live member list (owner badge, "(you)", colours),
// whispers that reach only their two ends, the owner removing a member and handing the
// room on (each behind a confirm dialog), the removed member's page, and the narrow layout.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertNoErrors, colourMismatch, createRoomWithForm, openLobby, openRoom, screenshot,
  sendText, setUp, waitFor, waitForText, whoAmI,
} from './harness.mjs';

let suite;
let pageA;
let pageB;
let pageC;
let meA;
let meB;
let meC;
let roomId;
/** Stream requests each page made, to show that a removed member's page stops reconnecting. */
const streamRequests = new Map();

before(async () => {
  suite = await setUp();
  [pageA, pageB, pageC] = await Promise.all([1, 2, 3].map(async () => (await suite.user()).newPage()));
  for (const page of [pageA, pageB, pageC]) {
    streamRequests.set(page, 0);
    page.on('request', (request) => {
      if (/\/api\/rooms\/[^/]+\/events/.test(request.url())) streamRequests.set(page, streamRequests.get(page) + 1);
    });
  }
});

after(async () => {
  await suite?.teardown();
});

/** The member rows as the page shows them, in order. */
function memberRows(page) {
  return page.$$eval('#members [data-member-id]', (rows) => rows.map((row) => ({
    id: row.dataset.memberId,
    name: row.querySelector('.member-name')?.textContent ?? null,
    color: row.querySelector('.member-name') ? getComputedStyle(row.querySelector('.member-name')).color : null,
    owner: Boolean(row.querySelector('.owner-badge')),
    you: row.querySelector('.member-you')?.textContent ?? null,
    whisper: Boolean(row.querySelector('button[data-role="whisper"]')),
    kick: Boolean(row.querySelector('.kick-button')),
    makeOwner: Boolean(row.querySelector('.make-owner-button')),
  })));
}

/** Waits until the page lists exactly these users, in this order, and `check(rows)` holds. */
function waitForMembers(page, users, check = () => true, what = '') {
  const ids = users.map((user) => user.id);
  return waitFor(async () => {
    const rows = await memberRows(page);
    return JSON.stringify(rows.map((row) => row.id)) === JSON.stringify(ids) && check(rows) ? rows : false;
  }, { timeout: 15_000, message: `member list [${users.map((u) => u.name).join(', ')}]${what}` });
}

/** Waits for a whisper with this text; returns what it shows. */
async function waitForWhisper(page, text) {
  const handle = await page.waitForFunction((text) => {
    const node = [...document.querySelectorAll('#messages .message.whisper')]
      .find((el) => el.querySelector('.message-text')?.textContent === text);
    if (!node) return null;
    return {
      id: Number(node.dataset.messageId),
      kind: node.dataset.kind,
      side: node.classList.contains('mine') ? 'mine' : node.classList.contains('theirs') ? 'theirs' : null,
      author: node.querySelector('.message-author')?.textContent ?? null,
      label: node.querySelector('.whisper-label')?.textContent ?? null,
      style: getComputedStyle(node.querySelector('.message-bubble')).fontStyle,
    };
  }, text);
  return handle.jsonValue();
}

const row = (user) => `#members [data-member-id="${user.id}"]`;

async function confirmIn(page, expectedText) {
  await page.waitForSelector('#confirm-dialog[open]');
  const text = await page.textContent('#confirm-dialog');
  assert.ok(text.includes(expectedText), `confirm dialog ${JSON.stringify(text)} mentions ${JSON.stringify(expectedText)}`);
  await page.click('#confirm-ok');
  await page.waitForSelector('#confirm-dialog:not([open])', { state: 'attached' });
}

test('all three see the same member list, owner first, in their colours', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  roomId = await createRoomWithForm(pageA, { title: 'Room features' });
  await openRoom(pageB, suite.server, roomId);
  await openRoom(pageC, suite.server, roomId);
  [meA, meB, meC] = await Promise.all([pageA, pageB, pageC].map(whoAmI));

  for (const [page, me] of [[pageA, meA], [pageB, meB], [pageC, meC]]) {
    const rows = await waitForMembers(page, [meA, meB, meC]);
    assert.deepEqual(rows.map((r) => r.name), [meA.name, meB.name, meC.name]);
    assert.deepEqual(rows.map((r) => r.owner), [true, false, false], 'only A wears the owner badge');
    assert.deepEqual(rows.map((r) => r.you), [meA, meB, meC].map((u) => (u.id === me.id ? '(you)' : null)));
    assert.deepEqual(rows.map((r) => r.whisper), [meA, meB, meC].map((u) => u.id !== me.id), 'others can be whispered to');
    for (const [i, user] of [meA, meB, meC].entries()) {
      assert.equal(colourMismatch(rows[i].color, user.color), null, `${user.name} in their colour`);
    }
    const ownerView = me.id === meA.id;
    assert.deepEqual(rows.map((r) => r.kick), [false, ownerView, ownerView], 'only the owner has Kick buttons, never on themself');
    assert.deepEqual(rows.map((r) => r.makeOwner), [false, ownerView, ownerView]);
    await page.waitForSelector('#room-members:has-text("3/10 members")');
    assert.equal((await page.textContent('#members-count')).trim(), '3');
  }
});

test('a whisper reaches only its two ends', { timeout: 20_000 }, async () => {
  await pageA.click(`${row(meB)} [data-role="whisper"]`);
  await pageA.waitForSelector('#whisper-target:not([hidden])');
  assert.equal(await pageA.textContent('#whisper-target-name'), meB.name);
  assert.equal(await pageA.getAttribute(`${row(meB)} [data-role="whisper"]`, 'aria-pressed'), 'true');
  assert.equal(await pageA.evaluate(() => document.activeElement.id), 'composer-text', 'focus goes to the composer');

  await pageA.fill('#composer-text', 'for B only');
  await pageA.press('#composer-text', 'Enter');
  const sent = await waitForWhisper(pageA, 'for B only');
  assert.equal(sent.side, 'mine');
  assert.equal(sent.kind, 'whisper');
  assert.ok(sent.label.includes(meB.name), `A's label ${JSON.stringify(sent.label)} names B`);
  assert.equal(sent.style, 'italic');

  const received = await waitForWhisper(pageB, 'for B only');
  assert.equal(received.id, sent.id);
  assert.equal(received.side, 'theirs');
  assert.equal(received.author, meA.name);
  assert.equal(received.label, 'whispered to you');

  // Whisper mode stays until cancelled; Escape cancels it.
  assert.equal(await pageA.isVisible('#whisper-target'), true);
  await pageA.press('#composer-text', 'Escape');
  await pageA.waitForSelector('#whisper-target', { state: 'hidden' });
  assert.equal(await pageA.getAttribute(`${row(meB)} [data-role="whisper"]`, 'aria-pressed'), 'false');

  // The next message is public: C receives it, and has never seen the whisper.
  const publicId = await sendText(pageA, 'public after whisper');
  assert.ok(publicId > sent.id);
  await waitForText(pageB, 'public after whisper');
  await waitForText(pageC, 'public after whisper');
  const seenByC = await pageC.$$eval('#messages .message', (nodes) => nodes.map((n) => ({
    id: Number(n.dataset.messageId), kind: n.dataset.kind, text: n.querySelector('.message-text')?.textContent,
  })));
  assert.ok(!seenByC.some((m) => m.id === sent.id || m.kind === 'whisper' || m.text === 'for B only'),
    `C's page shows no whisper: ${JSON.stringify(seenByC)}`);
  const history = await api(pageC, 'GET', `/api/rooms/${roomId}/messages?limit=50`);
  assert.equal(history.status, 200);
  assert.ok(!history.body.messages.some((m) => m.kind === 'whisper'), 'nor does C\'s history');

  // Cancelling with the ✕ works too.
  await pageB.click(`${row(meA)} [data-role="whisper"]`);
  await pageB.waitForSelector('#whisper-target:not([hidden])');
  await pageB.click('#whisper-cancel');
  await pageB.waitForSelector('#whisper-target', { state: 'hidden' });
});

test('the owner removes C: C is told, the others see it happen, C cannot come back', { timeout: 30_000 }, async () => {
  // B is about to whisper to C when C is removed.
  await pageB.click(`${row(meC)} [data-role="whisper"]`);
  await pageB.fill('#composer-text', 'meant for C');

  // Cancel first: nothing happens.
  await pageA.click(`${row(meC)} .kick-button`);
  await pageA.waitForSelector('#confirm-dialog[open]');
  await pageA.click('#confirm-cancel');
  await pageA.waitForSelector('#confirm-dialog:not([open])', { state: 'attached' });
  assert.equal((await memberRows(pageA)).length, 3, 'cancelled: C is still a member');

  await pageA.click(`${row(meC)} .kick-button`);
  await confirmIn(pageA, meC.name);

  await pageC.waitForSelector('#room-notice:not([hidden])');
  const notice = await pageC.textContent('#room-notice');
  assert.match(notice, /removed from this room by its owner/i);
  assert.ok(await pageC.isVisible('#room-notice a[href="/"]'), 'with a link back to the lobby');
  assert.equal(await pageC.$eval('#composer-text', (el) => el.disabled), true, 'composer disabled');
  assert.equal(await pageC.$eval('#send-button', (el) => el.disabled), true);
  assert.equal(await pageC.getAttribute('#chat', 'data-state'), 'kicked');
  assert.equal(await pageC.getAttribute('#connection', 'data-state'), 'offline');
  assert.equal(await pageC.isVisible('#members-panel'), false);
  assert.equal(await pageC.textContent('#room-members'), '', 'no stale member count');
  assert.ok(await pageC.isVisible('#messages'), 'the history stays readable');
  const streamsAtKick = streamRequests.get(pageC);
  await screenshot(pageC, 'room-kicked');

  const removed = `${meC.name} was removed by ${meA.name}.`;
  for (const page of [pageA, pageB]) {
    const id = await waitForText(page, removed);
    assert.equal(await page.getAttribute(`#messages [data-message-id="${id}"]`, 'class'), 'message system');
    await waitForMembers(page, [meA, meB], () => true, ' without C');
    await page.waitForSelector('#room-members:has-text("2/10 members")');
  }
  assert.equal(streamRequests.get(pageC), streamsAtKick, 'the removed page did not reopen its stream');

  // B's whisper mode stays on (nothing private goes public by surprise) and says why.
  await pageB.waitForSelector('#whisper-target[data-gone="true"]');
  await pageB.press('#composer-text', 'Enter');
  await pageB.waitForSelector('#composer-error:not([hidden])');
  assert.match(await pageB.textContent('#composer-error'), /not in the room/);
  assert.equal(await pageB.inputValue('#composer-text'), 'meant for C', 'the text is kept');
  await pageB.press('#composer-text', 'Escape');
  await pageB.waitForSelector('#whisper-target', { state: 'hidden' });
  await pageB.fill('#composer-text', '');

  // Coming back: join answers 403 kicked, and the page says so instead of staying blank.
  const join = await api(pageC, 'POST', `/api/rooms/${roomId}/join`);
  assert.equal(join.status, 403);
  assert.equal(join.body.error, 'kicked');
  await pageC.reload();
  await pageC.waitForSelector('#chat[data-state="blocked"]', { state: 'attached' });
  await pageC.waitForSelector('#room-notice:not([hidden])');
  assert.match(await pageC.textContent('#notice-text'), /removed from this room by its owner/i);
  assert.equal(await pageC.isVisible('#notice-retry'), false, 'no pointless "Try again"');
  assert.ok(await pageC.isVisible('#room-notice a[href="/"]'));
  assert.equal(await pageC.isVisible('#composer'), false);
  assert.notEqual(await pageC.textContent('#room-title'), 'Loading…');
  await screenshot(pageC, 'room-kicked-reload');
});

test('the owner hands the room to B: the crown and the buttons move', { timeout: 20_000 }, async () => {
  await pageA.click(`${row(meB)} .make-owner-button`);
  await confirmIn(pageA, meB.name);

  for (const page of [pageA, pageB]) {
    await waitForText(page, `${meB.name} is now the owner.`);
    await waitForMembers(page, [meA, meB], (rows) => !rows[0].owner && rows[1].owner, ' with B as owner');
  }
  await waitForMembers(pageA, [meA, meB], (rows) => rows.every((r) => !r.kick && !r.makeOwner), ': A has no owner buttons');
  await waitForMembers(pageB, [meA, meB], (rows) => rows[0].kick && rows[0].makeOwner && !rows[1].kick, ': B can act on A');

  // A is no longer the owner: the server agrees.
  const refused = await api(pageA, 'POST', `/api/rooms/${roomId}/kicks`, { user: meB.id });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error, 'not_owner');
});

test('a rename shows in the member lists, the whisper chip and the header', { timeout: 20_000 }, async () => {
  await pageA.click(`${row(meB)} [data-role="whisper"]`);
  await pageA.waitForSelector('#whisper-target:not([hidden])');
  const renamed = await api(pageB, 'PATCH', '/api/me', { name: 'Bea' });
  assert.equal(renamed.status, 200, JSON.stringify(renamed.body));

  for (const page of [pageA, pageB]) {
    await waitForText(page, `${meB.name} is now known as Bea.`);
    await waitForMembers(page, [meA, meB], (rows) => rows[1].name === 'Bea' && rows[1].owner, ' with B renamed');
  }
  await pageA.waitForSelector('#whisper-target-name:text-is("Bea")');
  await pageB.waitForSelector('#me:text-is("Bea")');
  await pageA.press('#composer-text', 'Escape');
  await pageA.waitForSelector('#whisper-target', { state: 'hidden' });
  meB = { ...meB, name: 'Bea' };
});

test('screenshots, and the member list folds away on a narrow screen', { timeout: 20_000 }, async () => {
  // B whispers back, so the picture shows a whisper each way and the composer chip.
  await pageB.click(`${row(meA)} [data-role="whisper"]`);
  await pageB.fill('#composer-text', 'thanks for the room');
  await pageB.press('#composer-text', 'Enter');
  await waitForWhisper(pageB, 'thanks for the room');
  await waitForWhisper(pageA, 'thanks for the room');
  assert.equal(await pageB.isVisible('#members-toggle'), false, 'wide screens show a sidebar, no toggle');
  assert.equal(await pageB.isVisible('#members'), true);
  await screenshot(pageB, 'room-members');

  await pageB.setViewportSize({ width: 600, height: 800 });
  await pageB.waitForSelector('#members-toggle', { state: 'visible' });
  assert.equal(await pageB.textContent('#members-toggle'), 'Members (2)');
  assert.equal(await pageB.getAttribute('#members-toggle', 'aria-expanded'), 'false');
  assert.equal(await pageB.isVisible('#members'), false);
  await pageB.click('#members-toggle');
  await pageB.waitForSelector('#members', { state: 'visible' });
  assert.equal(await pageB.getAttribute('#members-toggle', 'aria-expanded'), 'true');
  await screenshot(pageB, 'room-members-narrow');
  await pageB.click('#members-toggle');
  await pageB.waitForSelector('#members', { state: 'hidden' });

  assertNoErrors(suite.errors);
});
