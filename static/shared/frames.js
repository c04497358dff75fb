// What the live transports receive: frames of JSON, and roughly how many bytes each took on
// the wire (JavaScript cannot see the raw traffic; /compare shows these estimates).

/** Rough size of an HTTP response's status line and headers. */
export const HTTP_HEADERS_BYTES = 300;
/** Rough size of the 101 Switching Protocols answer that opens a WebSocket. */
export const WS_HANDSHAKE_BYTES = 200;

const encoder = new TextEncoder();

export function byteLength(text) {
  return encoder.encode(text).length;
}

/**
 * An SSE event block as the server writes it: `event:`, `id:` and `data:` lines and a blank
 * line. The page cannot tell whether this event had an `id:` line (lastEventId stays from the
 * one before), so a non-empty id counts as one.
 */
export function sseEventBytes(name, lastEventId, data) {
  const id = lastEventId ? `id: ${lastEventId}\n` : '';
  return byteLength(`event: ${name}\n${id}data: ${data}\n\n`);
}

/** A WebSocket text frame from the server: its text plus the 2, 4 or 10 byte frame header. */
export function wsFrameBytes(text) {
  const size = byteLength(text);
  return size + (size < 126 ? 2 : size < 65536 ? 4 : 10);
}

/** The frame's JSON, or undefined for a malformed one (skipped rather than break the stream). */
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
