/**
 * Revoking a session while one of its refresh tokens is being rotated, against the real Postgres with a
 * fixed interleaving: the rotation has locked its token and not committed its successor yet when the
 * revocation starts. The revocation's UPDATE cannot see that successor and leaves it unrevoked; the
 * session must be dead all the same, for the access-token check, the owner's list and further rotation.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { TransactionSql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../client.js';
import { mfaResets, refreshTokens, users, verificationTokens } from '../schema.js';
import { testDatabase, uniqueEmail } from '../../test/helpers.js';
import { blockedBy as blockedByIn, holding as holdingIn } from '../../test/locks.js';
import {
  consumePasswordReset,
  insertMfaReset,
  insertPasswordResetToken,
  insertRefreshToken,
  insertRegistrationToken,
  insertUser,
  isOwnLiveSession,
  listUserSessions,
  liveSessionRole,
  revokeRefreshFamily,
  revokeUserSessions,
  rotateRefreshToken,
  setPasswordHash,
} from './users.js';

let database: Database;
beforeAll(() => {
  database = testDatabase();
});
afterAll(() => database?.close());

const source = { ip: null, userAgent: null };
const hour = 3_600_000;

async function activeUser(): Promise<string> {
  const user = await insertUser(database.db, {
    email: uniqueEmail('race'),
    passwordHash: 'x',
    firstName: 'Race',
    lastName: 'Condition',
    totpSecret: 'JBSWY3DPEHPK3PXP',
    createdAt: new Date(),
  });
  await database.db.update(users).set({ status: 'active' }).where(eq(users.id, user!.id));
  return user!.id;
}

const blockedBy = (pid: number) => blockedByIn(database, pid);
const holding = (take: (tx: TransactionSql) => Promise<unknown>) => holdingIn(database, take);

describe('revoking a session while its refresh token rotates', () => {
  it.each([
    [
      'the session (logout, reuse)',
      (userId: string, familyId: string, now: Date) => revokeRefreshFamily(database.db, familyId, now),
    ],
    [
      'every session of the user (password, suspension)',
      (userId: string, _: string, now: Date) => revokeUserSessions(database.db, userId, now),
    ],
  ])('revoking %s ends the successor the rotation was committing', async (_, revoke) => {
    const userId = await activeUser();
    const familyId = randomUUID();
    const now = new Date();
    const token = `race-${randomUUID()}`;
    const successor = `race-${randomUUID()}`;
    await insertRefreshToken(database.db, {
      userId,
      familyId,
      tokenHash: token,
      expiresAt: new Date(now.getTime() + hour),
      createdAt: new Date(now.getTime() - 1000),
      ...source,
    });

    // Another transaction inserts the successor's hash first: the rotation, having locked and marked its
    // token, waits on that unique key with its own successor uncommitted until this one rolls back.
    const { pid: holder, release } = await holding(
      (tx) => tx`
        INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
        VALUES (${userId}, ${randomUUID()}, ${successor}, now() + interval '1 hour')`,
    );

    const rotation = rotateRefreshToken(database.db, {
      tokenHash: token,
      successorHash: successor,
      now,
      idleSince: new Date(now.getTime() - hour),
      source,
    });
    const rotating = await blockedBy(holder);
    // The revocation starts (takes its snapshot) now, and waits for the rotation's lock on the token.
    const revocation = revoke(userId, familyId, now);
    await blockedBy(rotating);
    release();
    expect(await rotation).toMatchObject({ kind: 'rotated', familyId });
    await revocation;

    // The race as described: the revocation marked the token it saw, not the successor committed meanwhile.
    const rows = await database.db
      .select({ tokenHash: refreshTokens.tokenHash, revokedAt: refreshTokens.revokedAt })
      .from(refreshTokens)
      .where(eq(refreshTokens.familyId, familyId));
    expect(rows.find((r) => r.tokenHash === token)?.revokedAt).not.toBeNull();
    expect(rows.find((r) => r.tokenHash === successor)?.revokedAt).toBeNull();

    // The session is dead all the same, once the Redis mark has expired too.
    expect(await liveSessionRole(database.db, userId, familyId)).toBeUndefined();
    expect(await isOwnLiveSession(database.db, userId, familyId)).toBe(false);
    expect(
      await listUserSessions(database.db, { userId, now, idleSince: new Date(now.getTime() - hour) }),
    ).toEqual([]);
    const later = new Date(now.getTime() + 1000);
    expect(
      await rotateRefreshToken(database.db, {
        tokenHash: successor,
        successorHash: `race-${randomUUID()}`,
        now: later,
        idleSince: new Date(later.getTime() - hour),
        source,
      }),
    ).toEqual({ kind: 'invalid' });
  });
});

describe('a password reset and a password change of one user at once', () => {
  it('both complete, without a deadlock (40P01), and the reset stands over a change checked before it', async () => {
    const userId = await activeUser();
    const now = new Date();
    const [link, other] = [`reset-${randomUUID()}`, `reset-${randomUUID()}`];
    for (const tokenHash of [link, other])
      await insertPasswordResetToken(database.db, {
        tokenHash,
        userId,
        expiresAt: new Date(now.getTime() + hour),
        createdAt: now,
      });
    // Another transaction holds the user's other link: the reset, having taken its own link, waits for
    // it while it spends the user's other links; the change starts meanwhile and waits for the reset.
    const holder = await holding(
      (tx) => tx`SELECT 1 FROM password_reset_tokens WHERE token_hash = ${other} FOR UPDATE`,
    );
    const reset = consumePasswordReset(database.db, { tokenHash: link, passwordHash: 'reset', now });
    const resetting = await blockedBy(holder.pid);
    // The change checked the current password against the hash the reset replaces ('x').
    const change = setPasswordHash(database.db, { userId, checkedHash: 'x', passwordHash: 'changed', now });
    await blockedBy(resetting);
    holder.release();
    expect(await Promise.allSettled([reset, change])).toEqual([
      { status: 'fulfilled', value: userId },
      { status: 'fulfilled', value: false },
    ]);
    const [user] = await database.db
      .select({ hash: users.passwordHash })
      .from(users)
      .where(eq(users.id, userId));
    expect(user?.hash).toBe('reset');
  });
});

describe('two new links of one user at once', () => {
  const expiresAt = () => new Date(Date.now() + hour);
  it.each([
    {
      kind: 'verification links (two registrations of one pending address)',
      insert: (userId: string, tokenHash: string) =>
        insertRegistrationToken(database.db, {
          tokenHash,
          userId,
          expiresAt: expiresAt(),
          createdAt: new Date(),
        }),
      live: async (userId: string) =>
        (
          await database.db
            .select({ tokenHash: verificationTokens.tokenHash })
            .from(verificationTokens)
            .where(and(eq(verificationTokens.userId, userId), isNull(verificationTokens.supersededAt)))
        ).map((r) => r.tokenHash),
    },
    {
      kind: 'authenticator reset links',
      insert: (userId: string, tokenHash: string) =>
        insertMfaReset(database.db, {
          userId,
          tokenHash,
          requestedAt: new Date(),
          linkExpiresAt: expiresAt(),
        }),
      live: async (userId: string) =>
        (
          await database.db
            .select({ tokenHash: mfaResets.tokenHash })
            .from(mfaResets)
            .where(and(eq(mfaResets.userId, userId), isNull(mfaResets.cancelledAt)))
        ).map((r) => r.tokenHash),
    },
  ])('leave exactly one live: $kind', async ({ insert, live }) => {
    const userId = await activeUser();
    const [older, first, second] = ['older', 'first', 'second'].map((n) => `${n}-${randomUUID()}`);
    await insert(userId, older!);
    // Another transaction holds the user row: the first writer, having superseded the older link, waits
    // for it at its new link's foreign key; the second starts meanwhile and waits for the first.
    const holder = await holding((tx) => tx`SELECT 1 FROM users WHERE id = ${userId} FOR UPDATE`);
    const writing = insert(userId, first!);
    const writer = await blockedBy(holder.pid);
    const next = insert(userId, second!);
    await blockedBy(writer);
    holder.release();
    await Promise.all([writing, next]);
    expect(await live(userId)).toEqual([second]);
  });
});
