// One column of /compare: the counters and the last messages of one transport.

import { h } from '/shared/dom.js';

/** Messages listed per column; older ones drop off the end. */
const LOG_SIZE = 20;

export class Column {
  constructor(id) {
    this.root = document.getElementById(id);
    const part = (role) => this.root.querySelector(`[data-role="${role}"]`);
    this.countEl = this.root.querySelector('.count');
    this.bytesEl = part('bytes');
    this.requestsEl = part('requests');
    this.lastIdEl = part('last-id');
    this.latencyEl = part('latency');
    this.statusEl = part('status');
    this.logEl = part('log');
    this.stateEl = part('state');
    this.endpointEl = part('endpoint');
    this.endpointTemplate = this.endpointEl.textContent;
    this.reset(null);
  }

  reset(roomId) {
    this.count = 0;
    this.bytes = 0;
    this.requests = 0;
    this.lastId = null;
    this.latency = { last: null, sum: 0, samples: 0, max: 0 };
    this.logEl.replaceChildren();
    this.setStatus('');
    this.endpointEl.textContent = roomId ? this.endpointTemplate.replace('{id}', roomId) : this.endpointTemplate;
    this.render();
  }

  addRequest() {
    this.requests += 1;
    this.render();
  }

  addBytes(count) {
    this.bytes += count;
    this.render();
  }

  /** Records one message; false for a duplicate (an id this column already has). */
  deliver(message, receivedAt = Date.now()) {
    if (!message || typeof message.id !== 'number') return false;
    if (this.lastId !== null && message.id <= this.lastId) return false;
    this.lastId = message.id;
    this.count += 1;
    const created = Date.parse(message.created_at);
    if (Number.isFinite(created)) {
      const latency = receivedAt - created;
      this.latency.last = latency;
      this.latency.sum += latency;
      this.latency.samples += 1;
      this.latency.max = this.latency.samples === 1 ? latency : Math.max(this.latency.max, latency);
    }
    this.logEl.prepend(messageItem(message));
    while (this.logEl.childElementCount > LOG_SIZE) this.logEl.lastElementChild.remove();
    this.render();
    return true;
  }

  render() {
    this.countEl.textContent = String(this.count);
    this.bytesEl.textContent = `≈ ${bytesText(this.bytes)}`;
    this.bytesEl.title = `about ${this.bytes.toLocaleString()} bytes`;
    this.requestsEl.textContent = String(this.requests);
    this.lastIdEl.textContent = this.lastId === null ? '–' : `#${this.lastId}`;
    const { last, sum, samples, max } = this.latency;
    this.latencyEl.textContent = samples === 0 ? '–' : `${last} · ${Math.round(sum / samples)} · ${max} ms`;
  }

  /** The pill: state is connected / reconnecting / offline (colours from app.css). */
  setState(state, label) {
    this.stateEl.dataset.state = state;
    this.stateEl.querySelector('.connection-label').textContent = label;
  }

  setStatus(text, tone = '') {
    this.statusEl.textContent = text;
    if (tone) this.statusEl.dataset.tone = tone;
    else delete this.statusEl.dataset.tone;
  }
}

function messageItem(message) {
  const body = message.kind === 'gif'
    ? `[GIF${message.gif_width ? ` ${message.gif_width}×${message.gif_height}` : ''}]`
    : String(message.text ?? '');
  const author = message.kind === 'system' ? null : message.user?.name;
  const who = author ? `${author}${message.kind === 'whisper' ? ' (whisper)' : ''}: ` : null;
  return h('li', { 'data-id': message.id, 'data-kind': message.kind },
    h('span', { class: 'message-id', text: `#${message.id}` }),
    h('span', { class: 'message-body' }, who && h('span', { class: 'message-who', text: who }), body));
}

/** Bytes as people read them: B, then KiB with one decimal, then MiB with two. */
function bytesText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}
