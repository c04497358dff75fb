// Two people in one room: chats and GIFs both ways, author colours, mine/theirs, HTML in a
// message shown as text, links, Shift+Enter, the "New messages" pill, your own message always
// in view, and the screenshots of a room and the lobby (tests/browser/screenshots/room.png,
// lobby.png).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  TINY_GIF, api, assertNoErrors, colourMismatch, createRoomWithForm, makeGif, messageIds,
  checkOrder, openLobby, screenshot, sendText, setUp, waitForMessage, waitUntilInRoom, whoAmI,
} from './harness.mjs';

let suite;
let pageA;
let pageB;
let meA;
let meB;
let roomId;
const dialogs = [];
const requests = [];

before(async () => {
  suite = await setUp();
  const contextA = await suite.user();
  const contextB = await suite.user();
  for (const context of [contextA, contextB]) {
    context.on('page', (page) => page.on('dialog', (dialog) => {
      dialogs.push(`${page.url()}: ${dialog.type()} ${dialog.message()}`);
      dialog.dismiss().catch(() => {});
    }));
    context.on('request', (request) => requests.push(request.url()));
  }
  pageA = await contextA.newPage();
  pageB = await contextB.newPage();
});

after(async () => {
  await suite?.teardown();
});

/** The computed colour of the author name of message `id` on `page`. */
function authorColour(page, id) {
  return page.$eval(`#messages .message[data-message-id="${id}"] .message-author`, (el) => getComputedStyle(el).color);
}

test('A creates a room in the lobby and B enters it from the list', { timeout: 30_000 }, async () => {
  await openLobby(pageA, suite.server);
  roomId = await createRoomWithForm(pageA, { title: 'Chat test' });
  assert.equal(await pageA.textContent('#room-title'), 'Chat test');

  await openLobby(pageB, suite.server);
  const row = pageB.locator(`#rooms [data-room-id="${roomId}"]`);
  await row.locator('.room-title', { hasText: 'Chat test' }).waitFor();
  await row.locator('.room-enter').click();
  await pageB.waitForURL(`${suite.server.url}/rooms/${roomId}`);
  await waitUntilInRoom(pageB);

  meA = await whoAmI(pageA);
  meB = await whoAmI(pageB);
  assert.notEqual(meA.id, meB.id, 'two contexts are two users');
  assert.match(meA.color, /^#[0-9a-f]{6}$/i);
  assert.match(meB.color, /^#[0-9a-f]{6}$/i);
  assert.equal((await pageA.textContent('#me')).trim(), meA.name);
  assert.equal((await pageB.textContent('#me')).trim(), meB.name);
});

test('chats go both ways: mine on the sender, theirs in the author colour on the other side', { timeout: 30_000 }, async () => {
  const fromA = await sendText(pageA, 'Hello from A');
  const seenByB = await waitForMessage(pageB, fromA);
  assert.deepEqual(seenByB, { side: 'theirs', kind: 'chat', text: 'Hello from A', author: meA.name });
  assert.equal((await waitForMessage(pageA, fromA)).side, 'mine');

  const fromB = await sendText(pageB, 'Hi A, B here');
  const seenByA = await waitForMessage(pageA, fromB);
  assert.deepEqual(seenByA, { side: 'theirs', kind: 'chat', text: 'Hi A, B here', author: meB.name });
  assert.equal((await waitForMessage(pageB, fromB)).side, 'mine');

  assert.equal(colourMismatch(await authorColour(pageB, fromA), meA.color), null, "A's name on B's page");
  assert.equal(colourMismatch(await authorColour(pageA, fromB), meB.color), null, "B's name on A's page");
  assert.notEqual(await authorColour(pageA, fromB), await authorColour(pageB, fromA), 'two users, two colours');

  // The composer is emptied after a successful send.
  assert.equal(await pageA.inputValue('#composer textarea[name="text"]'), '');
});

test('a GIF picked in the file input is previewed, sent, and shown to both as an <img>', { timeout: 30_000 }, async () => {
  await pageB.setInputFiles('#gif-input', { name: 'tiny.gif', mimeType: 'image/gif', buffer: TINY_GIF });
  await pageB.waitForSelector('#gif-preview', { state: 'visible' });
  assert.match(await pageB.textContent('#gif-preview-name'), /tiny\.gif/);
  await pageB.click('#gif-send');
  await pageB.waitForSelector('#gif-preview', { state: 'hidden' });
  assert.equal(await pageB.isHidden('#gif-error'), true, 'no upload error');

  const gifId = await (await pageB.waitForFunction(() => {
    const node = [...document.querySelectorAll('#messages .message.mine[data-kind="gif"]')].pop();
    return node ? Number(node.dataset.messageId) : null;
  })).jsonValue();

  for (const [page, side] of [[pageB, 'mine'], [pageA, 'theirs']]) {
    const message = await waitForMessage(page, gifId);
    assert.equal(message.side, side);
    assert.equal(message.kind, 'gif');
    assert.equal(message.author, meB.name);
    const img = page.locator(`#messages .message[data-message-id="${gifId}"] img`);
    assert.equal(await img.getAttribute('width'), '2');
    assert.equal(await img.getAttribute('height'), '2');
    await page.waitForFunction(
      (id) => {
        const el = document.querySelector(`#messages .message[data-message-id="${id}"] img`);
        return el && el.complete && el.naturalWidth > 0;
      },
      gifId,
    );
    assert.match(await img.getAttribute('src'), /^\/api\/rooms\/[0-9a-f-]+\/gifs\/[0-9a-f]{64}\.gif$/);
  }
  assert.equal(colourMismatch(await authorColour(pageA, gifId), meB.color), null);
});

test('HTML in a message is shown as literal text and never runs', { timeout: 30_000 }, async () => {
  const payload = '<img src=x onerror=alert(1)>';
  const id = await sendText(pageA, payload);
  await waitForMessage(pageB, id);
  for (const page of [pageA, pageB]) {
    const found = await page.$eval(`#messages .message[data-message-id="${id}"]`, (el) => ({
      text: el.querySelector('.message-text')?.textContent,
      wholeText: el.textContent,
      images: el.querySelectorAll('img').length,
    }));
    assert.equal(found.text, payload);
    assert.ok(found.wholeText.includes(payload));
    assert.equal(found.images, 0, 'no <img> inside the message');
  }
  // A later message has been through the same pages, so an onerror would have fired by now.
  const later = await sendText(pageB, 'after the payload');
  await waitForMessage(pageA, later);
  assert.deepEqual(dialogs, []);
  assert.ok(!requests.some((url) => /\/x$/.test(new URL(url).pathname)), 'no request for src=x');
});

test('web addresses in chat text are links that open safely; anything else stays text', { timeout: 30_000 }, async () => {
  const text = 'see https://example.org/a?b=1, (www.example.com/x) and https://en.wikipedia.org/wiki/Rust_(language). '
    + 'not javascript:alert(1) nor <a href="https://evil.example">x</a>';
  const id = await sendText(pageA, text);
  await waitForMessage(pageB, id);
  for (const page of [pageA, pageB]) {
    const found = await page.$eval(`#messages .message[data-message-id="${id}"] .message-text`, (el) => ({
      text: el.textContent,
      links: [...el.querySelectorAll('a')].map((a) => ({
        href: a.getAttribute('href'), text: a.textContent, rel: a.getAttribute('rel'), target: a.getAttribute('target'),
      })),
    }));
    assert.equal(found.text, text, 'the text reads exactly as typed');
    const safe = { rel: 'noopener noreferrer nofollow', target: '_blank' };
    assert.deepEqual(found.links, [
      { href: 'https://example.org/a?b=1', text: 'https://example.org/a?b=1', ...safe },
      { href: 'https://www.example.com/x', text: 'www.example.com/x', ...safe },
      { href: 'https://en.wikipedia.org/wiki/Rust_(language)', text: 'https://en.wikipedia.org/wiki/Rust_(language)', ...safe },
      // Inside the typed HTML only the address itself is a link, drawn as text like the rest.
      { href: 'https://evil.example/', text: 'https://evil.example', ...safe },
    ]);
  }
});

test('Shift+Enter starts a new line; Enter sends the whole text once', { timeout: 30_000 }, async () => {
  const box = pageA.locator('#composer textarea[name="text"]');
  const before = (await messageIds(pageA)).length;
  await box.click();
  await box.pressSequentially('first line');
  await box.press('Shift+Enter');
  await box.pressSequentially('second line');
  assert.equal(await box.inputValue(), 'first line\nsecond line');
  await box.press('Enter');

  const id = await (await pageA.waitForFunction(() => {
    const node = [...document.querySelectorAll('#messages .message.mine[data-kind="chat"]')].pop();
    return node?.querySelector('.message-text')?.textContent === 'first line\nsecond line'
      ? Number(node.dataset.messageId) : null;
  })).jsonValue();
  // The stream's echo can show the message before the POST's answer clears the box.
  await pageA.waitForFunction(() => document.querySelector('#composer textarea[name="text"]').value === '');
  const ids = await messageIds(pageA);
  assert.equal(ids.length, before + 1, 'Shift+Enter did not send anything by itself');
  checkOrder(ids);

  const seen = await waitForMessage(pageB, id);
  assert.equal(seen.text, 'first line\nsecond line');
  // pre-wrap: the newline is drawn as a line break.
  const innerText = await pageB.$eval(`#messages .message[data-message-id="${id}"] .message-text`, (el) => el.innerText);
  assert.equal(innerText, 'first line\nsecond line');
});

test('screenshots: a room with messages and a GIF, and the lobby with two rooms', { timeout: 30_000 }, async () => {
  // A GIF big enough to see in the screenshot (the 2×2 one is a dot), sent by A this time.
  const stripes = makeGif(160, 100, [[67, 56, 202], [250, 204, 21], [236, 72, 153], [255, 255, 255]],
    (x, y) => Math.floor((x + y) / 20) % 4);
  await pageA.setInputFiles('#gif-input', { name: 'stripes.gif', mimeType: 'image/gif', buffer: stripes });
  await pageA.click('#gif-send');
  await pageA.waitForSelector('#gif-preview', { state: 'hidden' });
  for (const page of [pageA, pageB]) {
    await page.waitForFunction(() => [...document.querySelectorAll('#messages .message[data-kind="gif"] img')]
      .some((img) => img.getAttribute('width') === '160' && img.getAttribute('height') === '100'
        && img.complete && img.naturalWidth === 160));
  }
  await pageA.waitForFunction(() => {
    const el = document.getElementById('scroller');
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  });
  await screenshot(pageA, 'room');

  // A second room, created in the lobby by B in another tab (so someone is in it).
  const tabB = await pageB.context().newPage();
  await openLobby(tabB, suite.server);
  const second = await createRoomWithForm(tabB, { title: 'Second room', max: 4, password: 'secret' });

  const lobby = await pageA.context().newPage();
  await openLobby(lobby, suite.server);
  const row = (id) => lobby.locator(`#rooms [data-room-id="${id}"]`);
  await row(roomId).locator('.room-members', { hasText: '2/10' }).waitFor();
  await row(second).locator('.room-members', { hasText: '1/4' }).waitFor();
  assert.equal(await row(second).getAttribute('data-locked'), 'true');
  assert.equal(await row(roomId).getAttribute('data-locked'), 'false');
  assert.equal(await lobby.locator('#rooms [data-room-id]').count(), 2);
  await screenshot(lobby, 'lobby');
  await lobby.close();
  await tabB.close();
});

test('a reader who scrolled up gets a "New messages" pill instead of a jump', { timeout: 30_000 }, async () => {
  const atBottom = (page) => page.$eval('#scroller', (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 48);
  let last;
  for (let i = 1; i <= 30; i += 1) {
    const { status, body } = await api(pageA, 'POST', `/api/rooms/${roomId}/messages`, { text: `filler ${i}` });
    assert.equal(status, 201);
    last = body.id;
  }
  await waitForMessage(pageB, last);
  assert.equal(await pageB.$eval('#scroller', (el) => el.scrollHeight > el.clientHeight), true, 'the list overflows');
  await pageB.waitForFunction(() => {
    const el = document.getElementById('scroller');
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  });
  assert.equal(await pageB.isHidden('#new-messages'), true, 'a reader at the bottom follows along');

  await pageB.$eval('#scroller', (el) => { el.scrollTop = 0; });
  await pageB.waitForFunction(() => document.getElementById('scroller').scrollTop === 0);
  const id = await sendText(pageA, 'while B reads old messages');
  await waitForMessage(pageB, id);
  await pageB.waitForSelector('#new-messages', { state: 'visible' });
  assert.equal(await pageB.$eval('#scroller', (el) => el.scrollTop), 0, 'the reader was not moved');
  assert.equal(await atBottom(pageA), true, 'the sender sees their own message');

  await pageB.click('#new-messages');
  await pageB.waitForFunction(() => {
    const el = document.getElementById('scroller');
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  });
  await pageB.waitForSelector('#new-messages', { state: 'hidden' });
  assert.equal(await pageB.locator(`#messages .message[data-message-id="${id}"]`).isVisible(), true);
  checkOrder(await messageIds(pageB));
});

test('your own message scrolls into view even when its echo on the stream beats the answer to the POST', { timeout: 30_000 }, async () => {
  const atBottom = () => pageA.$eval('#scroller', (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 48);
  // Hold each answer to a post until the stream's echo of that message is on the page, the
  // order that left the sender's own GIF off-screen behind a "New messages" pill.
  const echoFirst = async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const response = await route.fetch();
    const { id } = await response.json();
    await pageA.waitForSelector(`#messages .message[data-message-id="${id}"]`, { state: 'attached' });
    return route.fulfill({ response });
  };
  await pageA.route('**/api/rooms/*/messages', echoFirst);
  await pageA.route('**/api/rooms/*/gifs', echoFirst);
  try {
    for (const send of [
      () => sendText(pageA, 'my own, sent while reading old messages'),
      async () => {
        await pageA.setInputFiles('#gif-input', { name: 'tiny.gif', mimeType: 'image/gif', buffer: TINY_GIF });
        await pageA.click('#gif-send');
        await pageA.waitForSelector('#gif-preview', { state: 'hidden' });
      },
    ]) {
      await pageA.$eval('#scroller', (el) => { el.scrollTop = 0; });
      await pageA.waitForFunction(() => document.getElementById('scroller').scrollTop === 0);
      assert.equal(await atBottom(), false, 'the sender is reading old messages');
      await send();
      await pageA.waitForFunction(() => {
        const el = document.getElementById('scroller');
        return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
      }, null, { timeout: 5_000 });
      const last = pageA.locator('#messages .message.mine').last();
      assert.equal(await last.isVisible(), true);
      assert.equal(await pageA.isHidden('#new-messages'), true, 'no pill for your own message');
    }
  } finally {
    await pageA.unroute('**/api/rooms/*/messages');
    await pageA.unroute('**/api/rooms/*/gifs');
  }
});

test('a reader at the end stays there when the GIF preview opens or the message box grows', { timeout: 30_000 }, async () => {
  const gap = () => pageA.$eval('#scroller', (el) => el.scrollHeight - el.scrollTop - el.clientHeight);
  const lastVisible = () => pageA.$eval('#scroller', (scroller) => {
    const last = [...scroller.querySelectorAll('#messages .message')].pop();
    return last.getBoundingClientRect().bottom <= scroller.getBoundingClientRect().bottom + 1;
  });
  await sendText(pageA, 'the latest thing said');
  await pageA.waitForFunction(() => {
    const el = document.getElementById('scroller');
    return el.scrollHeight - el.scrollTop - el.clientHeight < 2;
  });
  const box = pageA.locator('#composer textarea[name="text"]');
  await box.click();
  await box.pressSequentially('half a thought');
  await pageA.setInputFiles('#gif-input', { name: 'tiny.gif', mimeType: 'image/gif', buffer: TINY_GIF });
  await pageA.waitForSelector('#gif-preview', { state: 'visible' });
  // The preview takes ~100 px from the list: the end of the conversation must not hide behind it.
  await pageA.waitForFunction(() => {
    const el = document.getElementById('scroller');
    return el.scrollHeight - el.scrollTop - el.clientHeight < 2;
  }, null, { timeout: 3_000 }).catch(async () => assert.fail(`${await gap()} px short with the preview open`));
  assert.equal(await lastVisible(), true);
  for (let i = 0; i < 4; i += 1) {
    await box.press('Shift+Enter');
    await box.pressSequentially(`line ${i}`);
  }
  await pageA.waitForFunction(() => {
    const el = document.getElementById('scroller');
    return el.scrollHeight - el.scrollTop - el.clientHeight < 2;
  }, null, { timeout: 3_000 }).catch(async () => assert.fail(`${await gap()} px short with five lines typed`));
  assert.equal(await lastVisible(), true);
  await pageA.click('#gif-cancel');
  await box.fill('');
});

test('no page logged an error or opened a dialog', () => {
  assert.deepEqual(dialogs, []);
  assertNoErrors(suite.errors);
});
