/**
 * Identity queries: users, email verification tokens, TOTP state, refresh-token families and JWT signing
 * keys. Every function takes `db | tx`; the few that need a transaction of their own take the `Db`.
 */
import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../client.js';
import { CASH_ASSET } from '../accounts.js';
import { accounts, balances, refreshTokens, signingKeys, users, verificationTokens } from '../schema.js';

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

export async function insertVerificationToken(
  db: DbOrTx,
  token: { tokenHash: string; userId: string; expiresAt: Date; createdAt: Date },
): Promise<void> {
  await db.insert(verificationTokens).values(token);
}

/** Mark a verification token used, once: returns its user, or undefined if unknown, used or expired. */
export async function consumeVerificationToken(
  db: DbOrTx,
  tokenHash: string,
  now: Date,
): Promise<string | undefined> {
  const [row] = await db
    .update(verificationTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(verificationTokens.tokenHash, tokenHash),
        isNull(verificationTokens.usedAt),
        gt(verificationTokens.expiresAt, now),
      ),
    )
    .returning({ userId: verificationTokens.userId });
  return row?.userId;
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
 * checked against (compare-and-set), and the activation code's step is consumed.
 */
export async function activateTotpSecret(
  db: DbOrTx,
  userId: string,
  pendingSecret: string,
  step: number,
  now: Date,
): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({
      totpSecret: pendingSecret,
      totpPendingSecret: null,
      totpEnrolledAt: now,
      totpLastStep: sql`greatest(${users.totpLastStep}, ${BigInt(step)})`,
    })
    .where(and(eq(users.id, userId), eq(users.totpPendingSecret, pendingSecret)))
    .returning({ id: users.id });
  return rows.length === 1;
}

// ---- refresh tokens -------------------------------------------------------------------------------

export async function insertRefreshToken(
  db: DbOrTx,
  token: { userId: string; familyId: string; tokenHash: string; expiresAt: Date; createdAt: Date },
): Promise<void> {
  await db.insert(refreshTokens).values(token);
}

export type RefreshOutcome =
  | { kind: 'rotated'; userId: string; familyId: string; expiresAt: Date }
  /** A token that was already rotated came back: its family is now revoked. */
  | { kind: 'reused'; userId: string; familyId: string }
  | { kind: 'invalid' };

/**
 * Rotate a refresh token: the presented token is marked rotated and its successor inserted in the same
 * family, with the family's absolute expiry. Presenting a rotated token again revokes the whole family
 * (reuse detection); the row lock serialises two racing rotations of one token, so the second is a reuse.
 */
export async function rotateRefreshToken(
  db: Db,
  p: { tokenHash: string; successorHash: string; now: Date },
): Promise<RefreshOutcome> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, p.tokenHash))
      .for('update')
      .limit(1);
    if (!row || row.revokedAt) return { kind: 'invalid' as const };
    if (row.rotatedAt) {
      await revokeRefreshFamily(tx, row.familyId, p.now);
      return { kind: 'reused' as const, userId: row.userId, familyId: row.familyId };
    }
    if (row.expiresAt <= p.now) return { kind: 'invalid' as const };
    await tx.update(refreshTokens).set({ rotatedAt: p.now }).where(eq(refreshTokens.id, row.id));
    await tx.insert(refreshTokens).values({
      userId: row.userId,
      familyId: row.familyId,
      tokenHash: p.successorHash,
      expiresAt: row.expiresAt,
      createdAt: p.now,
    });
    return { kind: 'rotated' as const, userId: row.userId, familyId: row.familyId, expiresAt: row.expiresAt };
  });
}

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
