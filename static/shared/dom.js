// DOM helpers: building elements, times, readable user colours, the header identity.
//
// Everything user-supplied is put into the page with textContent / text nodes only:
// the CSP forbids inline scripts, and we never want to parse user data as HTML.

/**
 * Builds an element. `props.text` sets textContent, `props.class` the class list, anything
 * else becomes an attribute (null/false values are skipped). Children may be nodes or strings.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') element.textContent = String(value);
    else if (key === 'class') element.className = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** A <time> showing HH:MM, with the full local date and time as tooltip. */
export function timeElement(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('time');
  const pad = (n) => String(n).padStart(2, '0');
  return h('time', {
    datetime: date.toISOString(),
    title: date.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' }),
    text: `${pad(date.getHours())}:${pad(date.getMinutes())}`,
  });
}

/**
 * User colours are random, and a light one (say #f4e04d) is unreadable as text on white.
 * Keep the hue but darken it until it reaches WCAG AA contrast (4.5:1) against white,
 * with a little margin for the tinted bubbles.
 */
export function readableColor(hex) {
  const rgb = parseHex(hex);
  if (!rgb) return '';
  let [r, g, b] = rgb;
  for (let step = 0; step < 20 && contrast([r, g, b], WHITE) < 5; step += 1) {
    [r, g, b] = [r, g, b].map((c) => Math.round(c * 0.88));
  }
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * The dark scheme's counterpart: a dark colour (say #1e3a8a) is unreadable on the dark
 * surfaces, so mix it towards white, keeping the hue, until it reaches 5:1 against the
 * lightest of them (the whisper tint).
 */
export function readableColorOnDark(hex) {
  const rgb = parseHex(hex);
  if (!rgb) return '';
  let [r, g, b] = rgb;
  for (let step = 0; step < 30 && contrast([r, g, b], DARK_SURFACE) < 5; step += 1) {
    [r, g, b] = [r, g, b].map((c) => Math.round(c + (255 - c) * 0.12));
  }
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * Draws `element`'s text in a user's colour, readable in either scheme: both shades go into
 * custom properties and app.css's .user-color picks the one for the scheme in force.
 */
export function paintUserColor(element, hex) {
  const light = readableColor(hex);
  if (!light) {
    element.classList.remove('user-color');
    element.style.removeProperty('--user-color');
    element.style.removeProperty('--user-color-dark');
    return;
  }
  element.classList.add('user-color');
  element.style.setProperty('--user-color', light);
  element.style.setProperty('--user-color-dark', readableColorOnDark(hex));
}

const WHITE = [255, 255, 255];
/** app.css's dark --whisper-bg-mine, the lightest surface a name is drawn on in the dark scheme. */
const DARK_SURFACE = [0x35, 0x24, 0x3f];

function parseHex(hex) {
  const match = /^#?([0-9a-f]{6})$/i.exec(String(hex ?? ''));
  return match ? [0, 2, 4].map((i) => parseInt(match[1].slice(i, i + 2), 16)) : null;
}

function luminance([r, g, b]) {
  const linear = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** WCAG contrast ratio of two sRGB colours. */
function contrast(a, b) {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

/** Fills the header identity block: colour swatch + name in `#me`. */
export function renderIdentity(me) {
  const name = document.getElementById('me');
  const swatch = document.getElementById('me-swatch');
  if (name) name.textContent = me.name;
  if (swatch) swatch.style.backgroundColor = me.color;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function prefersReducedMotion() {
  return window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}
