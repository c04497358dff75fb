// The connection indicator in the header (`#connection`): its state and the transport it is
// over. The transports themselves touch no page element; the pages show what they report here.

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

let countdown = null;

/** Updates `#connection`: data-state is what tests read, the label is what people read. */
export function setConnectionState(state) {
  clearInterval(countdown);
  countdown = null;
  const retry = document.getElementById('connection-retry');
  if (retry) retry.hidden = true;
  const indicator = document.getElementById('connection');
  if (!indicator) return;
  indicator.dataset.state = state;
  const label = indicator.querySelector('.connection-label');
  if (label) label.textContent = CONNECTION_LABELS[state] ?? state;
  updateConnectionTitle(indicator);
}

/**
 * The server did not answer (it may be restarting): "Reconnecting in N s…", counting down to
 * the next attempt at `at` (ms since the epoch; null when the browser picks the moment), and
 * a "Retry now" button that calls `retryNow`. Only a browser that knows it has no network
 * says "Offline": a server being away is not the reader's connection being gone.
 */
export function showReconnecting(at, retryNow) {
  if (navigator.onLine === false) {
    setConnectionState('offline');
    return;
  }
  setConnectionState('reconnecting');
  const label = document.querySelector('#connection .connection-label');
  const tick = () => {
    const seconds = at === null ? 0 : Math.ceil((at - Date.now()) / 1000);
    if (label) label.textContent = seconds > 0 ? `Reconnecting in ${seconds} s…` : CONNECTION_LABELS.reconnecting;
    if (seconds <= 0 && countdown) {
      clearInterval(countdown);
      countdown = null;
    }
  };
  tick();
  if (at !== null) countdown = setInterval(tick, 1000);
  const retry = document.getElementById('connection-retry');
  if (retry) {
    retry.hidden = false;
    retry.onclick = () => {
      retry.hidden = true;
      retryNow();
    };
  }
}

/**
 * Shows what a transport reports through its onState callback (see LiveStream): a retry
 * being waited for as the countdown with its "Retry now" button, any other state as it is.
 */
export function showTransportState(state, detail) {
  if (detail?.retryNow) showReconnecting(detail.retryAt ?? null, detail.retryNow);
  else setConnectionState(state);
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
