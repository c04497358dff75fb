// Shared helpers for the gif-chat pages: JSON fetch, GIF upload, error display,
// safe DOM building, the live transports (SSE, WebSocket, long-polling) and the room password
// dialog. Each lives in its own module under /shared/; this one gathers them so the pages
// import from one place.

export { MAX_GIF_BYTES, ApiError, api, joinRoom, uploadGif } from '/shared/http.js';
export { sentence, errorText, showError, clearError, installGlobalErrorHandler } from '/shared/errors.js';
export {
  h, timeElement, readableColor, renderIdentity, formatBytes, prefersReducedMotion,
} from '/shared/dom.js';
export {
  TRANSPORT_LABELS, setConnectionState, setConnectionTransport, showTransportState,
} from '/shared/connection-indicator.js';
export { LiveStream } from '/shared/live-stream.js';
export { backoffDelay } from '/shared/backoff.js';
export { RoomSocket } from '/shared/room-socket.js';
export { LongPoll } from '/shared/long-poll.js';
export { enterRoom, askPassword } from '/shared/password.js';
