/**
 * Step-up authentication (Redis) and trusted login sources (Postgres):
 *
 * - `POST /api/v1/auth/reauthenticate` (password and second factor again: the app's code or a recovery
 *   code, or a code mailed for this session) marks the caller's session as recently re-authenticated for
 *   REAUTH_TTL_SECONDS (config, default 5 minutes); changing the second factor requires that mark, so a
 *   stolen access token, even with the password, cannot bind an attacker's authenticator.
 * - A source (client address) becomes trusted for an account after a completed login (password and second
 *   factor) or after the owner opened a mailed unlock link on it, for TRUSTED_SOURCE_TTL_SECONDS from
 *   the last of those (the injected clock). Trusted sources are exempt from the per-account login limit, so
 *   strangers failing on an account never lock its owner out (ADR 0008). They are rows of
 *   `trusted_sources` (migration 0025), so a Redis restart forgets none: before, a sorted set in Redis,
 *   emptied by every restart, made the owner's usual address a new one (a new-login mail, and the
 *   per-account limit strangers can exhaust). Each check or renewal is one indexed statement.
 */
import { randomInt } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DbOrTx } from '../../db/client.js';
import { isTrustedSource, trustSource } from '../../db/queries/users.js';
import { ApiError } from '../problem.js';
import { keyId, randomToken, tokenHash } from './crypto.js';

export const TRUSTED_SOURCE_TTL_SECONDS = 90 * 24 * 3600;
export const UNLOCK_TTL_SECONDS = 3600;

export class StepUp {
  constructor(
    private readonly redis: Redis,
    private readonly db: DbOrTx,
    private readonly prefix: string,
    /** How long a re-authentication counts as recent (REAUTH_TTL_SECONDS). */
    readonly reauthTtlSeconds: number,
    private readonly now: () => Date,
  ) {}

  private reauthKey = (sessionId: string) => `${this.prefix}auth:reauth:${sessionId}`;
  private unlockKey = (hash: string) => `${this.prefix}auth:unlock:${hash}`;
  private unlockMailedKey = (email: string) =>
    `${this.prefix}auth:unlock-mailed:${keyId(email.toLowerCase())}`;

  private reauthCodeKey = (sessionId: string) => `${this.prefix}auth:reauth-code:${sessionId}`;

  /**
   * A new 6-digit code for this session's re-authentication (an account without an app mails it), valid
   * `ttlSeconds`; it replaces the session's previous one. Random, not a login code: a login elsewhere
   * neither spends nor reveals it, and it works for this session only.
   */
  async newCode(sessionId: string, ttlSeconds: number): Promise<string> {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await this.redis.set(this.reauthCodeKey(sessionId), tokenHash(code), 'EX', ttlSeconds);
    return code;
  }

  /** Spend this session's mailed code: true once for the right code (the delete decides a race). */
  async spendCode(sessionId: string, code: string): Promise<boolean> {
    const key = this.reauthCodeKey(sessionId);
    const stored = await this.redis.get(key);
    return stored !== null && stored === tokenHash(code) && (await this.redis.del(key)) === 1;
  }

  async markReauthenticated(sessionId: string): Promise<void> {
    await this.redis.set(this.reauthKey(sessionId), '1', 'EX', this.reauthTtlSeconds);
  }

  /** 403 unless the session re-authenticated within `reauthTtlSeconds`. */
  async requireRecent(sessionId: string): Promise<void> {
    if (await this.redis.exists(this.reauthKey(sessionId))) return;
    throw new ApiError(
      'forbidden',
      'This change needs a recent re-authentication (password and second factor): POST /api/v1/auth/reauthenticate first',
      undefined,
      undefined,
      { reauthentication_required: true },
    );
  }

  /** `address` as a trusted source, now, and the time at or before which its trust has lapsed. */
  private sourceNow(address: string | undefined) {
    const now = this.now();
    const since = new Date(now.getTime() - TRUSTED_SOURCE_TTL_SECONDS * 1000);
    return { source: keyId(address ?? 'unknown'), now, since };
  }

  /**
   * Trust `address` for the account from now on; true when it was not trusted (a new or lapsed source).
   * `db`: the transaction of the login that trusts it, which then commits with its session or not at all.
   */
  async trust(email: string, address: string | undefined, db = this.db): Promise<boolean> {
    return trustSource(db, { email, ...this.sourceNow(address) });
  }

  async isTrusted(email: string, address: string | undefined): Promise<boolean> {
    return isTrustedSource(this.db, { email, ...this.sourceNow(address) });
  }

  /** A new unlock token for `email`, or undefined when one was mailed within the last window. */
  async newUnlockToken(email: string): Promise<string | undefined> {
    const first = await this.redis.set(this.unlockMailedKey(email), '1', 'EX', UNLOCK_TTL_SECONDS, 'NX');
    if (first !== 'OK') return undefined;
    const token = randomToken();
    await this.redis.set(this.unlockKey(tokenHash(token)), email.toLowerCase(), 'EX', UNLOCK_TTL_SECONDS);
    return token;
  }

  /** Use an unlock token once: its account trusts `address` from now on. */
  async unlock(token: string, address: string | undefined): Promise<boolean> {
    const email = await this.redis.getdel(this.unlockKey(tokenHash(token)));
    if (!email) return false;
    await this.trust(email, address);
    return true;
  }
}
