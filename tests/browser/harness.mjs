// Shared fixtures for the browser suite: start the real server binary, launch Debian's
// Chromium through playwright-core, watch every page for console errors.

import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
export const screenshotDir = join(here, 'screenshots');

const BIN = process.env.GIF_CHAT_BIN;
if (!BIN) throw new Error('GIF_CHAT_BIN must name the server binary (cargo test sets it)');

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * A server process on its own SQLite file. `restart()` starts a new process on the same
 * port, database and cookie secret, as an operator restarting the service would.
 */
export async function startServer(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gif-chat-browser-'));
  const port = await freePort();
  const settings = {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `sqlite://${join(dir, 'chat.db')}`,
    STATIC_DIR: join(repoRoot, 'static'),
    COOKIE_SECRET: 'browser-tests-cookie-secret-0123456789abcdef',
    PRESENCE_GRACE: '1500ms',
    RUST_LOG: process.env.TEST_LOG ? 'info' : 'warn',
    ...env,
  };
  const server = { url: `http://127.0.0.1:${port}`, process: null };

  server.start = async () => {
    const child = spawn(BIN, [], { env: { ...process.env, ...settings }, stdio: ['ignore', 'inherit', 'inherit'] });
    server.process = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      try {
        const response = await fetch(`${server.url}/healthz`);
        if (response.ok) return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('server did not become healthy within 20 s');
  };

  /** Ends the process: SIGKILL simulates a crash, SIGTERM a deploy. */
  server.stop = async (signal = 'SIGTERM') => {
    const child = server.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };

  server.restart = async () => {
    await server.stop('SIGKILL');
    await server.start();
  };

  server.cleanup = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  await server.start();
  return server;
}

export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
}

/**
 * A new browser context (a separate user with its own cookies) whose pages record console
 * errors and uncaught exceptions into `errors`.
 */
export async function newUser(browser, errors) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  // Explicit waits only, and none longer than 15 s: a hang fails fast with a clear message.
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  context.on('page', (page) => watchPage(page, errors));
  return context;
}

export function watchPage(page, errors) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // Network log lines name no URL in their text; the location says which resource failed.
    const where = message.location()?.url;
    errors.push(`${page.url()}: console: ${message.text()}${where ? ` [${where}]` : ''}`);
  });
  page.on('pageerror', (error) => errors.push(`${page.url()}: uncaught: ${error.message}`));
}

export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: name.startsWith('/') ? name + '.png' : join(screenshotDir, `${name}.png`), fullPage: false });
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe on `page` as it is; returns the violations as readable lines. Evaluated through
 * the DevTools protocol rather than a <script> tag, which the pages' CSP would refuse.
 */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const { violations, contrastChecked } = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      violations: result.violations.map((v) => ({
        id: v.id,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`),
      })),
      // That axe did look at the colours: a check that never ran finds nothing either.
      contrastChecked: [...result.passes, ...result.violations, ...result.incomplete].some((r) => r.id === 'color-contrast'),
    };
  });
  assert.ok(contrastChecked, `axe checked the contrast on ${page.url()}`);
  return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.help}) at ${n}`));
}

/** Runs axe on `page` in the light and in the dark scheme; returns what failed, by scheme. */
export async function axeInBothSchemes(page, name) {
  const failures = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    // Buttons ease their colours for 120 ms: let a scheme change finish before measuring.
    await page.waitForTimeout(250);
    const scheme = await page.evaluate(() => getComputedStyle(document.documentElement).colorScheme);
    assert.equal(scheme, colorScheme, `${name}: the page is in the ${colorScheme} scheme`);
    for (const line of await axeViolations(page)) failures.push(`${name} [${colorScheme}]: ${line}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.waitForTimeout(250); // as above, before a screenshot is taken
  return failures;
}

/** Calls the API from inside the page, with the page's own cookie and origin. */
export async function api(page, method, path, body) {
  return page.evaluate(async ({ method, path, body }) => {
    const response = await fetch(path, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: 'same-origin',
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }, { method, path, body });
}

/** A small real GIF (2×2, two frames), base64-encoded. */
export const TINY_GIF = Buffer.from(
  'R0lGODlhAgACAPABAP8AAP///yH/C05FVFNDQVBFMi4wAwEAAAAh+QQAFAAAACwAAAAAAgACAAACAoRRACH5BAAUAAAALAAAAAACAAIAAAIChF8AOw==',
  'base64',
);

// ---------------------------------------------------------------------------
// Suite set-up and checks shared by the test files
// ---------------------------------------------------------------------------

/**
 * Starts a server and a browser for one test file. `teardown()` is safe to call even when
 * the set-up failed half-way.
 */
export async function setUp(env) {
  const suite = { server: null, browser: null, errors: [] };
  suite.user = () => newUser(suite.browser, suite.errors);
  suite.teardown = async () => {
    await suite.browser?.close().catch(() => {});
    await suite.server?.cleanup();
  };
  try {
    suite.server = await startServer(env);
    suite.browser = await launchBrowser();
  } catch (error) {
    await suite.teardown();
    throw error;
  }
  return suite;
}

/**
 * Chrome logs every 4xx/5xx answer as "Failed to load resource: …". The ones listed here are
 * caused on purpose by tests (wrong password, validation errors, full rooms); 404 and 5xx are
 * never filtered, because they would hide broken assets and server faults.
 */
const EXPECTED_HTTP_ERRORS = /^Failed to load resource: the server responded with a status of (403|409|422)\b/;

export function unexpectedErrors(errors) {
  return errors.filter((line) => !EXPECTED_HTTP_ERRORS.test(line.replace(/^.*?: console: /, '')));
}

/**
 * Removes the one network log line Chrome writes when `url` answers `status` (a test that
 * asks for a missing room on purpose), and fails if there is no such line.
 */
export function takeExpectedHttpError(errors, status, url) {
  const index = errors.findIndex((line) => line.includes(`: console: Failed to load resource: the server responded with a status of ${status} `)
    && line.endsWith(` [${url}]`));
  if (index < 0) throw new Error(`expected Chrome to log ${status} for ${url}; errors: ${errors.join(' | ')}`);
  return errors.splice(index, 1)[0];
}

export function assertNoErrors(errors) {
  const left = unexpectedErrors(errors);
  if (left.length) {
    throw new Error(`pages logged ${left.length} unexpected error(s):\n  ${left.join('\n  ')}`);
  }
}

/**
 * Chrome's network log lines for connections cut or refused by a server that is down. Only
 * `takeOutageErrors` removes them, for the time a test kills the server on purpose.
 */
const OUTAGE_ERRORS = new RegExp(
  ': console: (Failed to load resource|WebSocket connection to \'[^\']*\' failed: Error in connection establishment): '
  + 'net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE)( \\[.*\\])?$',
);

/**
 * Removes from `errors` (from index `mark` on) the lines a deliberate server outage causes,
 * and returns them; every other line stays, to fail `assertNoErrors`.
 */
export function takeOutageErrors(errors, mark) {
  const during = errors.splice(mark);
  const outage = during.filter((line) => OUTAGE_ERRORS.test(line));
  errors.push(...during.filter((line) => !OUTAGE_ERRORS.test(line)));
  return outage;
}

/**
 * Polls `check` (sync or async) until it returns something truthy, and returns that.
 * On timeout, fails with `message` and the last value (or error) seen.
 */
export async function waitFor(check, { timeout = 10_000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (last: ${detail})`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** GET /api/me from inside the page: { id, name, color }. */
export async function whoAmI(page) {
  const { status, body } = await api(page, 'GET', '/api/me');
  if (status !== 200) throw new Error(`GET /api/me answered ${status}`);
  return body;
}

export async function waitForConnection(page, state = 'connected', timeout = 15_000) {
  await page.waitForSelector(`#connection[data-state="${state}"]`, { state: 'attached', timeout });
}

/** Opens /rooms/{id} and waits until the page has entered the room and its stream is live. */
export async function openRoom(page, server, roomId) {
  await page.goto(`${server.url}/rooms/${encodeURIComponent(roomId)}`);
  await waitUntilInRoom(page);
}

export async function waitUntilInRoom(page) {
  try {
    await page.waitForSelector('#chat[data-state="ready"]', { state: 'attached' });
    await waitForConnection(page);
  } catch (error) {
    error.message += `\n  room page state: ${JSON.stringify(await roomPageState(page).catch((e) => e.message))}`;
    throw error;
  }
}

/** What a room page shows about itself, for failure messages. */
export function roomPageState(page) {
  return page.evaluate(() => {
    const text = (id) => {
      const el = document.getElementById(id);
      return el && !el.hidden ? el.textContent.trim() : null;
    };
    return {
      url: location.href,
      chat: document.getElementById('chat')?.dataset.state,
      connection: document.getElementById('connection')?.dataset.state,
      notice: text('room-notice'),
      composerError: text('composer-error'),
      dialogOpen: document.getElementById('password-dialog')?.open,
    };
  });
}

/** Opens the lobby and waits for its room list (the stream's first snapshot). */
export async function openLobby(page, server) {
  await page.goto(`${server.url}/`);
  await waitForConnection(page);
  await page.waitForFunction(() => document.getElementById('me').textContent !== '…');
}

/** Creates a room with the lobby form and waits for the room page; returns the room id. */
export async function createRoomWithForm(page, { title, max, password } = {}) {
  const form = page.locator('#create-room');
  await form.locator('input[name="title"]').fill(title);
  if (max !== undefined) await form.locator('input[name="max"]').fill(String(max));
  if (password !== undefined) await form.locator('input[name="password"]').fill(password);
  await form.locator('button[type="submit"]').click();
  await page.waitForURL(/\/rooms\/[^/]+$/);
  await waitUntilInRoom(page);
  return decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
}

/**
 * Types `text` into the composer and presses Enter; returns the id of the message shown.
 * `kind: 'whisper'` when the composer is in whisper mode.
 */
export async function sendText(page, text, { kind = 'chat' } = {}) {
  const box = page.locator('#composer textarea[name="text"]');
  await box.fill(text);
  await box.press('Enter');
  const handle = await page.waitForFunction(({ text, kind }) => {
    const mine = [...document.querySelectorAll(`#messages .message.mine[data-kind="${kind}"]`)];
    const found = mine.find((node) => node.querySelector('.message-text')?.textContent === text);
    return found ? Number(found.dataset.messageId) : null;
  }, { text, kind });
  return handle.jsonValue();
}

/** Waits until the page shows a message with this id; returns { side, kind, text }. */
export async function waitForMessage(page, id, timeout = 15_000) {
  const node = await page.waitForSelector(`#messages .message[data-message-id="${id}"]`, { state: 'attached', timeout });
  return node.evaluate((el) => ({
    side: ['mine', 'theirs', 'system'].find((c) => el.classList.contains(c)) ?? null,
    kind: el.dataset.kind,
    text: el.querySelector('.message-text')?.textContent ?? null,
    author: el.querySelector('.message-author')?.textContent ?? null,
  }));
}

/** Waits until a message with exactly this text is shown; returns its id. */
export async function waitForText(page, text, timeout = 15_000) {
  const handle = await page.waitForFunction((text) => {
    const found = [...document.querySelectorAll('#messages .message')]
      .find((node) => node.querySelector('.message-text')?.textContent === text);
    return found ? Number(found.dataset.messageId) : null;
  }, text, { timeout });
  return handle.jsonValue();
}

/** The ids of `.message[data-message-id]` in DOM order. */
export function messageIds(page) {
  return page.$$eval('#messages .message[data-message-id]', (nodes) => nodes.map((n) => Number(n.dataset.messageId)));
}

/** Asserts that ids are unique and strictly increasing in DOM order. */
export function checkOrder(ids) {
  for (let i = 1; i < ids.length; i += 1) {
    if (!(ids[i] > ids[i - 1])) {
      throw new Error(`message ids are not strictly increasing in DOM order: ${ids.join(', ')}`);
    }
  }
}

export function hexToRgb(hex) {
  const match = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!match) throw new Error(`not a #rrggbb colour: ${hex}`);
  return [0, 2, 4].map((i) => parseInt(match[1].slice(i, i + 2), 16));
}

export function parseRgb(css) {
  const match = /^rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)$/.exec(css);
  if (!match) throw new Error(`not an rgb() colour: ${css}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** WCAG contrast ratio of an sRGB colour against white. */
export function contrastWithWhite([r, g, b]) {
  const linear = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 1.05 / (0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b) + 0.05);
}

/**
 * Whether a computed CSS colour is "drawn in the user's colour". The front-end keeps a
 * colour that is readable on white (contrast ≥ 5:1) exactly as it is, and darkens a lighter
 * one, keeping its hue, until it reaches at least WCAG AA (4.5:1). So: exact rgb() of the
 * user's colour when that is readable, otherwise a darker shade with the same channel ratios,
 * readable but not needlessly dark (contrast 4.5–7).
 * Returns null when it matches, or a description of the mismatch.
 */
export function colourMismatch(computedCss, hex) {
  const computed = parseRgb(computedCss);
  const original = hexToRgb(hex);
  const exact = `rgb(${original.join(', ')})`;
  if (contrastWithWhite(original) >= 5) {
    return computedCss === exact ? null : `expected ${exact} (${hex}), got ${computedCss}`;
  }
  const contrast = contrastWithWhite(computed);
  if (contrast < 4.5) return `${computedCss} is not readable on white (${hex} needed darkening)`;
  if (contrast > 7) return `${computedCss} is much darker than ${hex} needs to be readable`;
  const factor = Math.max(...computed) / Math.max(...original);
  const sameHue = factor >= 0.3 && factor <= 1
    && original.every((c, i) => Math.abs(c * factor - computed[i]) <= 3);
  return sameHue ? null : `${computedCss} is not a darker shade of ${hex} (${exact})`;
}

/**
 * Encodes a single-frame GIF of `width`×`height` whose pixel (x, y) is `palette[pixel(x, y)]`
 * (palette: up to 4 [r, g, b] colours). For screenshots where a 2×2 GIF would be invisible.
 * The LZW step follows omggif's encoder.
 */
export function makeGif(width, height, palette, pixel) {
  const colours = [...palette, ...Array(4).fill([0, 0, 0])].slice(0, 4);
  const bytes = [];
  const u16 = (n) => bytes.push(n & 0xff, n >> 8);
  bytes.push(...Buffer.from('GIF89a'));
  u16(width);
  u16(height);
  bytes.push(0xf1, 0, 0); // global colour table of 4 entries
  for (const [r, g, b] of colours) bytes.push(r, g, b);
  bytes.push(0x2c);
  u16(0);
  u16(0);
  u16(width);
  u16(height);
  bytes.push(0);

  const indices = [];
  for (let y = 0; y < height; y += 1) for (let x = 0; x < width; x += 1) indices.push(pixel(x, y) & 3);
  const minCodeSize = 2;
  const clearCode = 1 << minCodeSize;
  const eoiCode = clearCode + 1;
  let nextCode = eoiCode + 1;
  let codeSize = minCodeSize + 1;
  let table = new Map();
  const data = [];
  let cur = 0;
  let shift = 0;
  const emit = (code) => {
    cur |= code << shift;
    shift += codeSize;
    while (shift >= 8) {
      data.push(cur & 0xff);
      cur >>>= 8;
      shift -= 8;
    }
  };
  emit(clearCode);
  let prefix = indices[0];
  for (let i = 1; i < indices.length; i += 1) {
    const k = indices[i];
    const key = (prefix << 8) | k;
    const known = table.get(key);
    if (known !== undefined) {
      prefix = known;
      continue;
    }
    emit(prefix);
    if (nextCode === 4096) {
      emit(clearCode);
      nextCode = eoiCode + 1;
      codeSize = minCodeSize + 1;
      table = new Map();
    } else {
      if (nextCode >= 1 << codeSize) codeSize += 1;
      table.set(key, nextCode);
      nextCode += 1;
    }
    prefix = k;
  }
  emit(prefix);
  emit(eoiCode);
  if (shift > 0) data.push(cur & 0xff);

  bytes.push(minCodeSize);
  for (let i = 0; i < data.length; i += 255) {
    const block = data.slice(i, i + 255);
    bytes.push(block.length, ...block);
  }
  bytes.push(0, 0x3b);
  return Buffer.from(bytes);
}
