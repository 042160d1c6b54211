/**
 * The double-entry ledger. Every movement of cash or shares is one journal entry whose postings sum to
 * zero per asset; balances are updated in the same transaction, and their CHECK constraint refuses any
 * non-external balance going negative. (kind, reference) is unique, so posting an event twice is a no-op.
 */
import { sql } from 'drizzle-orm';
import { postgresErrorCode, prebuilt, type DbOrTx } from '../client.js';

export interface Posting {
  accountId: string;
  asset: string;
  bucket: 'available' | 'reserved';
  amount: bigint;
}

export class UnbalancedEntryError extends Error {}
/** A balance would go negative (CHECK balances_non_negative). */
export class InsufficientBalanceError extends Error {
  constructor(readonly asset: string) {
    super(`Insufficient ${asset} balance`);
  }
}

function assertBalanced(postings: Posting[]): void {
  const sums = new Map<string, bigint>();
  for (const p of postings) sums.set(p.asset, (sums.get(p.asset) ?? 0n) + p.amount);
  for (const [asset, sum] of sums)
    if (sum !== 0n) throw new UnbalancedEntryError(`Entry does not balance for ${asset}: ${sum}`);
}

export const isCheckViolation = (err: unknown): boolean => postgresErrorCode(err) === '23514';

/** The asset a refused balance change names (post_entry's DETAIL), if it is one of the entry's. */
function refusedAsset(err: unknown, postings: Posting[]): string {
  const e = err as { detail?: string; cause?: { detail?: string } };
  const detail = e.detail ?? e.cause?.detail;
  return (
    postings.find((p) => p.asset === detail)?.asset ?? postings.find((p) => p.amount < 0n)?.asset ?? 'unknown'
  );
}

export interface LedgerEntry {
  kind: string;
  reference: string;
  memo?: string;
  postings: Posting[];
  /**
   * When the entry is dated (its `created_at`, by which an account's statement places it): the time of
   * what it records, when that was read before its transaction wrote it (a matching shard's operation,
   * whose trades carry the same time as executed_at). Absent: its transaction's start.
   */
  at?: Date;
}

/** An entry's postings as `post_entry` takes them (JSON), after checking that they balance. */
export function postingsJson(entry: LedgerEntry) {
  assertBalanced(entry.postings);
  return entry.postings.map((p) => ({
    account_id: p.accountId,
    asset: p.asset,
    bucket: p.bucket,
    amount: p.amount.toString(),
  }));
}

/** `post_entry` of the entry given as a statement's values `entryValues` (as the only write, or among others). */
export const postEntrySql = sql`post_entry(${sql.placeholder('entryKind')}, ${sql.placeholder('entryReference')},
  ${sql.placeholder('entryMemo')}, ${sql.placeholder('entryPostings')}::jsonb, ${sql.placeholder('entryAt')}::timestamptz)`;

/** The values `postEntrySql` reads, for one entry. */
export function entryValues(entry: LedgerEntry): Record<string, string | null> {
  return {
    entryKind: entry.kind,
    entryReference: entry.reference,
    entryMemo: entry.memo ?? null,
    entryPostings: JSON.stringify(postingsJson(entry)),
    entryAt: entry.at?.toISOString() ?? null,
  };
}

/** A failed statement that posted `entry`, as the ledger names it: a refused balance change is an InsufficientBalanceError. */
export function ledgerError(err: unknown, entry: LedgerEntry): unknown {
  return isCheckViolation(err) ? new InsufficientBalanceError(refusedAsset(err, entry.postings)) : err;
}

const postEntryCall = prebuilt<Record<string, string | null>, { id: bigint | null }>(
  sql`SELECT ${postEntrySql} AS id`,
);

/**
 * Post one entry: the journal entry, its postings and the balance changes in one statement (the
 * `post_entry` function, db/migrations/0024_entries_dated_by_their_operation.sql). Returns the entry id, or
 * null if an entry with this (kind, reference) already exists (then nothing is changed). Inside a
 * transaction it joins it; alone it is atomic by itself.
 */
export async function postEntry(tx: DbOrTx, entry: LedgerEntry): Promise<bigint | null> {
  const values = entryValues(entry);
  try {
    const [row] = await postEntryCall(tx, values);
    return row?.id ?? null;
  } catch (err) {
    throw ledgerError(err, entry);
  }
}

export type BalanceRow = {
  asset: string;
  available: bigint;
  reserved: bigint;
};

export async function balancesOf(db: DbOrTx, accountId: string): Promise<BalanceRow[]> {
  return db.execute<BalanceRow>(sql`
    SELECT asset, available, reserved FROM balances WHERE account_id = ${accountId}::uuid ORDER BY asset`);
}

/**
 * Conservation: returns the imbalances found (empty when the ledger is sound). Checks that every entry
 * sums to zero per asset, that every asset sums to zero over all balances, and that every balance equals
 * the sum of its postings.
 */
export async function ledgerImbalances(
  db: DbOrTx,
): Promise<{ check: string; key: string; amount: string }[]> {
  return db.execute<{ check: string; key: string; amount: string }>(sql`
    SELECT 'entry' AS check, entry_id::text || ':' || asset AS key, sum(amount)::text AS amount
      FROM postings GROUP BY entry_id, asset HAVING sum(amount) <> 0
    UNION ALL
    SELECT 'asset', asset, sum(available + reserved)::text FROM balances GROUP BY asset HAVING sum(available + reserved) <> 0
    UNION ALL
    SELECT 'balance', b.account_id::text || ':' || b.asset || ':' || k.bucket, (k.bal - coalesce(p.total, 0))::text
      FROM balances b
      CROSS JOIN LATERAL (VALUES ('available', b.available), ('reserved', b.reserved)) AS k(bucket, bal)
      LEFT JOIN (SELECT account_id, asset, bucket, sum(amount) AS total FROM postings GROUP BY 1, 2, 3) p
        ON p.account_id = b.account_id AND p.asset = b.asset AND p.bucket = k.bucket
      WHERE k.bal <> coalesce(p.total, 0)`);
}
