// Web addresses in chat text as links, built as DOM nodes (never HTML), so the text stays
// text: only http and https addresses become links, and each opens in a new tab without
// handing the chat page to the site it opens (noopener), without telling it where the
// reader came from (noreferrer), and without lending the room's reputation to it (nofollow).

import { h } from '/shared/dom.js';

/** An address starts at http:// or https:// (or www.) and runs to the next white space. */
const ADDRESS = /\b(?:https?:\/\/|www\.)[^\s<>"]+/giu;
/** Punctuation that ends a sentence more often than an address: "see https://x.org." */
const TRAILING = /[.,;:!?'"’”)\]}>]+$/u;

/**
 * The text as a list of strings and <a> elements. A closing bracket stays in the address
 * when the address opened one ("https://en.wikipedia.org/wiki/Rust_(language)").
 */
export function linkedText(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(ADDRESS)) {
    const address = trimTrailing(match[0]);
    const href = toHref(address);
    if (!href) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow', text: address }));
    last = match.index + address.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function trimTrailing(address) {
  let trimmed = address.replace(TRAILING, '');
  // Give back closing brackets the address itself opened.
  for (const [open, close] of [['(', ')'], ['[', ']']]) {
    while (address.length > trimmed.length && address[trimmed.length] === close
      && count(trimmed, open) > count(trimmed, close)) {
      trimmed += close;
    }
  }
  return trimmed;
}

function count(text, character) {
  return text.split(character).length - 1;
}

/** The link's target, or null for anything that is not a well-formed http(s) address. */
function toHref(address) {
  try {
    const url = new URL(/^www\./iu.test(address) ? `https://${address}` : address);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (!url.hostname) return null;
    return url.href;
  } catch {
    return null;
  }
}
