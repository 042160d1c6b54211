/**
 * The double-entry ledger. Every movement of cash or shares is one journal entry whose postings sum to
 * zero per asset; balances are updated in the same transaction, and their CHECK constraint refuses any
 * non-external balance going negative. (kind, reference) is unique, so posting an event twice is a no-op.
 */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';

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
  for (const [asset, sum] of sums) if (sum !== 0n) throw new UnbalancedEntryError(`Entry does not balance for ${asset}: ${sum}`);
}

export function isCheckViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code === '23514' || e.cause?.code === '23514';
}

/**
 * Post one entry. Returns the entry id, or null if an entry with this (kind, reference) already exists
 * (then nothing is changed). Must run inside a transaction: a failed balance update rolls the entry back.
 */
export async function postEntry(
  tx: DbOrTx,
  entry: { kind: string; reference: string; memo?: string; postings: Posting[] },
): Promise<bigint | null> {
  assertBalanced(entry.postings);
  const inserted = await tx.execute<{ id: bigint }>(sql`
    INSERT INTO journal_entries (kind, reference, memo) VALUES (${entry.kind}, ${entry.reference}, ${entry.memo ?? null})
    ON CONFLICT (kind, reference) DO NOTHING RETURNING id`);
  const id = inserted[0]?.id;
  if (id === undefined) return null;
  const nonZero = entry.postings.filter((p) => p.amount !== 0n);
  if (nonZero.length === 0) return id;
  const rows = nonZero.map((p) => sql`(${id}::bigint, ${p.accountId}::uuid, ${p.asset}, ${p.bucket}, ${p.amount}::bigint)`);
  await tx.execute(sql`INSERT INTO postings (entry_id, account_id, asset, bucket, amount) VALUES ${sql.join(rows, sql`, `)}`);
  // Aggregate per balance row, lock rows in a stable order (account, asset) to avoid deadlocks.
  const deltas = new Map<string, { accountId: string; asset: string; available: bigint; reserved: bigint }>();
  for (const p of nonZero) {
    const key = `${p.accountId}|${p.asset}`;
    const d = deltas.get(key) ?? { accountId: p.accountId, asset: p.asset, available: 0n, reserved: 0n };
    d[p.bucket] += p.amount;
    deltas.set(key, d);
  }
  const ordered = [...deltas.values()].sort((a, b) => (a.accountId + a.asset < b.accountId + b.asset ? -1 : 1));
  for (const d of ordered) {
    try {
      // UPDATE first: an upsert would check the proposed insert row (the bare delta) against the
      // non-negative constraint even when the row exists. A missing row starts at the delta.
      const updated = await tx.execute(sql`
        UPDATE balances SET available = available + ${d.available}::bigint, reserved = reserved + ${d.reserved}::bigint, updated_at = now()
        WHERE account_id = ${d.accountId}::uuid AND asset = ${d.asset} RETURNING 1`);
      if (updated.length === 0) {
        await tx.execute(sql`
          INSERT INTO balances (account_id, asset, available, reserved) VALUES (${d.accountId}::uuid, ${d.asset}, ${d.available}::bigint, ${d.reserved}::bigint)
          ON CONFLICT (account_id, asset) DO UPDATE
            SET available = balances.available + EXCLUDED.available,
                reserved = balances.reserved + EXCLUDED.reserved,
                updated_at = now()`);
      }
    } catch (err) {
      if (isCheckViolation(err)) throw new InsufficientBalanceError(d.asset);
      throw err;
    }
  }
  return id;
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
export async function ledgerImbalances(db: DbOrTx): Promise<{ check: string; key: string; amount: string }[]> {
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
