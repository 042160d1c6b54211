/**
 * Identity queries: users, email verification tokens, TOTP state, refresh-token families and JWT signing
 * keys. Every function takes `db | tx`; the few that need a transaction of their own take the `Db`.
 */
import {
  and,
  desc,
  eq,
  exists,
  gt,
  inArray,
  isNotNull,
  isNull,
  lte,
  ne,
  notExists,
  or,
  sql,
} from 'drizzle-orm';
import { alias, QueryBuilder } from 'drizzle-orm/pg-core';
import type { Db, DbOrTx } from '../client.js';
import { CASH_ASSET } from '../accounts.js';
import {
  accounts,
  balances,
  mfaResets,
  passwordResetTokens,
  recoveryCodes,
  refreshTokens,
  signingKeys,
  trustedSources,
  users,
  verificationTokens,
  type Registration,
} from '../schema.js';

export type UserRow = typeof users.$inferSelect;
export type NewUser = Pick<
  typeof users.$inferInsert,
  'email' | 'passwordHash' | 'firstName' | 'lastName' | 'dateOfBirth' | 'phone' | 'totpSecret' | 'createdAt'
>;

export async function findUserByEmail(db: DbOrTx, email: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = ${email.toLowerCase()}`)
    .limit(1);
  return row;
}

export async function findUserById(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return row;
}

/** Insert a pending user; undefined when the email is taken (unique index on lower(email)). */
export async function insertUser(db: DbOrTx, user: NewUser): Promise<UserRow | undefined> {
  const [row] = await db.insert(users).values(user).onConflictDoNothing().returning();
  return row;
}

/**
 * Activate a verified user and open their cash account (one client account per user, with a zero USD
 * balance row). Idempotent: a second call returns the same account. Run it inside a transaction.
 */
export async function activateUser(tx: DbOrTx, userId: string, now: Date): Promise<{ accountId: string }> {
  // Serialise concurrent activations of one user (two valid links clicked at once).
  await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).for('update');
  const [user] = await tx
    .update(users)
    .set({ status: 'active', verifiedAt: now })
    .where(and(eq(users.id, userId), eq(users.status, 'pending')))
    .returning({ firstName: users.firstName, lastName: users.lastName });
  if (user) {
    await tx
      .insert(accounts)
      .values({
        userId,
        kind: 'client',
        name: `${user.firstName} ${user.lastName}`,
        currency: CASH_ASSET,
        createdAt: now,
      })
      .onConflictDoNothing();
  }
  const account = await clientAccountOf(tx, userId);
  if (!account) throw new Error(`user ${userId} has no client account after activation`);
  await tx.insert(balances).values({ accountId: account.id, asset: CASH_ASSET }).onConflictDoNothing();
  return { accountId: account.id };
}

export async function clientAccountOf(
  db: DbOrTx,
  userId: string,
): Promise<{ id: string; status: 'active' | 'frozen' | 'closed' } | undefined> {
  const [row] = await db
    .select({ id: accounts.id, status: accounts.status })
    .from(accounts)
    .where(and(eq(accounts.userId, userId), eq(accounts.kind, 'client')))
    .limit(1);
  return row;
}

// ---- TOTP -----------------------------------------------------------------------------------------

/**
 * Accept a TOTP time step once: compare-and-set on `totp_last_step`. Of two requests racing with the same
 * code exactly one gets true; a step at or before the last accepted one is refused (replay, old code).
 */
export async function consumeTotpStep(db: DbOrTx, userId: string, step: number): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ totpLastStep: BigInt(step) })
    .where(and(eq(users.id, userId), sql`${users.totpLastStep} < ${BigInt(step)}`))
    .returning({ id: users.id });
  return rows.length === 1;
}

export async function setPendingTotpSecret(db: DbOrTx, userId: string, secret: string): Promise<void> {
  await db.update(users).set({ totpPendingSecret: secret }).where(eq(users.id, userId));
}

/**
 * Enrollment completes: the pending secret becomes the TOTP secret, if it is still the one the code was
 * checked against (compare-and-set), the activation code's step is consumed, and the recovery codes
 * (hashes) replace the old ones. One transaction that updates the user row first, as a removal does
 * (clearTotp): a removal either lands before (no pending secret: false, nothing written) or after (it
 * deletes these codes too), so recovery codes never outlive the app.
 */
export async function activateTotpSecret(
  db: Db,
  p: { userId: string; pendingSecret: string; step: number; recoveryCodeHashes: string[]; now: Date },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx
      .update(users)
      .set({
        totpSecret: p.pendingSecret,
        totpPendingSecret: null,
        totpEnrolledAt: p.now,
        totpLastStep: sql`greatest(${users.totpLastStep}, ${BigInt(p.step)})`,
      })
      .where(and(eq(users.id, p.userId), eq(users.totpPendingSecret, p.pendingSecret)))
      .returning({ id: users.id });
    if (rows.length !== 1) return false;
    await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, p.userId));
    await tx
      .insert(recoveryCodes)
      .values(p.recoveryCodeHashes.map((codeHash) => ({ codeHash, userId: p.userId, createdAt: p.now })));
    return true;
  });
}

// ---- refresh tokens -------------------------------------------------------------------------------

export async function insertRefreshToken(
  db: DbOrTx,
  token: {
    userId: string;
    familyId: string;
    tokenHash: string;
    expiresAt: Date;
    createdAt: Date;
  } & SessionSource,
): Promise<void> {
  await db.insert(refreshTokens).values(token);
}

/**
 * The revoked tokens of a family (`familyId` a value or the outer query's column). One revoked token means
 * the family is revoked, whatever its other tokens say; every live check asks this, not the row's own
 * `revoked_at`. A revocation is one UPDATE at READ COMMITTED, and a successor inserted by a rotation that
 * had not committed when the UPDATE took its snapshot is invisible to it: the UPDATE waits for the
 * predecessor's row lock, then revokes the predecessor alone, and the successor stays unrevoked. What no
 * interleaving escapes is that the UPDATE revokes at least one token of a family it sees: it locks each
 * unrevoked token in its snapshot, waiting for a rotation that holds one, and only a revocation sets
 * `revoked_at`, so the token is still unrevoked (or its family already revoked) when the UPDATE rechecks
 * it. Hence the family test, here and in rotateRefreshToken, rather than repeating the UPDATE (which a
 * further rotation could race again). A query builder without a connection: the subquery is only SQL.
 */
const revokedToken = alias(refreshTokens, 'revoked_token');
const revokedTokensOf = (familyId: string | typeof refreshTokens.familyId) =>
  new QueryBuilder()
    .select({ id: revokedToken.id })
    .from(revokedToken)
    .where(and(eq(revokedToken.familyId, familyId), isNotNull(revokedToken.revokedAt)));

/** Where a refresh token was issued: the client address and User-Agent (null when unknown). */
export interface SessionSource {
  ip: string | null;
  userAgent: string | null;
}

export interface UserSession {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  created: SessionSource;
  lastUsed: SessionSource;
}

/**
 * A user's live sessions, newest use first: families with an unrevoked, unrotated token that has not
 * expired nor idled out (issued after `idleSince`). The live token was issued at the last use (login or
 * refresh); the family's first token at the login.
 */
export async function listUserSessions(
  db: DbOrTx,
  p: { userId: string; now: Date; idleSince: Date },
): Promise<UserSession[]> {
  const live = await db
    .select()
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.userId, p.userId),
        isNull(refreshTokens.revokedAt),
        isNull(refreshTokens.rotatedAt),
        gt(refreshTokens.expiresAt, p.now),
        gt(refreshTokens.createdAt, p.idleSince),
        notExists(revokedTokensOf(refreshTokens.familyId)),
      ),
    )
    .orderBy(desc(refreshTokens.createdAt));
  if (live.length === 0) return [];
  const firsts = await db
    .selectDistinctOn([refreshTokens.familyId])
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.userId, p.userId),
        inArray(
          refreshTokens.familyId,
          live.map((t) => t.familyId),
        ),
      ),
    )
    .orderBy(refreshTokens.familyId, refreshTokens.createdAt);
  const first = new Map(firsts.map((t) => [t.familyId, t]));
  return live.map((t) => {
    const login = first.get(t.familyId) ?? t;
    return {
      id: t.familyId,
      createdAt: login.createdAt,
      lastUsedAt: t.createdAt,
      created: { ip: login.ip, userAgent: login.userAgent },
      lastUsed: { ip: t.ip, userAgent: t.userAgent },
    };
  });
}

/** Whether `familyId` is a session of `userId` that was not revoked (the owner may end it). */
export async function isOwnLiveSession(db: DbOrTx, userId: string, familyId: string): Promise<boolean> {
  const rows = await db
    .select({ id: refreshTokens.id })
    .from(refreshTokens)
    .where(
      and(
        eq(refreshTokens.familyId, familyId),
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
        notExists(revokedTokensOf(familyId)),
      ),
    )
    .limit(1);
  return rows.length > 0;
}

export type RefreshOutcome =
  | { kind: 'rotated'; userId: string; familyId: string; expiresAt: Date }
  /** A token that was already rotated came back: its family is now revoked. */
  | { kind: 'reused'; userId: string; familyId: string }
  /** The token was not used for the idle timeout (it was issued before `idleSince`): its family is now revoked. */
  | { kind: 'idle'; userId: string; familyId: string }
  | { kind: 'invalid' };

/**
 * Rotate a refresh token: the presented token is marked rotated and its successor inserted in the same
 * family, with the family's absolute expiry. Presenting a rotated token again revokes the whole family
 * (reuse detection); the row lock serialises two racing rotations of one token, so the second is a reuse.
 * The family's newest token was issued at its last use (login or refresh): one issued before `idleSince`
 * ends the session (idle timeout). A family with any revoked token rotates no more (revokedTokensOf).
 */
export async function rotateRefreshToken(
  db: Db,
  p: { tokenHash: string; successorHash: string; now: Date; idleSince: Date; source: SessionSource },
): Promise<RefreshOutcome> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, p.tokenHash))
      .for('update')
      .limit(1);
    if (!row || row.revokedAt) return { kind: 'invalid' as const };
    // A statement of its own, after the lock: its snapshot holds every revocation committed before the
    // lock was granted, also one that revoked only this token's predecessor (see revokedTokensOf).
    const [revoked] = await tx
      .select({ id: refreshTokens.id })
      .from(refreshTokens)
      .where(and(eq(refreshTokens.id, row.id), exists(revokedTokensOf(row.familyId))));
    if (revoked) return { kind: 'invalid' as const };
    if (row.rotatedAt) {
      await revokeRefreshFamily(tx, row.familyId, p.now);
      return { kind: 'reused' as const, userId: row.userId, familyId: row.familyId };
    }
    if (row.expiresAt <= p.now) return { kind: 'invalid' as const };
    if (row.createdAt <= p.idleSince) {
      await revokeRefreshFamily(tx, row.familyId, p.now);
      return { kind: 'idle' as const, userId: row.userId, familyId: row.familyId };
    }
    await tx.update(refreshTokens).set({ rotatedAt: p.now }).where(eq(refreshTokens.id, row.id));
    await tx.insert(refreshTokens).values({
      userId: row.userId,
      familyId: row.familyId,
      tokenHash: p.successorHash,
      expiresAt: row.expiresAt,
      createdAt: p.now,
      ...p.source,
    });
    return { kind: 'rotated' as const, userId: row.userId, familyId: row.familyId, expiresAt: row.expiresAt };
  });
}

/**
 * Whether the user ever had a session (completed a login): revoked tokens are kept, and housekeeping
 * (purgeEndedRefreshTokens) always keeps a user's newest one.
 */
export async function hasHadSession(db: DbOrTx, userId: string): Promise<boolean> {
  const rows = await db
    .select({ id: refreshTokens.id })
    .from(refreshTokens)
    .where(eq(refreshTokens.userId, userId))
    .limit(1);
  return rows.length > 0;
}

/** The id of the user of `email`, as a subquery (the unique index on lower(email)). */
const userOfEmail = (email: string) =>
  sql`(SELECT ${users.id} FROM ${users} WHERE lower(${users.email}) = ${email.toLowerCase()})`;

/** A source the user of `email` trusted after `since` (one lookup by primary key), if any. */
export async function isTrustedSource(
  db: DbOrTx,
  p: { email: string; source: string; since: Date },
): Promise<boolean> {
  const rows = await db
    .select({ source: trustedSources.source })
    .from(trustedSources)
    .where(
      and(
        eq(trustedSources.userId, userOfEmail(p.email)),
        eq(trustedSources.source, p.source),
        gt(trustedSources.trustedAt, p.since),
      ),
    );
  return rows.length > 0;
}

/**
 * The user of `email` trusts `source` from `now`. True when it did not (new, or last trusted at or before
 * `since`): then the user's other sources lapsed by `since` are deleted, so the rows do not grow with
 * every address ever used. A source still trusted costs one statement. Of logins racing from a source not
 * trusted, one inserts or renews its row and answers true; the others find it renewed and answer false.
 */
export async function trustSource(
  db: DbOrTx,
  p: { email: string; source: string; now: Date; since: Date },
): Promise<boolean> {
  const user = userOfEmail(p.email);
  const renewed = await db
    .update(trustedSources)
    .set({ trustedAt: p.now })
    .where(
      and(
        eq(trustedSources.userId, user),
        eq(trustedSources.source, p.source),
        gt(trustedSources.trustedAt, p.since),
      ),
    )
    .returning({ source: trustedSources.source });
  if (renewed.length > 0) return false;
  const lapsed = db.$with('lapsed').as(
    db
      .delete(trustedSources)
      .where(
        and(
          eq(trustedSources.userId, user),
          ne(trustedSources.source, p.source),
          lte(trustedSources.trustedAt, p.since),
        ),
      )
      .returning({ source: trustedSources.source }),
  );
  const trusted = await db
    .with(lapsed)
    .insert(trustedSources)
    .select(
      db
        .select({
          userId: users.id,
          source: sql`${p.source}`.as('source'),
          trustedAt: sql`${sql.param(p.now, trustedSources.trustedAt)}`.as('trusted_at'),
        })
        .from(users)
        .where(sql`lower(${users.email}) = ${p.email.toLowerCase()}`),
    )
    .onConflictDoUpdate({
      target: [trustedSources.userId, trustedSources.source],
      set: { trustedAt: p.now },
      setWhere: lte(trustedSources.trustedAt, p.since),
    })
    .returning({ source: trustedSources.source });
  return trusted.length > 0;
}

/**
 * Revoke a session. A successor a concurrent rotation is inserting may stay unrevoked: the session is
 * revoked all the same (revokedTokensOf).
 */
export async function revokeRefreshFamily(db: DbOrTx, familyId: string, now: Date): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
}

export async function refreshTokenFamily(
  db: DbOrTx,
  tokenHash: string,
): Promise<{ familyId: string; userId: string } | undefined> {
  const [row] = await db
    .select({ familyId: refreshTokens.familyId, userId: refreshTokens.userId })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
    .limit(1);
  return row;
}

/**
 * Housekeeping: delete up to `limit` refresh tokens of sessions long over, that is families whose every
 * token expired (the login's absolute expiry, which rotation copies: a token's expires_at is its
 * family's), and did so before `before` or were revoked before it. Such a token only ever answers invalid
 * (or, rotated, revokes a family already over), so no live family loses a row and reuse detection is
 * untouched. A user's newest token is kept, so hasHadSession still knows the user logged in. Returns how
 * many were deleted.
 *
 * No check that the rest of the family expired too: the planner, not knowing that a family's tokens share
 * their expiry, took it to remove nearly every candidate and planned a scan of the whole table per
 * candidate for the newest-token check (a batch ran for minutes on 275,000 tokens).
 */
export async function purgeEndedRefreshTokens(
  db: DbOrTx,
  p: { now: Date; before: Date; limit: number },
): Promise<number> {
  const now = p.now.toISOString();
  const before = p.before.toISOString();
  const rows = await db.execute(sql`
    DELETE FROM refresh_tokens WHERE id IN (
      SELECT t.id FROM refresh_tokens t
       WHERE t.expires_at <= ${now}::timestamptz
         AND (t.expires_at < ${before}::timestamptz OR EXISTS (
               SELECT 1 FROM refresh_tokens r WHERE r.family_id = t.family_id AND r.revoked_at < ${before}::timestamptz))
         AND EXISTS (
               SELECT 1 FROM refresh_tokens n WHERE n.user_id = t.user_id AND (n.created_at, n.id) > (t.created_at, t.id))
       LIMIT ${p.limit})
    RETURNING 1`);
  return rows.length;
}

// ---- signing keys ---------------------------------------------------------------------------------

export type SigningKeyRow = typeof signingKeys.$inferSelect;

/** Keys that still sign (not retired) or still verify (retired after `retiredAfter`), newest first. */
export async function listSigningKeys(db: DbOrTx, retiredAfter: Date): Promise<SigningKeyRow[]> {
  return db
    .select()
    .from(signingKeys)
    .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, retiredAfter)))
    .orderBy(desc(signingKeys.createdAt));
}

/**
 * Run `fn` in a transaction holding the signing-key advisory lock, so api instances starting together
 * (or rotating together) create one key, not one each.
 */
export async function withSigningKeyLock<T>(db: Db, fn: (tx: DbOrTx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('brokerx:signing_keys'))`);
    return fn(tx);
  });
}

/** Insert a new signing key and retire every other active one: the new key signs from now on. */
export async function insertSigningKey(
  tx: DbOrTx,
  key: typeof signingKeys.$inferInsert & { createdAt: Date },
): Promise<void> {
  await tx.update(signingKeys).set({ retiredAt: key.createdAt }).where(isNull(signingKeys.retiredAt));
  await tx.insert(signingKeys).values(key);
}

// ---- registration -----------------------------------------------------------------------------------

/**
 * Until the transaction ends, hold the lock of a user's links of one kind: a writer that supersedes the
 * live links, then inserts its own, takes it first, or two at once would each miss the other's new link
 * (READ COMMITTED) and leave both live. A lock of its own rather than the user's row: the consumers of
 * the links (verifyRegistration, completeDueMfaReset) lock their link before the user row, and a writer
 * holding the user row while it waited for their link would deadlock with them.
 */
const lockLinksOf = (tx: DbOrTx, kind: 'verification' | 'mfa_reset', userId: string) =>
  tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`brokerx:${kind}:${userId}`}, 0))`);

/**
 * A new verification link for a pending user, carrying this registration's choices; every older link of
 * the user is superseded in the same transaction, so only the newest registration can be activated.
 */
export async function insertRegistrationToken(
  db: Db,
  token: { tokenHash: string; userId: string; expiresAt: Date; createdAt: Date; registration?: Registration },
): Promise<void> {
  await db.transaction(async (tx) => {
    await lockLinksOf(tx, 'verification', token.userId);
    await tx
      .update(verificationTokens)
      .set({ supersededAt: token.createdAt })
      .where(and(eq(verificationTokens.userId, token.userId), isNull(verificationTokens.supersededAt)));
    await tx.insert(verificationTokens).values({ ...token, registration: token.registration ?? null });
  });
}

/** The choices of the newest registration of a user (what a resent link carries). */
export async function latestRegistration(db: DbOrTx, userId: string): Promise<Registration | undefined> {
  const [row] = await db
    .select({ registration: verificationTokens.registration })
    .from(verificationTokens)
    .where(eq(verificationTokens.userId, userId))
    .orderBy(desc(verificationTokens.createdAt))
    .limit(1);
  return row?.registration ?? undefined;
}

/**
 * Follow a verification link, once: only an unused, unexpired link of a still pending user that no newer
 * registration superseded. The user takes that registration's password and names, then is activated.
 * Returns the account, or undefined. Run it inside a transaction.
 */
export async function verifyRegistration(
  tx: DbOrTx,
  tokenHash: string,
  now: Date,
): Promise<{ accountId: string } | undefined> {
  const [row] = await tx
    .update(verificationTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(verificationTokens.tokenHash, tokenHash),
        isNull(verificationTokens.usedAt),
        isNull(verificationTokens.supersededAt),
        gt(verificationTokens.expiresAt, now),
      ),
    )
    .returning({ userId: verificationTokens.userId, registration: verificationTokens.registration });
  if (!row) return undefined;
  const r = row.registration;
  const [pending] = await tx
    .update(users)
    .set(
      r
        ? {
            passwordHash: r.passwordHash,
            firstName: r.firstName,
            lastName: r.lastName,
            dateOfBirth: r.dateOfBirth,
            phone: r.phone,
          }
        : {},
    )
    .where(and(eq(users.id, row.userId), eq(users.status, 'pending')))
    .returning({ id: users.id });
  // Seed links (no registration) may also confirm an already active user: activateUser is idempotent.
  if (!pending && r) return undefined;
  return activateUser(tx, row.userId, now);
}

// ---- password -------------------------------------------------------------------------------------

export async function insertPasswordResetToken(
  db: DbOrTx,
  token: { tokenHash: string; userId: string; expiresAt: Date; createdAt: Date },
): Promise<void> {
  await db.insert(passwordResetTokens).values(token);
}

/**
 * Use a reset link once: the user gets the new password hash, and every other reset link of the user is
 * spent too. Returns the user id, or undefined when the link is unknown, used or expired.
 */
/** The address of the user whose reset token this is, while the token can still be used. */
export async function passwordResetOwner(
  db: DbOrTx,
  tokenHash: string,
  now: Date,
): Promise<{ email: string } | undefined> {
  const [row] = await db
    .select({ email: users.email })
    .from(passwordResetTokens)
    .innerJoin(users, eq(users.id, passwordResetTokens.userId))
    .where(
      and(
        eq(passwordResetTokens.tokenHash, tokenHash),
        isNull(passwordResetTokens.usedAt),
        gt(passwordResetTokens.expiresAt, now),
      ),
    )
    .limit(1);
  return row;
}

export async function consumePasswordReset(
  db: Db,
  p: { tokenHash: string; passwordHash: string; now: Date },
): Promise<string | undefined> {
  return db.transaction(async (tx) => {
    // The user row first, as a password change takes it (setPasswordHash) before it spends the user's
    // links: taken after the links, the two would each wait for what the other holds (deadlock, 40P01).
    const [owner] = await tx
      .select({ id: users.id })
      .from(users)
      .innerJoin(passwordResetTokens, eq(passwordResetTokens.userId, users.id))
      .where(eq(passwordResetTokens.tokenHash, p.tokenHash))
      .for('no key update', { of: users });
    if (!owner) return undefined;
    const [row] = await tx
      .update(passwordResetTokens)
      .set({ usedAt: p.now })
      .where(
        and(
          eq(passwordResetTokens.tokenHash, p.tokenHash),
          isNull(passwordResetTokens.usedAt),
          gt(passwordResetTokens.expiresAt, p.now),
        ),
      )
      .returning({ userId: passwordResetTokens.userId });
    if (!row) return undefined;
    await tx
      .update(passwordResetTokens)
      .set({ usedAt: p.now })
      .where(and(eq(passwordResetTokens.userId, row.userId), isNull(passwordResetTokens.usedAt)));
    // A reset proves the mailbox: a pending registration's owner becomes able to log in after verifying.
    await tx.update(users).set({ passwordHash: p.passwordHash }).where(eq(users.id, row.userId));
    return row.userId;
  });
}

/**
 * A password change: the new hash, and every unused reset link of the user is spent with it (a link asked
 * for before the change must not set a password over it). Only over `checkedHash`, the hash the current
 * password was checked against: a reset or another change committed since then stands, and this one
 * writes nothing and returns false.
 */
export async function setPasswordHash(
  db: Db,
  p: { userId: string; checkedHash: string; passwordHash: string; now: Date },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [changed] = await tx
      .update(users)
      .set({ passwordHash: p.passwordHash })
      .where(and(eq(users.id, p.userId), eq(users.passwordHash, p.checkedHash)))
      .returning({ id: users.id });
    if (!changed) return false;
    await tx
      .update(passwordResetTokens)
      .set({ usedAt: p.now })
      .where(and(eq(passwordResetTokens.userId, p.userId), isNull(passwordResetTokens.usedAt)));
    return true;
  });
}

/**
 * The password hash of an active user, the row locked FOR SHARE until the transaction ends: a reset or
 * change of the password, or a suspension (updates of the row), has committed before this read, or waits
 * for the transaction. Undefined for a user not active (a suspension waited for is read committed).
 */
export async function lockPasswordHash(tx: DbOrTx, userId: string): Promise<string | undefined> {
  const [row] = await tx
    .select({ passwordHash: users.passwordHash })
    .from(users)
    .where(and(eq(users.id, userId), eq(users.status, 'active')))
    .for('share');
  return row?.passwordHash;
}

/** Revoke every live session of a user but `except`; returns the revoked family ids. */
export async function revokeUserSessions(
  db: DbOrTx,
  userId: string,
  now: Date,
  except?: string,
): Promise<string[]> {
  const rows = await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(
      and(
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
        except ? ne(refreshTokens.familyId, except) : undefined,
      ),
    )
    .returning({ familyId: refreshTokens.familyId });
  return [...new Set(rows.map((r) => r.familyId))];
}

/**
 * The access-token gate: the user's current role when the user is active and the session (refresh family)
 * is not revoked, else undefined.
 */
export async function liveSessionRole(
  db: DbOrTx,
  userId: string,
  familyId: string,
): Promise<UserRow['role'] | undefined> {
  const [row] = await db
    .select({ role: users.role })
    .from(refreshTokens)
    .innerJoin(users, eq(users.id, refreshTokens.userId))
    .where(
      and(
        eq(refreshTokens.familyId, familyId),
        eq(refreshTokens.userId, userId),
        isNull(refreshTokens.revokedAt),
        notExists(revokedTokensOf(familyId)),
        eq(users.status, 'active'),
      ),
    )
    .limit(1);
  return row?.role;
}

/**
 * Suspend or reinstate a verified user (active <-> suspended); a pending one is left as it is, so a
 * reinstatement never activates an address nobody verified. The status before, undefined for no such user.
 */
export async function setUserSuspended(
  db: DbOrTx,
  userId: string,
  suspended: boolean,
): Promise<UserRow['status'] | undefined> {
  const [row] = await db
    .select({ status: users.status })
    .from(users)
    .where(eq(users.id, userId))
    .for('update');
  if (row && row.status !== 'pending')
    await db
      .update(users)
      .set({ status: suspended ? 'suspended' : 'active' })
      .where(eq(users.id, userId));
  return row?.status;
}

// ---- second factor --------------------------------------------------------------------------------

/** Spend a recovery code once (compare-and-set on used_at). */
export async function consumeRecoveryCode(
  db: DbOrTx,
  userId: string,
  codeHash: string,
  now: Date,
): Promise<boolean> {
  const rows = await db
    .update(recoveryCodes)
    .set({ usedAt: now })
    .where(
      and(
        eq(recoveryCodes.codeHash, codeHash),
        eq(recoveryCodes.userId, userId),
        isNull(recoveryCodes.usedAt),
      ),
    )
    .returning({ userId: recoveryCodes.userId });
  return rows.length === 1;
}

async function clearTotp(tx: DbOrTx, userId: string, freshSecret: string): Promise<void> {
  await tx
    .update(users)
    .set({ totpSecret: freshSecret, totpPendingSecret: null, totpEnrolledAt: null })
    .where(eq(users.id, userId));
  await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
}

/** Remove the authenticator app: logins go back to mailed codes with a fresh secret; recovery codes go. */
export async function removeTotp(db: Db, userId: string, freshSecret: string): Promise<void> {
  await db.transaction((tx) => clearTotp(tx, userId, freshSecret));
}

// ---- authenticator reset by mail ------------------------------------------------------------------

/** Resets of a user that can still happen: neither cancelled nor carried out. */
const openResetsOf = (userId: string) =>
  and(eq(mfaResets.userId, userId), isNull(mfaResets.cancelledAt), isNull(mfaResets.completedAt));

/** A new reset request; the user's older unconfirmed requests are cancelled (their links stop working). */
export async function insertMfaReset(
  db: Db,
  reset: { userId: string; tokenHash: string; requestedAt: Date; linkExpiresAt: Date },
): Promise<void> {
  await db.transaction(async (tx) => {
    await lockLinksOf(tx, 'mfa_reset', reset.userId);
    await tx
      .update(mfaResets)
      .set({ cancelledAt: reset.requestedAt, cancelReason: 'superseded' })
      .where(and(openResetsOf(reset.userId), isNull(mfaResets.confirmedAt)));
    await tx.insert(mfaResets).values(reset);
  });
}

/**
 * Confirm a reset with its mailed link, once (compare-and-set): unexpired, unconfirmed, not cancelled.
 * The app goes `delaySeconds` later. Returns the user and that time, or undefined.
 */
export async function confirmMfaReset(
  db: DbOrTx,
  p: { tokenHash: string; now: Date; delaySeconds: number },
): Promise<{ userId: string; effectiveAt: Date } | undefined> {
  const [row] = await db
    .update(mfaResets)
    .set({ confirmedAt: p.now, effectiveAt: new Date(p.now.getTime() + p.delaySeconds * 1000) })
    .where(
      and(
        eq(mfaResets.tokenHash, p.tokenHash),
        isNull(mfaResets.confirmedAt),
        isNull(mfaResets.cancelledAt),
        isNull(mfaResets.completedAt),
        gt(mfaResets.linkExpiresAt, p.now),
      ),
    )
    .returning({ userId: mfaResets.userId, effectiveAt: mfaResets.effectiveAt });
  return row?.effectiveAt ? { userId: row.userId, effectiveAt: row.effectiveAt } : undefined;
}

/** Cancel every open reset of a user; returns how many were cancelled and how many of them were confirmed. */
export async function cancelMfaResets(
  db: DbOrTx,
  p: { userId: string; now: Date; reason: string },
): Promise<{ cancelled: number; confirmed: number }> {
  const rows = await db
    .update(mfaResets)
    .set({ cancelledAt: p.now, cancelReason: p.reason })
    .where(openResetsOf(p.userId))
    .returning({ confirmedAt: mfaResets.confirmedAt });
  return { cancelled: rows.length, confirmed: rows.filter((r) => r.confirmedAt).length };
}

/** The user a reset token belongs to, while that reset is not carried out (its link also cancels). */
export async function mfaResetOwner(db: DbOrTx, tokenHash: string): Promise<string | undefined> {
  const [row] = await db
    .select({ userId: mfaResets.userId })
    .from(mfaResets)
    .where(and(eq(mfaResets.tokenHash, tokenHash), isNull(mfaResets.completedAt)))
    .limit(1);
  return row?.userId;
}

/**
 * Carry out a confirmed reset whose delay has passed: the app and its recovery codes go (as removeTotp),
 * the due resets are marked done and any other open one is cancelled, in one transaction. Returns when
 * the reset carried out was confirmed, or undefined when none was due.
 */
export async function completeDueMfaReset(
  db: Db,
  p: { userId: string; now: Date; freshSecret: string },
): Promise<Date | undefined> {
  return db.transaction(async (tx) => {
    const due = await tx
      .update(mfaResets)
      .set({ completedAt: p.now })
      .where(and(openResetsOf(p.userId), isNotNull(mfaResets.effectiveAt), lte(mfaResets.effectiveAt, p.now)))
      .returning({ confirmedAt: mfaResets.confirmedAt });
    const confirmedAt = due[0]?.confirmedAt;
    if (!confirmedAt) return undefined;
    await tx
      .update(mfaResets)
      .set({ cancelledAt: p.now, cancelReason: 'superseded' })
      .where(openResetsOf(p.userId));
    await clearTotp(tx, p.userId, p.freshSecret);
    return confirmedAt;
  });
}

/** Give a user a role (operators are made by `npm run operator:create`, never over HTTP). */
export async function setUserRole(db: DbOrTx, userId: string, role: UserRow['role']): Promise<void> {
  await db.update(users).set({ role }).where(eq(users.id, userId));
}
