// The connection indicator in the header: its state and the transport it is over.

const CONNECTION_LABELS = {
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

/** The room page's live transports: the value kept in localStorage → what people read. */
export const TRANSPORT_LABELS = {
  sse: 'SSE',
  ws: 'WebSocket',
  poll: 'Polling',
};

const TRANSPORT_TITLES = {
  sse: 'Server-Sent Events',
  ws: 'WebSocket',
  poll: 'long-polling',
};

/** Updates `#connection`: data-state is what tests read, the label is what people read. */
export function setConnectionState(state) {
  const indicator = document.getElementById('connection');
  if (!indicator) return;
  indicator.dataset.state = state;
  const label = indicator.querySelector('.connection-label');
  if (label) label.textContent = CONNECTION_LABELS[state] ?? state;
  updateConnectionTitle(indicator);
}

/**
 * Says which transport carries the page's events: `data-transport` on `#connection` (for
 * tests and CSS) and its short name in `.connection-transport` (for people).
 */
export function setConnectionTransport(transport) {
  const indicator = document.getElementById('connection');
  if (!indicator) return;
  indicator.dataset.transport = transport;
  const label = indicator.querySelector('.connection-transport');
  if (label) label.textContent = TRANSPORT_LABELS[transport] ?? transport;
  updateConnectionTitle(indicator);
}

function updateConnectionTitle(indicator) {
  const { state, transport } = indicator.dataset;
  const over = TRANSPORT_TITLES[transport] ? ` (over ${TRANSPORT_TITLES[transport]})` : '';
  indicator.title = `Connection: ${CONNECTION_LABELS[state] ?? state}${over}`;
}
