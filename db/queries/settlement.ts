/**
 * Settlement: everything one matching step changes, written in the caller's transaction (trades,
 * both orders' state, both accounts' cash, reservations and positions as ledger entries, outbox rows).
 */
import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client.js';
import { CASH_ASSET } from '../accounts.js';
import { matchingSequences, orders, trades } from '../schema.js';
import { postEntry } from './ledger.js';
import type { OrderRow } from './orders.js';

/** Lock the given orders (stable id order, so two steps never deadlock) and return them by id. */
export async function lockOrders(tx: DbOrTx, ids: string[]): Promise<Map<string, OrderRow>> {
  const unique = [...new Set(ids)].sort();
  if (unique.length === 0) return new Map();
  const rows = await tx
    .select()
    .from(orders)
    .where(inArray(orders.id, unique))
    .orderBy(orders.id)
    .for('update');
  return new Map(rows.map((r) => [r.id, r]));
}

export interface FillToSettle {
  buy: OrderRow;
  sell: OrderRow;
  makerOrderId: string;
  price: bigint;
  qty: bigint;
  executedAt: Date;
}

/**
 * Record one trade and move cash and shares. The buyer's reservation was taken at `reservePrice` per
 * share; the fill consumes qty x reservePrice of it and releases the price improvement
 * qty x (reservePrice - price) back to available cash.
 */
export async function settleFill(tx: DbOrTx, f: FillToSettle): Promise<string> {
  const tradeId = randomUUID();
  const symbol = f.buy.symbol;
  const consumed = f.qty * f.buy.reservePrice;
  const notional = f.qty * f.price;
  await tx.insert(trades).values({
    id: tradeId,
    symbol,
    buyOrderId: f.buy.id,
    sellOrderId: f.sell.id,
    makerOrderId: f.makerOrderId,
    price: f.price,
    quantity: f.qty,
    executedAt: f.executedAt,
  });
  await postEntry(tx, {
    kind: 'trade',
    reference: tradeId,
    postings: [
      { accountId: f.buy.accountId, asset: CASH_ASSET, bucket: 'reserved', amount: -consumed },
      { accountId: f.buy.accountId, asset: CASH_ASSET, bucket: 'available', amount: consumed - notional },
      { accountId: f.sell.accountId, asset: CASH_ASSET, bucket: 'available', amount: notional },
      { accountId: f.sell.accountId, asset: symbol, bucket: 'reserved', amount: -f.qty },
      { accountId: f.buy.accountId, asset: symbol, bucket: 'available', amount: f.qty },
    ],
  });
  for (const [order, reservedUsed] of [
    [f.buy, consumed],
    [f.sell, f.qty],
  ] as const) {
    order.filledQuantity += f.qty;
    order.filledNotional += notional;
    order.reservedAmount -= reservedUsed;
  }
  return tradeId;
}

/** Write back an order's changed columns (the in-memory row is the source for this step). */
export async function saveOrder(tx: DbOrTx, o: OrderRow, now: Date): Promise<void> {
  o.updatedAt = now;
  await tx
    .update(orders)
    .set({
      quantity: o.quantity,
      price: o.price,
      reservePrice: o.reservePrice,
      timeInForce: o.timeInForce,
      stopPrice: o.stopPrice,
      triggeredAt: o.triggeredAt,
      filledQuantity: o.filledQuantity,
      filledNotional: o.filledNotional,
      status: o.status,
      reservedAmount: o.reservedAmount,
      lockVersion: o.lockVersion,
      bookSeq: o.bookSeq,
      rejectReason: o.rejectReason,
      lastRequestId: o.lastRequestId,
      updatedAt: now,
    })
    .where(eq(orders.id, o.id));
}

/** Advance the symbol's sequence to `seq`; `lastPrice` when the operation traded (its last trade's price). */
export async function saveSequence(
  tx: DbOrTx,
  symbol: string,
  seq: number,
  lastPrice?: number,
): Promise<void> {
  const price = lastPrice === undefined ? undefined : BigInt(lastPrice);
  await tx
    .insert(matchingSequences)
    .values({ symbol, lastSeq: BigInt(seq), lastPrice: price })
    .onConflictDoUpdate({
      target: matchingSequences.symbol,
      set: {
        lastSeq: sql`GREATEST(${matchingSequences.lastSeq}, ${BigInt(seq)})`,
        ...(price === undefined ? {} : { lastPrice: price }),
      },
    });
}

export async function loadSequence(
  db: DbOrTx,
  symbol: string,
): Promise<{ seq: number; lastPrice: bigint | undefined }> {
  const [row] = await db.select().from(matchingSequences).where(eq(matchingSequences.symbol, symbol));
  return { seq: row ? Number(row.lastSeq) : 0, lastPrice: row?.lastPrice ?? undefined };
}

/** Open orders of a symbol in book priority order, for rebuilding the book after a start or a failure. */
export async function openOrdersForBook(db: DbOrTx, symbol: string): Promise<OrderRow[]> {
  return db
    .select()
    .from(orders)
    .where(sql`${orders.symbol} = ${symbol} AND ${orders.status} IN ('working', 'partially_filled')`)
    .orderBy(orders.bookSeq);
}

/** Stop orders of a symbol still waiting for their trigger, in sequence order. */
export async function pendingStopsForBook(db: DbOrTx, symbol: string): Promise<OrderRow[]> {
  return db
    .select()
    .from(orders)
    .where(sql`${orders.symbol} = ${symbol} AND ${orders.status} = 'pending_trigger'`)
    .orderBy(orders.bookSeq);
}

/** Trade ids an order took part in, so a retried submit reports the same fills. */
export async function tradeIdsOf(db: DbOrTx, orderId: string): Promise<string[]> {
  const rows = await db
    .select({ id: trades.id })
    .from(trades)
    .where(sql`${trades.buyOrderId} = ${orderId} OR ${trades.sellOrderId} = ${orderId}`)
    .orderBy(trades.executedAt);
  return rows.map((r) => r.id);
}
