/**
 * Step-up authentication and trusted login sources, both in Redis:
 *
 * - `POST /api/v1/auth/reauthenticate` (password and second factor again: the app's code or a recovery
 *   code, or a code mailed for this session) marks the caller's session as recently re-authenticated for
 *   REAUTH_TTL_SECONDS (config, default 5 minutes); changing the second factor requires that mark, so a
 *   stolen access token, even with the password, cannot bind an attacker's authenticator.
 * - A source (client address) becomes trusted for an account after a completed login (password and second
 *   factor) or after the owner opened a mailed unlock link on it, for TRUSTED_SOURCE_TTL_SECONDS from
 *   the last of those (the injected clock). Trusted sources are exempt from the per-account login limit, so
 *   strangers failing on an account never lock its owner out (ADR 0008). An account's sources are a sorted
 *   set scored by that time (ms); each new trust drops the lapsed ones. The key was a plain set once
 *   (`auth:trusted-sources:`, every source kept as long as any login came): it has a new name so those
 *   old keys are never written to (no WRONGTYPE) and expire by themselves. Until they have (90 days after
 *   the change), a source in an account's old set still counts as trusted, so the change does not send
 *   every owner a new-login mail; delete `legacySourcesKey` then.
 */
import { randomInt } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ApiError } from '../problem.js';
import { keyId, randomToken, tokenHash } from './crypto.js';

export const TRUSTED_SOURCE_TTL_SECONDS = 90 * 24 * 3600;
export const UNLOCK_TTL_SECONDS = 3600;

export class StepUp {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** How long a re-authentication counts as recent (REAUTH_TTL_SECONDS). */
    readonly reauthTtlSeconds: number,
    private readonly now: () => Date,
  ) {}

  private reauthKey = (sessionId: string) => `${this.prefix}auth:reauth:${sessionId}`;
  private sourcesKey = (email: string) =>
    `${this.prefix}auth:trusted-source-times:${keyId(email.toLowerCase())}`;
  private legacySourcesKey = (email: string) =>
    `${this.prefix}auth:trusted-sources:${keyId(email.toLowerCase())}`;
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

  /** At `now` (ms), sources last trusted at or before the time returned have lapsed. */
  private lapsedBefore = (now: number) => now - TRUSTED_SOURCE_TTL_SECONDS * 1000;

  /** Trust `address` for the account from now on; true when it was not trusted (a new or lapsed source). */
  async trust(email: string, address: string | undefined): Promise<boolean> {
    const key = this.sourcesKey(email);
    const now = this.now().getTime();
    const source = keyId(address ?? 'unknown');
    const results = await this.redis
      .multi()
      .zremrangebyscore(key, '-inf', this.lapsedBefore(now))
      .zadd(key, now, source)
      .expire(key, TRUSTED_SOURCE_TTL_SECONDS)
      .sismember(this.legacySourcesKey(email), source)
      .exec();
    return results?.[1]?.[1] === 1 && results?.[3]?.[1] !== 1;
  }

  async isTrusted(email: string, address: string | undefined): Promise<boolean> {
    const source = keyId(address ?? 'unknown');
    const [since, legacy] = await Promise.all([
      this.redis.zscore(this.sourcesKey(email), source),
      this.redis.sismember(this.legacySourcesKey(email), source),
    ]);
    return legacy === 1 || (since !== null && Number(since) > this.lapsedBefore(this.now().getTime()));
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
