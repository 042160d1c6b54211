/**
 * Sessions: an access JWT plus a rotating opaque refresh token. All refresh tokens descending from one MFA
 * login form a family (the session id, `sid` in the access token). Presenting a rotated refresh token
 * again revokes the family; so does logout. A revoked family is also written to Redis for the access-token
 * lifetime, so the access tokens already issued in it stop working at once, not at their expiry. That
 * write comes after Postgres committed the revocation and is best effort: should Redis fail it, the
 * session check below refuses the session within SESSION_CHECK_CACHE_MS all the same, and the change that
 * revoked it (a password reset, say) still answers, mails and finishes (ADR 0017).
 *
 * Every accepted access token is also checked against Postgres (the user is active, the session not
 * revoked, the user's current role). The answer "live, with this role" is kept in Redis for
 * SESSION_CHECK_CACHE_MS, shared by every api instance and read in the same round trip as the revocation
 * mark: a suspension, a demotion or a revocation by any path takes effect within that time even without
 * an event, and the fleet asks Postgres about a busy session once per that time, not once per instance. A
 * token's role claim counts only while the user still has that role: an operator demoted is a client at
 * once, a client promoted becomes an operator at the next refresh or login. Revocations also publish an
 * event (revocation.ts) that closes the session's WebSockets on every instance. A session
 * whose refresh token went unused for REFRESH_IDLE_TIMEOUT_SECONDS ends at its next refresh. The owner
 * lists their live sessions (each token records the address and User-Agent it was issued to) and ends any
 * of them through the same revocation.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Db, DbOrTx } from '../../db/client.js';
import { USER_ROLES } from '../../db/schema.js';
import {
  clientAccountOf,
  findUserById,
  insertRefreshToken,
  isOwnLiveSession,
  listUserSessions,
  lockPasswordHash,
  refreshTokenFamily,
  revokeRefreshFamily,
  liveSessionRole,
  revokeUserSessions,
  rotateRefreshToken,
  type SessionSource,
  type UserRow,
  type UserSession,
} from '../../db/queries/users.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { ttlCache } from '../../lib/ttl-cache.js';
import { ApiError } from '../problem.js';
import type { Principal } from '../types.js';
import { passwordFingerprint } from './challenges.js';
import { randomToken, tokenHash } from './crypto.js';
import { revocationChannel, type RevocationEvent } from './revocation.js';
import { KEY_CACHE_MS, type KeyStore } from './keys.js';
import { InvalidTokenError, signAccessToken, verifyAccessToken, type VerifiedAccessToken } from './tokens.js';

export interface SessionDeps {
  db: Db;
  redis: Redis;
  config: Config;
  logger: Logger;
  now: () => Date;
  keys: KeyStore;
}

/** What verify_mfa and refresh answer. `token` is the contract's name; `access_token` the OAuth one. */
export interface TokenResponse {
  success: true;
  token: string;
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  expires_at: string;
  refresh_token: string;
  refresh_expires_at: string;
  user_id: string;
  account_id: string;
  email: string;
}

export const unauthorized = (detail = 'A valid access token is required') =>
  new ApiError('unauthorized', detail, undefined, {
    'www-authenticate': 'Bearer realm="brokerx", error="invalid_token"',
  });

/** How long the api trusts a "user active, session live" answer from Postgres (kept in Redis). */
export const SESSION_CHECK_CACHE_MS = 2000;

const ROLES: ReadonlySet<string> = new Set(USER_ROLES);

export class Sessions {
  private readonly checking = new Map<string, Promise<UserRow['role'] | undefined>>();
  /**
   * Access tokens whose signature and claims verified, by the exact token, never past their `exp` and no
   * longer than the key store trusts its keys: a client's next requests skip the signature check. The
   * revocation and session checks below run on every request all the same.
   */
  private readonly verifiedTokens = ttlCache<VerifiedAccessToken>({
    max: 10_000,
    ttlMs: KEY_CACHE_MS,
    now: () => this.deps.now().getTime(),
    expiresAt: (token) => token.expiresAt.getTime(),
  });

  constructor(private readonly deps: SessionDeps) {}

  private revokedKey(sessionId: string): string {
    return `${this.deps.config.REDIS_PREFIX}auth:revoked-session:${sessionId}`;
  }

  /** The role of a session Postgres found live, for SESSION_CHECK_CACHE_MS. */
  private liveKey(sessionId: string): string {
    return `${this.deps.config.REDIS_PREFIX}auth:live-session:${sessionId}`;
  }

  private async tokens(
    principal: Principal,
    familyId: string,
    refreshToken: string,
    refreshExpiresAt: Date,
  ): Promise<TokenResponse> {
    const now = this.deps.now();
    const ttl = this.deps.config.ACCESS_TOKEN_TTL_SECONDS;
    const access = await signAccessToken(
      await this.deps.keys.signingKey(),
      { ...principal, sessionId: familyId },
      now,
      ttl,
    );
    return {
      success: true,
      token: access.token,
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: ttl,
      expires_at: access.expiresAt.toISOString(),
      refresh_token: refreshToken,
      refresh_expires_at: refreshExpiresAt.toISOString(),
      user_id: principal.userId,
      account_id: principal.accountId,
      email: principal.email,
    };
  }

  /**
   * A new session after a successful MFA step, from `source` (shown to the owner in the session list), if
   * the user is still active and its password still the one the login checked (`password`, its
   * passwordFingerprint); else undefined. The user row is read FOR SHARE in the transaction that inserts
   * the refresh token, so a reset or change of the password, or a suspension, either committed first (no
   * session) or waits for this one, which it then ends with the user's other sessions. `alsoInTx`: the
   * login's other writes, in that transaction, so they commit with the session or not at all.
   */
  async issue(
    principal: Principal,
    source: SessionSource,
    password: string,
    alsoInTx?: (tx: DbOrTx) => Promise<void>,
  ): Promise<TokenResponse | undefined> {
    const now = this.deps.now();
    const familyId = randomUUID();
    const refreshToken = randomToken();
    const expiresAt = new Date(now.getTime() + this.deps.config.REFRESH_TOKEN_TTL_SECONDS * 1000);
    const issued = await this.deps.db.transaction(async (tx) => {
      const hash = await lockPasswordHash(tx, principal.userId);
      if (hash === undefined || passwordFingerprint(hash) !== password) return false;
      await insertRefreshToken(tx, {
        userId: principal.userId,
        familyId,
        tokenHash: tokenHash(refreshToken),
        expiresAt,
        createdAt: now,
        ...source,
      });
      await alsoInTx?.(tx);
      return true;
    });
    return issued ? this.tokens(principal, familyId, refreshToken, expiresAt) : undefined;
  }

  /** Rotate a refresh token: a new pair, or 401 (unknown, expired, revoked, or reused: family revoked). */
  async refresh(refreshToken: string, source: SessionSource): Promise<TokenResponse> {
    const successor = randomToken();
    const now = this.deps.now();
    const outcome = await rotateRefreshToken(this.deps.db, {
      tokenHash: tokenHash(refreshToken),
      successorHash: tokenHash(successor),
      now,
      idleSince: this.idleSince(now),
      source,
    });
    if (outcome.kind === 'idle') {
      await this.markRevoked([outcome.familyId]);
      await this.publish({ session_ids: [outcome.familyId], reason: 'idle_timeout' });
      throw unauthorized('The session timed out after inactivity: log in again');
    }
    if (outcome.kind === 'reused') {
      await this.markRevoked([outcome.familyId]);
      await this.publish({ session_ids: [outcome.familyId], reason: 'refresh_token_reuse' });
      this.deps.logger.warn('refresh token reuse: session revoked', {
        user_id: outcome.userId,
        session_id: outcome.familyId,
      });
      throw unauthorized('Refresh token is no longer valid');
    }
    if (outcome.kind === 'invalid') throw unauthorized('Refresh token is invalid or expired');
    const [user, account] = await Promise.all([
      findUserById(this.deps.db, outcome.userId),
      clientAccountOf(this.deps.db, outcome.userId),
    ]);
    if (!user || user.status !== 'active' || !account) {
      await this.revoke(outcome.familyId);
      throw unauthorized('Refresh token is invalid or expired');
    }
    return this.tokens(
      { userId: user.id, accountId: account.id, email: user.email, role: user.role },
      outcome.familyId,
      successor,
      outcome.expiresAt,
    );
  }

  /** Logout: revoke the session of this refresh token and/or of this access token. */
  async logout(p: { refreshToken?: string; sessionId?: string }): Promise<void> {
    const families = new Set<string>();
    if (p.sessionId) families.add(p.sessionId);
    if (p.refreshToken) {
      const family = await refreshTokenFamily(this.deps.db, tokenHash(p.refreshToken));
      if (family) families.add(family.familyId);
    }
    for (const familyId of families) await this.revoke(familyId, 'logout');
  }

  /** A session whose refresh token was last used before this moment has idled out. */
  private idleSince(now: Date): Date {
    return new Date(now.getTime() - this.deps.config.REFRESH_IDLE_TIMEOUT_SECONDS * 1000);
  }

  /** The user's live sessions (ASVS 5.0 7.5.2), newest use first. */
  async list(userId: string): Promise<UserSession[]> {
    const now = this.deps.now();
    return listUserSessions(this.deps.db, { userId, now, idleSince: this.idleSince(now) });
  }

  /**
   * The owner ends one of their sessions: false (nothing done) when `sessionId` is not a live session of
   * `userId`, so another account's session is indistinguishable from an unknown one.
   */
  async endOwn(userId: string, sessionId: string): Promise<boolean> {
    if (!(await isOwnLiveSession(this.deps.db, userId, sessionId))) return false;
    await this.revoke(sessionId, 'ended_by_owner');
    return true;
  }

  async revoke(familyId: string, reason = 'revoked'): Promise<void> {
    await revokeRefreshFamily(this.deps.db, familyId, this.deps.now());
    await this.markRevoked([familyId]);
    await this.publish({ session_ids: [familyId], reason });
  }

  /**
   * End every session of a user (password change or reset, suspension), except `keep` (the session that
   * changed the password stays logged in).
   */
  async revokeUser(userId: string, reason: string, keep?: string): Promise<void> {
    const ended = await revokeUserSessions(this.deps.db, userId, this.deps.now(), keep);
    await this.markRevoked(ended);
    await this.publish({ user_id: keep ? undefined : userId, session_ids: ended, reason });
  }

  /**
   * Tell every instance's feed that sessions ended (their WebSockets close). Best effort: the revocation
   * marks already refuse the sessions' requests, and the feed revalidates its sockets periodically.
   */
  private async publish(
    event: Omit<RevocationEvent, 'session_ids'> & { session_ids: string[] },
  ): Promise<void> {
    try {
      await this.deps.redis.publish(revocationChannel(this.deps.config.REDIS_PREFIX), JSON.stringify(event));
    } catch (err) {
      this.deps.logger.error('revocation event not published', { err });
    }
  }

  /**
   * Mark sessions Postgres revoked as revoked in Redis too, all at once. Best effort, like the event: a
   * session left without its mark is refused by the session check once its kept answer is over.
   */
  private async markRevoked(familyIds: string[]): Promise<void> {
    const ttl = this.deps.config.ACCESS_TOKEN_TTL_SECONDS + 60;
    const marks = await Promise.allSettled(
      familyIds.map((familyId) => this.deps.redis.set(this.revokedKey(familyId), '1', 'EX', ttl)),
    );
    const failed = marks.find((mark) => mark.status === 'rejected');
    if (failed)
      this.deps.logger.error('session revocation not marked', { err: failed.reason, session_ids: familyIds });
  }

  /** Verify an access token and check its session is not revoked; 401 ApiError otherwise. */
  async verify(token: string): Promise<VerifiedAccessToken> {
    let verified: VerifiedAccessToken;
    try {
      verified = await this.verifiedTokens.get(token, () =>
        verifyAccessToken(token, (kid) => this.deps.keys.verificationKey(kid), this.deps.now()),
      );
    } catch (err) {
      if (err instanceof InvalidTokenError) throw unauthorized('The access token is invalid or expired');
      throw err;
    }
    // One round trip: the revocation mark, and the last live check's answer if it is recent.
    let revoked: string | null, checked: string | null;
    try {
      [revoked = null, checked = null] = await this.deps.redis.mget(
        this.revokedKey(verified.sessionId),
        this.liveKey(verified.sessionId),
      );
    } catch (err) {
      this.deps.logger.error('session revocation check failed', { err });
      throw new ApiError('service_unavailable', 'Authentication is temporarily unavailable', undefined, {
        'retry-after': '1',
      });
    }
    if (revoked !== null) throw unauthorized('The session has ended');
    const role =
      checked !== null && ROLES.has(checked)
        ? (checked as UserRow['role'])
        : await this.liveRole(verified.userId, verified.sessionId);
    if (!role) throw unauthorized('The session has ended');
    // The claim counts only while the user still has that role (a demotion takes effect now).
    return role === verified.role ? verified : { ...verified, role: 'client' };
  }

  /**
   * The user's role if the session is live (user active, session not revoked), else undefined; a live
   * answer is kept in Redis for SESSION_CHECK_CACHE_MS. A revocation's mark outweighs it: an answer read
   * just before a revocation and kept just after it does not keep the session alive.
   */
  private async liveRole(userId: string, sessionId: string): Promise<UserRow['role'] | undefined> {
    try {
      // Concurrent requests of one session share one query (a burst must not queue on the pool).
      let pending = this.checking.get(sessionId);
      if (!pending) {
        pending = liveSessionRole(this.deps.db, userId, sessionId)
          .then((role) => {
            // Not awaited: without it the next request asks Postgres again, nothing worse.
            if (role)
              this.deps.redis
                .set(this.liveKey(sessionId), role, 'PX', SESSION_CHECK_CACHE_MS)
                .catch((err: unknown) => this.deps.logger.warn('session check not kept', { err }));
            return role;
          })
          .finally(() => this.checking.delete(sessionId));
        this.checking.set(sessionId, pending);
      }
      return await pending;
    } catch (err) {
      this.deps.logger.error('session check failed', { err });
      throw new ApiError('service_unavailable', 'Authentication is temporarily unavailable', undefined, {
        'retry-after': '1',
      });
    }
  }
}
