// Issue 16, item 7 (and item 4 of the front-end list): the chat on a phone, 375 x 812. The
// rooms come before the lobby's forms, the room header takes two rows, not four, picking
// someone to whisper to folds the member list away, the "GIFs go to everyone" warning is not
// cut off, every control is at least 44 x 44 px, and axe finds nothing in either scheme.
// Screenshots: lobby-mobile.png, room-mobile.png and room-mobile-dark.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoErrors, axeInBothSchemes, createRoomWithForm, makeGif, openLobby, openRoom, screenshot, sendText, setUp,
  waitForMessage, watchPage, whoAmI,
} from './harness.mjs';

let suite;
let phone;
let desk;
let roomId;

before(async () => {
  suite = await setUp();
  const context = await suite.browser.newContext({
    viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2,
  });
  context.setDefaultTimeout(15_000);
  context.on('page', (page) => watchPage(page, suite.errors));
  phone = await context.newPage();
  desk = await (await suite.user()).newPage();
});

after(async () => {
  await suite?.teardown();
});

/**
 * Every control `page` draws that is smaller than 44 x 44 px: links, buttons, fields and
 * anything else focusable. Links inside a message's text are left out (WCAG 2.5.5 exempts
 * links in running text), and so are visually hidden elements (1 px, for screen readers).
 */
function smallTargets(page) {
  return page.evaluate(() => {
    const selector = 'a[href], button, input, textarea, select, [role="button"], [tabindex]:not([tabindex="-1"])';
    return [...document.querySelectorAll(selector)]
      .filter((el) => !el.closest('.message-text') && el.checkVisibility())
      .map((el) => ({ el, box: el.getBoundingClientRect() }))
      .filter(({ box }) => box.width > 1 || box.height > 1)
      .filter(({ box }) => box.width < 43.5 || box.height < 43.5)
      .map(({ el, box }) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${[...el.classList].join('.')} `
        + `"${(el.getAttribute('aria-label') ?? el.textContent).trim().slice(0, 30)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
  });
}

function box(page, selector) {
  return page.locator(selector).first().evaluate((el) => {
    const { top, bottom, left, right, height } = el.getBoundingClientRect();
    return { top, bottom, left, right, height };
  });
}

test('the lobby on a phone: the rooms come first, and every control is big enough to touch', { timeout: 30_000 }, async () => {
  await openLobby(desk, suite.server);
  roomId = await createRoomWithForm(desk, { title: 'A rather long room title for a phone screen' });
  await openLobby(phone, suite.server);
  await phone.locator(`#rooms [data-room-id="${roomId}"]`).waitFor();
  const rooms = await box(phone, '.rooms-card');
  const nickname = await box(phone, '#nickname-form');
  const create = await box(phone, '#create-room');
  assert.ok(rooms.top < nickname.top && rooms.top < create.top, 'the rooms are above both forms');
  const enter = await box(phone, `#rooms [data-room-id="${roomId}"] .room-enter`);
  assert.ok(enter.bottom <= 812, `the first room's Enter button is on the first screen (bottom ${enter.bottom})`);
  assert.deepEqual(await smallTargets(phone), [], 'controls under 44 x 44 px in the lobby');
  assert.deepEqual(await axeInBothSchemes(phone, 'lobby on a phone'), []);
  await screenshot(phone, 'lobby-mobile');
});

test('a room on a phone: a compact header, the member list folds after a pick, the GIF warning shows whole, every control touchable', { timeout: 30_000 }, async () => {
  // The phone owns the room, so its member list has the owner's buttons too.
  const own = await createRoomWithForm(phone, { title: 'Phone room with a long title' });
  await openRoom(desk, suite.server, own);
  const deskMe = await whoAmI(desk);
  await waitForMessage(phone, await sendText(desk, 'hello from a desk, with a link: https://example.org/'));
  await sendText(phone, 'hello from a phone');
  const gif = makeGif(300, 40, [[67, 56, 202], [250, 204, 21], [236, 72, 153], [255, 255, 255]],
    (x, y) => Math.floor((x + y) / 10) % 4);
  await desk.setInputFiles('#gif-input', { name: 'wide.gif', mimeType: 'image/gif', buffer: gif });
  await desk.click('#gif-send');
  await phone.waitForSelector('#messages .message[data-kind="gif"] img');

  const header = await box(phone, '.room-header');
  assert.ok(header.height <= 120, `the header is at most two rows (${header.height} px)`);
  const title = await box(phone, '#room-title');
  const leave = await box(phone, '#leave');
  assert.ok(Math.abs(title.top - leave.top) < 30, 'the title shares the first row with Leave');

  await phone.click('#members-toggle');
  await phone.waitForSelector('#members', { state: 'visible' });
  assert.deepEqual(await smallTargets(phone), [], 'controls under 44 x 44 px with the member list open');
  await phone.click(`#members [data-member-id="${deskMe.id}"] [data-role="whisper"]`);
  await phone.waitForSelector('#whisper-target:not([hidden])');
  await phone.waitForSelector('#members', { state: 'hidden' });
  assert.equal(await phone.getAttribute('#members-toggle', 'aria-expanded'), 'false', 'the list folded after the pick');

  const tall = makeGif(120, 90, [[236, 72, 153], [255, 255, 255], [67, 56, 202], [250, 204, 21]],
    (x, y) => Math.floor((x - y + 90) / 15) % 4);
  await phone.setInputFiles('#gif-input', { name: 'a-gif-with-a-rather-long-file-name-indeed.gif', mimeType: 'image/gif', buffer: tall });
  await phone.waitForSelector('#gif-preview:not([hidden])');
  const warning = await phone.locator('#gif-preview-audience').evaluate((el) => {
    const r = el.getBoundingClientRect();
    return {
      visible: el.checkVisibility(),
      text: el.textContent,
      whole: el.scrollWidth <= el.clientWidth && el.scrollHeight <= el.clientHeight + 1,
      inside: r.left >= 0 && r.right <= window.innerWidth,
    };
  });
  assert.deepEqual(warning, { visible: true, text: 'GIFs go to everyone, not only to the whisper.', whole: true, inside: true });
  assert.deepEqual(await smallTargets(phone), [], 'controls under 44 x 44 px with the whisper chip and the GIF preview');
  assert.deepEqual(await axeInBothSchemes(phone, 'room on a phone'), []);
  await screenshot(phone, 'room-mobile');
  await phone.emulateMedia({ colorScheme: 'dark' });
  await phone.waitForTimeout(250);
  await screenshot(phone, 'room-mobile-dark');
  await phone.emulateMedia({ colorScheme: 'light' });
  await phone.click('#gif-cancel');
  await phone.press('#composer-text', 'Escape');
});

test('no page logged an unexpected error', () => {
  assertNoErrors(suite.errors);
});
