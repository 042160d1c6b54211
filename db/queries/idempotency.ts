/**
 * Idempotency keys, scoped to an account: deposits and withdrawals, and keyed order replaces and cancels
 * (api/routes/orders.ts). Two phases:
 * 1. `claimIdempotencyKey` (its own statement, committed at once) records the key `in_progress`, or
 *    reports what an earlier request with the key did: completed (replay it), still running (409), or
 *    used for another request (422).
 * 2. The work runs in one transaction that starts with `lockClaim` (the row, fenced by the claim time) and
 *    ends with `completeIdempotencyKey`, so the money moves and the key completes together or not at all.
 * A claim whose transaction never committed (crash) is taken over after CLAIM_LEASE_SECONDS; a key
 * expires after its TTL and may then be used again.
 */
import { and, eq, lt, or, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { idempotencyKeys } from '../schema.js';

/** An in-progress claim older than this is presumed abandoned (its transaction can no longer commit). */
export const CLAIM_LEASE_SECONDS = 60;

export type ClaimResult =
  | { kind: 'claimed'; claimedAt: Date }
  | { kind: 'completed'; status: number; body: unknown }
  | { kind: 'in_progress' }
  | { kind: 'mismatch' };

export interface ClaimParams {
  accountId: string;
  key: string;
  scope: string;
  requestHash: string;
  now: Date;
  ttlSeconds: number;
}

export async function claimIdempotencyKey(db: DbOrTx, p: ClaimParams): Promise<ClaimResult> {
  const values = {
    accountId: p.accountId,
    key: p.key,
    scope: p.scope,
    requestHash: p.requestHash,
    status: 'in_progress' as const,
    responseStatus: null,
    responseBody: null,
    createdAt: p.now,
    expiresAt: new Date(p.now.getTime() + p.ttlSeconds * 1000),
  };
  const inserted = await db
    .insert(idempotencyKeys)
    .values(values)
    .onConflictDoNothing()
    .returning({ createdAt: idempotencyKeys.createdAt });
  if (inserted.length === 1) return { kind: 'claimed', claimedAt: p.now };

  // Expired, or abandoned mid-flight: take it over (the WHERE re-checks under the row lock).
  const leaseCutoff = new Date(p.now.getTime() - CLAIM_LEASE_SECONDS * 1000);
  const taken = await db
    .update(idempotencyKeys)
    .set(values)
    .where(
      and(
        eq(idempotencyKeys.accountId, p.accountId),
        eq(idempotencyKeys.key, p.key),
        or(
          lt(idempotencyKeys.expiresAt, p.now),
          and(
            eq(idempotencyKeys.status, 'in_progress'),
            lt(idempotencyKeys.createdAt, leaseCutoff),
            eq(idempotencyKeys.requestHash, p.requestHash),
          ),
        ),
      ),
    )
    .returning({ createdAt: idempotencyKeys.createdAt });
  if (taken.length === 1) return { kind: 'claimed', claimedAt: p.now };

  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.accountId, p.accountId), eq(idempotencyKeys.key, p.key)))
    .limit(1);
  if (!row) return claimIdempotencyKey(db, p); // deleted meanwhile (a failed attempt released it): try again
  if (row.scope !== p.scope || row.requestHash !== p.requestHash) return { kind: 'mismatch' };
  if (row.status === 'in_progress') return { kind: 'in_progress' };
  return { kind: 'completed', status: row.responseStatus ?? 200, body: row.responseBody };
}

/** Inside the work transaction: lock our claim; false if it was taken over meanwhile (lease expired). */
export async function lockClaim(
  tx: DbOrTx,
  p: { accountId: string; key: string; claimedAt: Date },
): Promise<boolean> {
  const rows = await tx.execute(sql`
    SELECT 1 FROM idempotency_keys
     WHERE account_id = ${p.accountId}::uuid AND key = ${p.key} AND status = 'in_progress' AND created_at = ${p.claimedAt.toISOString()}::timestamptz
     FOR UPDATE`);
  return rows.length === 1;
}

export async function completeIdempotencyKey(
  tx: DbOrTx,
  p: { accountId: string; key: string; status: number; body: unknown },
): Promise<void> {
  await tx
    .update(idempotencyKeys)
    .set({ status: 'completed', responseStatus: p.status, responseBody: p.body })
    .where(and(eq(idempotencyKeys.accountId, p.accountId), eq(idempotencyKeys.key, p.key)));
}

/** The work failed and changed nothing: forget our claim so the client may retry with the same key. */
export async function releaseIdempotencyKey(
  db: DbOrTx,
  p: { accountId: string; key: string; claimedAt: Date },
): Promise<void> {
  await db.execute(sql`
    DELETE FROM idempotency_keys
     WHERE account_id = ${p.accountId}::uuid AND key = ${p.key} AND status = 'in_progress' AND created_at = ${p.claimedAt.toISOString()}::timestamptz`);
}

/** Housekeeping: drop expired keys; returns how many. */
export async function purgeExpiredIdempotencyKeys(db: DbOrTx, now: Date, limit = 1000): Promise<number> {
  const rows = await db.execute(sql`
    DELETE FROM idempotency_keys WHERE ctid IN (
      SELECT ctid FROM idempotency_keys WHERE expires_at < ${now.toISOString()}::timestamptz LIMIT ${limit})
    RETURNING 1`);
  return rows.length;
}
