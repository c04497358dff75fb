// Issue 16, item 3: a GIF in the conversation opens large in a modal dialog, closed by Esc, a
// click or the close button, with focus back on the GIF; and a GIF still loading already
// takes its final room in the list (the message's gif_width and gif_height), so nothing jumps
// when it arrives, whether it was in the history or came in live.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoErrors, createRoomWithForm, makeGif, openLobby, openRoom, screenshot, sendText, setUp, waitForMessage,
} from './harness.mjs';

let suite;
let alice;
let bob;
let roomId;

const GIF_URL = /\/api\/rooms\/[^/]+\/gifs\/[0-9a-f]+\.gif$/;

before(async () => {
  suite = await setUp();
  alice = await (await suite.user()).newPage();
  bob = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

async function sendGif(page, width, height) {
  const gif = makeGif(width, height, [[67, 56, 202], [250, 204, 21], [236, 72, 153], [255, 255, 255]],
    (x, y) => Math.floor((x + y) / 12) % 4);
  await page.setInputFiles('#gif-input', { name: `${width}x${height}.gif`, mimeType: 'image/gif', buffer: gif });
  await page.click('#gif-send');
  await page.waitForSelector('#gif-preview', { state: 'hidden' });
  const handle = await page.waitForFunction(() => Number([...document.querySelectorAll('#messages .message.mine[data-kind="gif"]')]
    .pop()?.dataset.messageId) || null);
  return handle.jsonValue();
}

/**
 * Holds back every GIF `page` asks for until `release()`; `held` counts the requests waiting.
 */
async function holdGifs(page) {
  const waiting = [];
  const continued = [];
  const handler = async (route) => {
    await new Promise((resolve) => waiting.push(resolve));
    const done = route.continue();
    continued.push(done);
    await done;
  };
  await page.route(GIF_URL, handler);
  return {
    held: () => waiting.length,
    release: async () => {
      for (const resolve of waiting.splice(0)) resolve();
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all(continued);
      await page.unroute(GIF_URL, handler);
    },
  };
}

/** The list's height and the GIF's box, and whether the GIF has arrived. */
function measure(page, id) {
  return page.evaluate((id) => {
    const img = document.querySelector(`#messages .message[data-message-id="${id}"] img`);
    const box = img.getBoundingClientRect();
    return {
      scrollHeight: document.getElementById('scroller').scrollHeight,
      width: Math.round(box.width),
      height: Math.round(box.height),
      loaded: img.complete && img.naturalWidth > 0,
    };
  }, id);
}

async function waitForGifLoaded(page, id) {
  await page.waitForFunction((id) => {
    const img = document.querySelector(`#messages .message[data-message-id="${id}"] img`);
    return img && img.complete && img.naturalWidth > 0;
  }, id);
  // One frame for layout to settle after the image decoded.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

test('a GIF in the history takes its final size before it loads', { timeout: 30_000 }, async () => {
  await openLobby(alice, suite.server);
  roomId = await createRoomWithForm(alice, { title: 'Lightbox' });
  await sendText(alice, 'a GIF follows');
  const id = await sendGif(alice, 240, 150);
  await sendText(alice, 'and a line after it');

  const gifs = await holdGifs(bob);
  await openRoom(bob, suite.server, roomId);
  await waitForMessage(bob, id);
  const loading = await measure(bob, id);
  assert.equal(loading.loaded, false, 'the GIF is still held back');
  assert.ok(gifs.held() >= 1, 'the GIF was asked for');
  assert.deepEqual([loading.width, loading.height], [240, 150], 'its box is already the GIF\'s size');
  await gifs.release();
  await waitForGifLoaded(bob, id);
  const loaded = await measure(bob, id);
  assert.deepEqual(loaded, { ...loading, loaded: true }, 'the list did not change height when the GIF arrived');
});

test('a GIF that comes in live takes its final size before it loads, scaled down if wide', { timeout: 30_000 }, async () => {
  const gifs = await holdGifs(bob);
  const id = await sendGif(alice, 800, 200);
  await waitForMessage(bob, id);
  const loading = await measure(bob, id);
  assert.equal(loading.loaded, false, 'the GIF is still held back');
  // Drawn at most 400 px wide, the height following the GIF's shape.
  assert.deepEqual([loading.width, loading.height], [400, 100]);
  await gifs.release();
  await waitForGifLoaded(bob, id);
  assert.deepEqual(await measure(bob, id), { ...loading, loaded: true }, 'the list did not change height');
});

test('a GIF opens large in a dialog: Esc, a click, or the close button closes it, and focus goes back', { timeout: 30_000 }, async () => {
  const id = Number(await bob.$eval('#messages .message[data-kind="gif"]', (el) => el.dataset.messageId));
  const gif = bob.locator(`#messages .message[data-message-id="${id}"] button.gif-open`);
  const dialogState = () => bob.evaluate(() => {
    const dialog = document.getElementById('gif-lightbox');
    const img = document.getElementById('lightbox-image');
    return {
      open: dialog.open,
      modal: dialog.matches(':modal'),
      focusInside: dialog.contains(document.activeElement),
      src: img.hasAttribute('src') ? img.src : null,
      width: Math.round(img.getBoundingClientRect().width),
      alt: img.alt,
    };
  });
  const focusIsOnGif = () => bob.evaluate((id) => document.activeElement
    === document.querySelector(`#messages .message[data-message-id="${id}"] button.gif-open`), id);
  const small = await gif.evaluate((el) => el.getBoundingClientRect().width);

  // 1. A click opens it; Esc closes it.
  await gif.click();
  await bob.waitForSelector('#gif-lightbox[open]');
  let shown = await dialogState();
  assert.equal(shown.modal, true, 'a modal dialog');
  assert.equal(shown.focusInside, true, 'focus moved into it');
  assert.equal(shown.src, await gif.locator('img').evaluate((el) => el.src), 'the same GIF');
  assert.ok(shown.width > small * 1.5, `shown larger: ${shown.width} px against ${small} px in the list`);
  assert.match(shown.alt, /^GIF from /);
  await screenshot(bob, 'room-lightbox');
  await bob.keyboard.press('Escape');
  await bob.waitForSelector('#gif-lightbox:not([open])', { state: 'attached' });
  assert.equal(await focusIsOnGif(), true, 'Esc gives focus back to the GIF');

  // 2. Enter on the focused GIF opens it; a click on the backdrop closes it.
  await bob.keyboard.press('Enter');
  await bob.waitForSelector('#gif-lightbox[open]');
  await bob.mouse.click(5, 400);
  await bob.waitForSelector('#gif-lightbox:not([open])', { state: 'attached' });
  assert.equal(await focusIsOnGif(), true, 'a click outside gives focus back to the GIF');

  // 3. The close button, at least 44 px square.
  await gif.click();
  await bob.waitForSelector('#gif-lightbox[open]');
  const close = await bob.locator('#lightbox-close').boundingBox();
  assert.ok(close.width >= 44 && close.height >= 44, JSON.stringify(close));
  await bob.click('#lightbox-close');
  await bob.waitForSelector('#gif-lightbox:not([open])', { state: 'attached' });
  assert.equal(await focusIsOnGif(), true, 'the close button gives focus back to the GIF');
  assert.equal((await dialogState()).src, null, 'the large copy is let go');
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
