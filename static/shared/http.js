// HTTP: the JSON API, joining a room and uploading a GIF, and the ApiError they reject with.

/** Largest GIF the server accepts (5 MiB); checked before uploading to save a round trip. */
export const MAX_GIF_BYTES = 5 * 1024 * 1024;

const NETWORK_MESSAGE = 'Could not reach the server. Check your connection and try again.';

/** An error answer from the API (`{error, message}`), or status 0 for network failures. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the JSON API. Resolves with the parsed body (null for 204), rejects with ApiError.
 * A body of `undefined` sends no body at all (POST /join of an open room wants none).
 */
export async function api(path, { method = 'GET', body } = {}) {
  try {
    return await call(path, method, body);
  } catch (error) {
    // The session cookie is gone (cleared, or the server's secret changed): only /api/me
    // hands out a new one. Get it, then try once more.
    if (error.code !== 'no_session' || path === '/api/me') throw error;
    await call('/api/me', 'GET');
    return call(path, method, body);
  }
}

async function call(path, method, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network_error', NETWORK_MESSAGE);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw toApiError(response.status, data);
  return data;
}

export function toApiError(status, data) {
  if (data && typeof data.error === 'string') {
    return new ApiError(status, data.error, data.message || data.error);
  }
  return new ApiError(status, `http_${status}`, `The server answered with an error (${status}).`);
}

/** POST /api/rooms/{id}/join; no body unless a password is given. */
export function joinRoom(roomId, password) {
  const body = password === undefined ? undefined : { password };
  return api(`/api/rooms/${encodeURIComponent(roomId)}/join`, { method: 'POST', body });
}

/**
 * Uploads a GIF with XMLHttpRequest, because fetch cannot report upload progress.
 * Returns { promise, abort }; the promise resolves with the created Message.
 */
export function uploadGif(roomId, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', `/api/rooms/${encodeURIComponent(roomId)}/gifs`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // leave data null; handled below
      }
      if (xhr.status >= 200 && xhr.status < 300 && data) resolve(data);
      else reject(toApiError(xhr.status, data));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network_error', NETWORK_MESSAGE)));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled.')));
    const form = new FormData();
    form.append('gif', file, file.name || 'pasted.gif');
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
