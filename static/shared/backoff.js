// Waiting between reconnects, shared by the WebSocket and long-polling transports.

/** Exponential back-off for reconnecting: 1 s, 2 s, 4 s, 8 s, then 15 s, each ±25 % jitter. */
export function backoffDelay(attempt) {
  const base = Math.min(15_000, 1000 * 2 ** Math.min(attempt, 4));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
