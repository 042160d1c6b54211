/**
 * Revocation that takes effect: when a session ends (logout, refresh-token reuse) or every session of a
 * user ends (password change or reset, suspension), an event goes out on one Redis pub/sub channel. Every
 * api instance's feeds, /ws and /cable, close the matching sockets at once (api/ws/revocations.ts). REST
 * requests with a still unexpired access token fail from the next one on through the revocation mark in
 * Redis, which the session check reads on every request (sessions.ts). Design:
 * docs/adr/0008-identity-and-tokens.md.
 */
import { z } from 'zod';

export const RevocationEvent = z.object({
  /** Every session of this user ended (user-wide revocation). */
  user_id: z.string().optional(),
  /** These sessions (refresh-token families, the access token's `sid`) ended. */
  session_ids: z.array(z.string()).default([]),
  reason: z.string(),
});
export type RevocationEvent = z.infer<typeof RevocationEvent>;

export const revocationChannel = (redisPrefix: string) => `${redisPrefix}auth:revocations`;

/** Whether an event ends the session `sessionId` of user `userId`. */
export function revokes(event: RevocationEvent, userId: string, sessionId: string): boolean {
  return event.user_id === userId || event.session_ids.includes(sessionId);
}
