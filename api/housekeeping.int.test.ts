/**
 * The api's housekeeping against the real Postgres: expired idempotency keys go whatever route wrote them
 * (no deposit needed), and the refresh tokens of long-ended sessions go but each user's newest, while a
 * live session keeps every token its reuse detection needs.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, gt, lte, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/client.js';
import { withHousekeepingLock } from '../db/queries/housekeeping.js';
import {
  activateUser,
  hasHadSession,
  insertRefreshToken,
  insertUser,
  rotateRefreshToken,
} from '../db/queries/users.js';
import { idempotencyKeys, refreshTokens } from '../db/schema.js';
import { createLogger } from '../lib/logger.js';
import { eventually } from '../test/eventually.js';
import { testConfig, testDatabase, uniqueEmail } from '../test/helpers.js';
import { housekeep, startHousekeeping } from './housekeeping.js';

const config = testConfig();
let database: Database;
const deps = () => ({ database, config, now: () => new Date(), logger: createLogger('silent') });
beforeAll(() => {
  database = testDatabase(config);
});
afterAll(() => database?.close());

const hour = 3_600_000;
const day = 24 * hour;
const ttl = config.REFRESH_TOKEN_TTL_SECONDS * 1000;
const source = { ip: null, userAgent: null };

async function activeUser(): Promise<{ userId: string; accountId: string }> {
  const user = await insertUser(database.db, {
    email: uniqueEmail('housekeeping'),
    passwordHash: 'x',
    firstName: 'House',
    lastName: 'Keeping',
    totpSecret: 'JBSWY3DPEHPK3PXP',
    createdAt: new Date(),
  });
  const { accountId } = await database.db.transaction((tx) => activateUser(tx, user!.id, new Date()));
  return { userId: user!.id, accountId };
}

describe('idempotency keys', () => {
  /** `n` keys of keyed order cancels, expired an hour ago. */
  const seedExpired = (accountId: string, n: number) =>
    database.db.execute(sql`
      INSERT INTO idempotency_keys (account_id, key, scope, request_hash, status, response_status, response_body, created_at, expires_at)
      SELECT ${accountId}::uuid, 'order:' || gen_random_uuid() || ':k' || g, 'order_cancel', md5(g::text), 'completed', 200,
             '{"order":{"status":"cancelled"}}'::jsonb, now() - interval '25 hours', now() - interval '1 hour'
        FROM generate_series(1, ${n}) g`);
  const keysOf = async (accountId: string) => {
    const now = new Date();
    const count = async (expired: boolean) =>
      database.db.$count(
        idempotencyKeys,
        and(
          eq(idempotencyKeys.accountId, accountId),
          expired ? lte(idempotencyKeys.expiresAt, now) : gt(idempotencyKeys.expiresAt, now),
        ),
      );
    return { expired: await count(true), live: await count(false) };
  };

  it('a round deletes every expired key, in batches, without any deposit; live keys stay', async () => {
    const { accountId } = await activeUser();
    await seedExpired(accountId, 5000);
    const live = ['replace-1', 'cancel-1', 'deposit-1'].map((key) => ({
      accountId,
      key,
      scope: key.split('-')[0]!,
      requestHash: 'h',
      status: 'completed' as const,
      responseStatus: 200,
      responseBody: {},
      createdAt: new Date(),
      expiresAt: new Date(Date.now() + day),
    }));
    await database.db.insert(idempotencyKeys).values(live);
    expect(await keysOf(accountId)).toEqual({ expired: 5000, live: 3 });

    const deleted = await housekeep(deps());

    expect(deleted.idempotencyKeys).toBeGreaterThanOrEqual(5000);
    expect(await keysOf(accountId)).toEqual({ expired: 0, live: 3 });
  });

  it('leaves the round to the instance holding the lock', async () => {
    const { accountId } = await activeUser();
    await seedExpired(accountId, 10);
    await withHousekeepingLock(database.db, 'idempotency_keys', async () => {
      expect((await housekeep(deps())).idempotencyKeys).toBe(0);
    });
    expect((await keysOf(accountId)).expired).toBe(10);
    await housekeep(deps());
    expect((await keysOf(accountId)).expired).toBe(0);
  });

  it('runs on its timer until stopped', async () => {
    const { accountId } = await activeUser();
    await seedExpired(accountId, 10);
    const stop = startHousekeeping(deps(), 100);
    try {
      await eventually(async () => expect((await keysOf(accountId)).expired).toBe(0));
    } finally {
      await stop();
    }
  });
});

describe('refresh tokens', () => {
  /** A session: its tokens issued at `login` and each `step` later, all rotated but the last. */
  async function session(
    userId: string,
    p: { login: number; tokens: number; revokedAt?: number; step?: number },
  ): Promise<{ familyId: string; hashes: string[] }> {
    const familyId = randomUUID();
    const hashes: string[] = [];
    for (let i = 0; i < p.tokens; i++) {
      const tokenHash = `hk-${randomUUID()}`;
      hashes.push(tokenHash);
      const createdAt = p.login + i * (p.step ?? hour);
      await insertRefreshToken(database.db, {
        userId,
        familyId,
        tokenHash,
        expiresAt: new Date(p.login + ttl),
        createdAt: new Date(createdAt),
        ...source,
      });
      if (i < p.tokens - 1)
        await database.db
          .update(refreshTokens)
          .set({ rotatedAt: new Date(createdAt + (p.step ?? hour)) })
          .where(eq(refreshTokens.tokenHash, tokenHash));
    }
    if (p.revokedAt !== undefined)
      await database.db
        .update(refreshTokens)
        .set({ revokedAt: new Date(p.revokedAt) })
        .where(eq(refreshTokens.familyId, familyId));
    return { familyId, hashes };
  }
  const tokensOf = async (familyId: string) =>
    (await database.db.select().from(refreshTokens).where(eq(refreshTokens.familyId, familyId))).map(
      (t) => t.tokenHash,
    );
  const rotate = (tokenHash: string) =>
    rotateRefreshToken(database.db, {
      tokenHash,
      successorHash: `hk-${randomUUID()}`,
      now: new Date(),
      idleSince: new Date(Date.now() - config.REFRESH_IDLE_TIMEOUT_SECONDS * 1000),
      source,
    });

  it('deletes the sessions over for a token lifetime but each user newest token; live ones keep reuse detection', async () => {
    const now = Date.now();
    const a = await activeUser();
    const expiredLongAgo = await session(a.userId, { login: now - 3 * ttl, tokens: 3 });
    // Revoked a lifetime ago, expired since (but not a lifetime ago).
    const revokedLongAgo = await session(a.userId, {
      login: now - ttl - 2 * day,
      tokens: 2,
      revokedAt: now - ttl - 2 * day + hour,
    });
    const expiredLately = await session(a.userId, { login: now - ttl - day, tokens: 2 });
    const revokedLately = await session(a.userId, { login: now - 2 * day, tokens: 2, revokedAt: now - day });
    // Live: logged in 3 hours ago, refreshed twice since (the last token 10 minutes old).
    const live = await session(a.userId, { login: now - 3 * hour, tokens: 3, step: 85 * 60_000 });
    // Another user, whose only session ended long ago.
    const b = await activeUser();
    const onlyEnded = await session(b.userId, { login: now - 3 * ttl, tokens: 3 });

    const deleted = await housekeep(deps());

    expect(deleted.refreshTokens).toBeGreaterThanOrEqual(3 + 2 + 2);
    expect(await tokensOf(expiredLongAgo.familyId)).toEqual([]);
    expect(await tokensOf(revokedLongAgo.familyId)).toEqual([]);
    expect((await tokensOf(expiredLately.familyId)).sort()).toEqual([...expiredLately.hashes].sort());
    expect((await tokensOf(revokedLately.familyId)).sort()).toEqual([...revokedLately.hashes].sort());
    expect((await tokensOf(live.familyId)).sort()).toEqual([...live.hashes].sort());
    // The user's newest token stays: the user has had a session.
    expect(await tokensOf(onlyEnded.familyId)).toEqual([onlyEnded.hashes[2]]);
    expect(await hasHadSession(database.db, b.userId)).toBe(true);
    // A deleted token is unknown; the live session's rotated token is a reuse that ends it, as before.
    expect(await rotate(expiredLongAgo.hashes[0]!)).toEqual({ kind: 'invalid' });
    expect(await rotate(live.hashes[0]!)).toMatchObject({ kind: 'reused', familyId: live.familyId });
    const after = await database.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.familyId, live.familyId));
    expect(after.every((t) => t.revokedAt !== null)).toBe(true);
    expect(await rotate(live.hashes[2]!)).toEqual({ kind: 'invalid' });
  });
});
