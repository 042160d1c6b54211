/**
 * Cash across the system boundary (deposits, withdrawals) and the portfolio read. A transfer is one
 * balanced journal entry between the external counterparty and the client's available cash, plus its
 * `cash_transfers` row, in the caller's transaction. Withdrawals rely on the balances CHECK: available
 * cash cannot go negative, so a concurrent withdrawal can never overdraw (InsufficientBalanceError).
 */
import { randomUUID } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { CASH_ASSET, EXTERNAL_ACCOUNT_ID } from '../accounts.js';
import { cashTransfers } from '../schema.js';
import { holdControlLockShared } from './controls.js';
import { postEntry } from './ledger.js';

export type Direction = 'deposit' | 'withdrawal';
export type TransferRow = typeof cashTransfers.$inferSelect;

export async function transferCash(
  tx: DbOrTx,
  p: { accountId: string; direction: Direction; amount: bigint; now: Date },
): Promise<TransferRow> {
  if (p.amount <= 0n) throw new RangeError('transfer amount must be positive');
  const id = randomUUID();
  const signed = p.direction === 'deposit' ? p.amount : -p.amount;
  const entryId = await postEntry(tx, {
    kind: p.direction,
    reference: id,
    memo: `${p.direction} ${p.accountId}`,
    postings: [
      { accountId: EXTERNAL_ACCOUNT_ID, asset: CASH_ASSET, bucket: 'available', amount: -signed },
      { accountId: p.accountId, asset: CASH_ASSET, bucket: 'available', amount: signed },
    ],
  });
  if (entryId === null) throw new Error(`journal entry ${p.direction}/${id} already exists`);
  // The balance row is locked by this transaction since postEntry updated it: this is the balance after.
  const [balance] = await tx.execute<{ available: bigint }>(sql`
    SELECT available FROM balances WHERE account_id = ${p.accountId}::uuid AND asset = ${CASH_ASSET}`);
  const [row] = await tx
    .insert(cashTransfers)
    .values({
      id,
      accountId: p.accountId,
      direction: p.direction,
      amount: p.amount,
      currency: CASH_ASSET,
      status: 'settled',
      entryId,
      balanceAfter: BigInt(balance?.available ?? 0n),
      createdAt: p.now,
    })
    .returning();
  return row!;
}

export async function listTransfers(
  db: DbOrTx,
  p: { accountId: string; direction: Direction; limit: number },
): Promise<TransferRow[]> {
  return db
    .select()
    .from(cashTransfers)
    .where(and(eq(cashTransfers.accountId, p.accountId), eq(cashTransfers.direction, p.direction)))
    .orderBy(desc(cashTransfers.createdAt), desc(cashTransfers.id))
    .limit(p.limit);
}

export interface PortfolioSnapshot {
  account: { id: string; currency: string; status: string };
  balances: { asset: string; available: bigint; reserved: bigint }[];
}

/**
 * The account and all its balances in one statement, so cash and positions come from one snapshot
 * (a concurrent trade is seen entirely or not at all).
 */
export async function portfolioOf(db: DbOrTx, accountId: string): Promise<PortfolioSnapshot | undefined> {
  const rows = await db.execute<{
    id: string;
    currency: string;
    status: string;
    asset: string | null;
    available: bigint | null;
    reserved: bigint | null;
  }>(sql`
    SELECT a.id, a.currency, a.status, b.asset, b.available, b.reserved
      FROM accounts a LEFT JOIN balances b ON b.account_id = a.id
     WHERE a.id = ${accountId}::uuid
     ORDER BY b.asset`);
  const first = rows[0];
  if (!first) return undefined;
  return {
    account: { id: first.id, currency: first.currency, status: first.status },
    balances: rows.flatMap((r) =>
      r.asset === null
        ? []
        : [{ asset: r.asset, available: BigInt(r.available ?? 0n), reserved: BigInt(r.reserved ?? 0n) }],
    ),
  };
}

/**
 * A transfer's account status: the account's control lock held shared first (until the transaction ends;
 * it waits for a freeze or unfreeze in flight, ADR 0022), then the status read by a statement of its own,
 * whose snapshot (READ COMMITTED) is taken once the lock is granted, so it sees every freeze committed
 * before. A transfer thus commits before a freeze of its account answers, or is refused after it.
 */
export async function accountStatusHoldingControlLock(
  tx: DbOrTx,
  accountId: string,
): Promise<string | undefined> {
  await holdControlLockShared(tx, `account:${accountId}`);
  const [row] = await tx.execute<{ status: string }>(
    sql`SELECT status FROM accounts WHERE id = ${accountId}::uuid`,
  );
  return row?.status;
}
