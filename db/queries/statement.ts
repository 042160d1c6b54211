/**
 * An account statement from the ledger: per asset (USD and each symbol) the opening balance at `from`,
 * one line per journal entry that moved the asset in [from, to) with the running balance after it, and
 * the closing balance at `to`, split into available and reserved. Entries are placed in time by their
 * journal entry's `created_at` and ordered by (created_at, id).
 *
 * The opening is the current balance minus every posting since `from` (the balance rows are the sums of
 * the postings, ledgerImbalances() checks it), so a recent period does not sum the account's whole
 * history; all reads happen in one REPEATABLE READ snapshot, which makes opening + lines = closing exact.
 */
import { sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../client.js';
import { CASH_ASSET } from '../accounts.js';

export interface Buckets {
  available: bigint;
  reserved: bigint;
}

export interface StatementLine {
  entryId: bigint;
  /** The journal entry's kind: deposit, withdrawal, reserve, release, trade (and seed, for system accounts). */
  kind: string;
  /**
   * What caused it: the transfer id (deposit, withdrawal), the trade id (trade), the order id (reserve at
   * placement), `<order id>:v<n>` (reserve or release by a replace to version n), `<order id>:close`
   * (release by a terminal order), `<order id>:compensation` (release when the saga compensates).
   */
  reference: string;
  postedAt: Date;
  /** The change of each bucket by this entry. */
  change: Buckets;
  /** The balance after this entry. */
  balance: Buckets;
}

export interface StatementAsset {
  asset: string;
  opening: Buckets;
  lines: StatementLine[];
  closing: Buckets;
}

type Sums = { asset: string; available: bigint | string; reserved: bigint | string };
const buckets = (r: Sums | undefined): Buckets => ({
  available: BigInt(r?.available ?? 0),
  reserved: BigInt(r?.reserved ?? 0),
});
const byBucket = sql`coalesce(sum(p.amount) FILTER (WHERE p.bucket = 'available'), 0)::bigint AS available,
                     coalesce(sum(p.amount) FILTER (WHERE p.bucket = 'reserved'), 0)::bigint AS reserved`;

/** The statement of one account for [from, to), cash first, then symbols in order. */
export async function statementOf(
  db: Db,
  p: { accountId: string; from: Date; to: Date },
): Promise<StatementAsset[]> {
  const from = p.from.toISOString();
  const to = p.to.toISOString();
  const read = async (tx: DbOrTx) => {
    const current = await tx.execute<Sums>(sql`
      SELECT asset, available, reserved FROM balances WHERE account_id = ${p.accountId}::uuid`);
    const since = await tx.execute<Sums>(sql`
      SELECT p.asset, ${byBucket}
        FROM postings p JOIN journal_entries je ON je.id = p.entry_id
       WHERE p.account_id = ${p.accountId}::uuid AND je.created_at >= ${from}::timestamptz
       GROUP BY p.asset`);
    const lines = await tx.execute<
      Sums & { entry_id: bigint | string; kind: string; reference: string; created_at: Date | string }
    >(sql`
      SELECT je.id AS entry_id, je.kind, je.reference, je.created_at, p.asset, ${byBucket}
        FROM postings p JOIN journal_entries je ON je.id = p.entry_id
       WHERE p.account_id = ${p.accountId}::uuid AND je.created_at >= ${from}::timestamptz AND je.created_at < ${to}::timestamptz
       GROUP BY je.id, p.asset
       ORDER BY je.created_at, je.id, p.asset`);
    return { current, since, lines };
  };
  const { current, since, lines } = await db.transaction(read, {
    isolationLevel: 'repeatable read',
    accessMode: 'read only',
  });

  const assets = new Set([CASH_ASSET, ...current.map((r) => r.asset)]);
  const out: StatementAsset[] = [];
  for (const asset of [...assets].sort((a, b) =>
    a === CASH_ASSET ? -1 : b === CASH_ASSET ? 1 : a.localeCompare(b),
  )) {
    const now = buckets(current.find((r) => r.asset === asset));
    const later = buckets(since.find((r) => r.asset === asset));
    const opening = { available: now.available - later.available, reserved: now.reserved - later.reserved };
    let running = opening;
    const assetLines: StatementLine[] = [];
    for (const r of lines) {
      if (r.asset !== asset) continue;
      const change = buckets(r);
      running = {
        available: running.available + change.available,
        reserved: running.reserved + change.reserved,
      };
      assetLines.push({
        entryId: BigInt(r.entry_id),
        kind: r.kind,
        reference: r.reference,
        postedAt: new Date(r.created_at),
        change,
        balance: running,
      });
    }
    const untouched = assetLines.length === 0 && opening.available === 0n && opening.reserved === 0n;
    if (asset === CASH_ASSET || !untouched) out.push({ asset, opening, lines: assetLines, closing: running });
  }
  return out;
}
