/**
 * An account statement from the ledger: per asset (USD and each symbol) the opening balance at `from`,
 * one line per journal entry that moved the asset in [from, to) with the running balance after it, and
 * the closing balance at `to`, split into available and reserved. Entries are placed in time by their
 * journal entry's `created_at` and ordered by (created_at, id), an entry's assets by name. The entries a
 * matching shard's operation writes (a trade, the releases and a replace's reserve beside it) are dated
 * at the operation's time, a trade's exactly at its executed_at, so a trade falls in the period its
 * confirmation names; any other entry at its transaction's start.
 *
 * A statement is read in pages of at most `limit` lines, keyset-paginated on (created_at, entry id,
 * asset); `created_at` travels as epoch microseconds so no page boundary loses Postgres's precision. A
 * page reads only its own lines (`journal_entries_created_at_idx`, migration 0022), never the period's:
 * the first page computes the opening at `from`, and each page hands the balances after its last line
 * to the next (StatementCursor), so no page sums the lines before it.
 *
 * The opening is the current balance minus every posting since `from` (the balance rows are the sums of
 * the postings, ledgerImbalances() checks it), so a recent period does not sum the account's whole
 * history; the first page's reads happen in one REPEATABLE READ snapshot, which makes opening + lines =
 * closing exact. A later page adds its lines to the balances its cursor carries; the entries of a period
 * that has passed do not change, so the pages chain exactly.
 */
import { sql } from 'drizzle-orm';
import { epochMicros, fromEpochMicros, type Db, type DbOrTx } from '../client.js';
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
  /** postedAt in microseconds since the epoch: the exact keyset position. */
  postedAtMicros: bigint;
  /** The change of each bucket by this entry. */
  change: Buckets;
  /** The balance after this entry. */
  balance: Buckets;
}

/** One asset of a page: its balance before the page's first line, the page's lines, the balance after. */
export interface StatementAsset {
  asset: string;
  opening: Buckets;
  lines: StatementLine[];
  closing: Buckets;
}

/** The position of a line in the statement's order. */
export interface StatementKey {
  postedAtMicros: bigint;
  entryId: bigint;
  asset: string;
}

/** Where the next page starts: after the line `key`, with every asset's balance after it (absent: zero). */
export interface StatementCursor {
  key: StatementKey;
  balances: Record<string, Buckets>;
}

export interface StatementPage {
  /** Cash first, then symbols in order: USD always, another asset if it has a line or a non-zero opening. */
  assets: StatementAsset[];
  /** Undefined on the last page (its closings are the period's). */
  next?: StatementCursor;
}

type Sums = { asset: string; available: bigint | string; reserved: bigint | string };
const buckets = (r: Sums | undefined): Buckets => ({
  available: BigInt(r?.available ?? 0),
  reserved: BigInt(r?.reserved ?? 0),
});
const byBucket = sql`coalesce(sum(p.amount) FILTER (WHERE p.bucket = 'available'), 0)::bigint AS available,
                     coalesce(sum(p.amount) FILTER (WHERE p.bucket = 'reserved'), 0)::bigint AS reserved`;

type LineRow = Sums & {
  entry_id: bigint | string;
  kind: string;
  reference: string;
  created_at: Date | string;
  micros: bigint | string;
};

/**
 * One page of the statement of one account for [from, to): at most `limit` lines, the first page without
 * `after` (its openings: the balances at `from`), each next one with the previous page's `next`.
 */
export async function statementOf(
  db: Db,
  p: { accountId: string; from: Date; to: Date; limit: number; after?: StatementCursor },
): Promise<StatementPage> {
  const from = p.from.toISOString();
  const to = p.to.toISOString();
  const after = p.after?.key;
  // One more line than the page holds tells whether another page follows. Grouped by the posting's entry
  // id, not the entry's own: Postgres drops the columns a primary key determines from a GROUP BY, and
  // without created_at the groups could not come in the index's order, so the LIMIT would not stop the
  // scan (every line of the period sorted for one page).
  const linesOf = (tx: DbOrTx) =>
    tx.execute<LineRow>(sql`
      SELECT p.entry_id, je.kind, je.reference, je.created_at, ${epochMicros(sql`je.created_at`)} AS micros,
             p.asset, ${byBucket}
        FROM postings p JOIN journal_entries je ON je.id = p.entry_id
       WHERE p.account_id = ${p.accountId}::uuid AND je.created_at >= ${from}::timestamptz AND je.created_at < ${to}::timestamptz
             ${
               after
                 ? sql`AND (je.created_at, je.id) >= (${fromEpochMicros(after.postedAtMicros)}, ${after.entryId.toString()}::bigint)
                       AND (je.created_at, je.id, p.asset) > (${fromEpochMicros(after.postedAtMicros)}, ${after.entryId.toString()}::bigint, ${after.asset})`
                 : sql``
             }
       GROUP BY je.created_at, p.entry_id, p.asset, je.kind, je.reference
       ORDER BY je.created_at, p.entry_id, p.asset
       LIMIT ${p.limit + 1}`);

  let openings: Map<string, Buckets>;
  let lines: LineRow[];
  if (p.after) {
    openings = new Map(Object.entries(p.after.balances));
    lines = await linesOf(db);
  } else {
    const read = async (tx: DbOrTx) => {
      const current = await tx.execute<Sums>(sql`
        SELECT asset, available, reserved FROM balances WHERE account_id = ${p.accountId}::uuid`);
      const since = await tx.execute<Sums>(sql`
        SELECT p.asset, ${byBucket}
          FROM postings p JOIN journal_entries je ON je.id = p.entry_id
         WHERE p.account_id = ${p.accountId}::uuid AND je.created_at >= ${from}::timestamptz
         GROUP BY p.asset`);
      return { current, since, lines: await linesOf(tx) };
    };
    const snapshot = await db.transaction(read, {
      isolationLevel: 'repeatable read',
      accessMode: 'read only',
    });
    openings = new Map();
    for (const r of snapshot.current) {
      const now = buckets(r);
      const later = buckets(snapshot.since.find((s) => s.asset === r.asset));
      openings.set(r.asset, {
        available: now.available - later.available,
        reserved: now.reserved - later.reserved,
      });
    }
    lines = snapshot.lines;
  }
  const more = lines.length > p.limit;
  if (more) lines = lines.slice(0, p.limit);

  const assets = new Set([CASH_ASSET, ...openings.keys(), ...lines.map((r) => r.asset)]);
  const out: StatementAsset[] = [];
  const balances: Record<string, Buckets> = {};
  for (const asset of [...assets].sort((a, b) =>
    a === CASH_ASSET ? -1 : b === CASH_ASSET ? 1 : a.localeCompare(b),
  )) {
    const opening = openings.get(asset) ?? { available: 0n, reserved: 0n };
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
        postedAtMicros: BigInt(r.micros),
        change,
        balance: running,
      });
    }
    balances[asset] = running;
    const untouched = assetLines.length === 0 && opening.available === 0n && opening.reserved === 0n;
    if (asset === CASH_ASSET || !untouched) out.push({ asset, opening, lines: assetLines, closing: running });
  }
  const last = lines[lines.length - 1];
  return {
    assets: out,
    next:
      more && last
        ? {
            key: { postedAtMicros: BigInt(last.micros), entryId: BigInt(last.entry_id), asset: last.asset },
            balances,
          }
        : undefined,
  };
}
