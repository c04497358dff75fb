// Our seat in the room: a post needs one, and an owner can take it away for good.

import { ApiError, joinRoom } from '/shared/http.js';
import { roomId } from '/room/context.js';

/**
 * Seats expire when no stream is open (a long network drop, a laptop lid). A post then
 * gets not_a_member: take the seat again and retry once.
 */
export async function withSeat(action) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'not_a_member') throw error;
    await joinRoom(roomId);
    return action();
  }
}

/** Whether an answer says the owner removed us (the page then says so, and stops). */
export function isKicked(error) {
  return error instanceof ApiError && error.code === 'kicked';
}
