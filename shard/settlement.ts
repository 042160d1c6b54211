/**
 * Settlement to events: apply an engine result in the operation's transaction (trades, both orders,
 * both accounts' balances, reservations released) and write the outbox events that announce it
 * (execution reports, market data; temporal/events.ts).
 */
import { randomUUID } from 'node:crypto';
import type { DbOrTx } from '../db/client.js';
import { releaseOrderReservation, type OrderRow } from '../db/queries/orders.js';
import { lockOrders, saveOrder, settleFill, tradeIdsOf } from '../db/queries/settlement.js';
import type { OrderEventInput } from '../db/queries/timeline.js';
import type { SubmitResult } from '../matching/index.js';
import type { OrderSnapshot } from '../temporal/activities.js';
import {
  EventType,
  type ExecType,
  type ExecutionReportPayload,
  type OutboxEvent,
} from '../temporal/events.js';
import { isTerminal } from '../temporal/orders.js';
import type { ShardBooks } from './books.js';
import type { ShardMetrics } from './metrics.js';
import { announce } from './timeline.js';

export interface SettlementDeps {
  books: ShardBooks;
  metrics: ShardMetrics;
}

/**
 * Apply an engine result for `taker` (a new or replaced order): fills, the taker's resting or
 * cancelled remainder, cancellations of resting orders (self-trade prevention), outbox rows.
 */
export async function settleResult(
  deps: SettlementDeps,
  tx: DbOrTx,
  taker: OrderRow,
  result: SubmitResult,
  seq: number,
  at: Date,
  restingExec: ExecType,
): Promise<string[]> {
  const events: OutboxEvent[] = [];
  // A new order's timeline: submitted, and accepted unless the engine refuses it.
  const arrival = (accepted: boolean): OrderEventInput[] =>
    restingExec !== 'new'
      ? []
      : [
          { orderId: taker.id, key: 'submitted', at, type: 'submitted', details: {} },
          ...(accepted
            ? [{ orderId: taker.id, key: 'accepted', at, type: 'accepted' as const, details: {} }]
            : []),
        ];
  if (!result.ok) {
    taker.status = 'rejected';
    taker.rejectReason = result.reason;
    await closeOrder(tx, taker, at);
    events.push(executionReport(taker, 'rejected', at));
    await announce(tx, events, arrival(false));
    return [];
  }
  const others = await lockOrders(tx, [
    ...result.fills.map((f) => f.makerOrderId),
    ...result.cancellations.map((c) => c.orderId).filter((id) => id !== taker.id),
  ]);
  const fillIds: string[] = [];
  for (const f of result.fills) {
    const maker = others.get(f.makerOrderId);
    if (!maker) throw new Error(`maker ${f.makerOrderId} not found`);
    const [buy, sell] = taker.side === 'buy' ? [taker, maker] : [maker, taker];
    const price = BigInt(f.price);
    const qty = BigInt(f.qty);
    const tradeId = await settleFill(tx, { buy, sell, makerOrderId: maker.id, price, qty, executedAt: at });
    fillIds.push(tradeId);
    for (const o of [maker, taker]) {
      o.status = o.filledQuantity === o.quantity ? 'filled' : 'partially_filled';
      events.push(
        executionReport(
          o,
          o.status === 'filled' ? 'fill' : 'partial_fill',
          at,
          { tradeId, qty, price },
          o !== taker,
        ),
      );
    }
    if (maker.status === 'filled') await closeOrder(tx, maker, at);
    else await saveOrder(tx, maker, at);
  }
  for (const c of result.cancellations) {
    const o = c.orderId === taker.id ? taker : others.get(c.orderId);
    if (!o) continue;
    o.status = 'cancelled';
    if (o !== taker) {
      o.lockVersion += 1;
      await closeOrder(tx, o, at);
      events.push(executionReport(o, 'canceled', at, undefined, true));
    }
  }
  if (taker.status === 'pending') taker.status = 'working';
  if (result.resting) {
    taker.bookSeq = BigInt(deps.books.get(taker.symbol)?.get(taker.id)?.seq ?? seq);
    if (taker.status !== 'partially_filled') taker.status = 'working';
    if (restingExec === 'replaced' || result.fills.length === 0)
      events.push(executionReport(taker, restingExec, at));
  } else if (taker.status !== 'filled') {
    taker.status = 'cancelled'; // IOC/market remainder, FOK not fillable, self-trade prevention
    events.push(executionReport(taker, 'canceled', at));
  }
  if (isTerminal(taker.status)) await closeOrder(tx, taker, at);
  else await saveOrder(tx, taker, at);
  events.push(marketEvent(deps.books, taker.symbol, at));
  await announce(tx, events, arrival(true));
  deps.metrics.fills.inc(result.fills.length);
  return fillIds;
}

/** A terminal order gives back whatever it still has reserved. */
export async function closeOrder(tx: DbOrTx, o: OrderRow, at: Date): Promise<void> {
  if (o.reservedAmount > 0n) {
    await releaseOrderReservation(tx, o, `${o.id}:close`, o.reservedAmount);
    o.reservedAmount = 0n;
  }
  await saveOrder(tx, o, at);
}

/**
 * An execution report for the feed. `notifySaga`: the order's saga must hear of it from the relay (a
 * resting order filled or cancelled by someone else's step). Reports on the order whose saga called
 * this step are not signalled: the saga has the same facts in the step's result.
 */
export function executionReport(
  o: OrderRow,
  exec: ExecType,
  at: Date,
  fill?: { tradeId: string; qty: bigint; price: bigint },
  notifySaga = false,
): OutboxEvent {
  const payload: ExecutionReportPayload = {
    event_id: randomUUID(),
    exec_type: exec,
    order_id: o.id,
    client_order_id: o.clientOrderId,
    workflow_id: o.workflowId,
    symbol: o.symbol,
    side: o.side,
    order_type: o.orderType,
    time_in_force: o.timeInForce,
    status: o.status,
    quantity: o.quantity.toString(),
    price: o.price?.toString() ?? null,
    fill_id: fill?.tradeId ?? null,
    fill_qty: fill ? fill.qty.toString() : '0',
    fill_price: fill ? fill.price.toString() : null,
    cum_qty: o.filledQuantity.toString(),
    leaves_qty: (isTerminal(o.status) ? 0n : o.quantity - o.filledQuantity).toString(),
    reserved_amount: o.reservedAmount.toString(),
    lock_version: o.lockVersion,
    reject_reason: o.rejectReason ?? null,
    ts: at.toISOString(),
    notify_saga: notifySaga,
  };
  return { accountId: o.accountId, eventType: EventType.ExecutionReport, payload };
}

/** Market data after a change: L1, L2 (10 levels) and the last trades, from the book as committed. */
export function marketEvent(books: ShardBooks, symbol: string, at: Date): OutboxEvent {
  const book = books.get(symbol);
  return {
    accountId: null,
    eventType: EventType.MarketUpdate,
    payload: {
      symbol,
      quote: book?.quote() ?? null,
      depth: book?.depth(10) ?? null,
      trades: book?.lastTrades(20) ?? [],
      ts: at.toISOString(),
    },
  };
}

/** The committed state of an order, as the saga receives it. */
export async function snapshot(db: DbOrTx, o: OrderRow, fillIds?: string[]): Promise<OrderSnapshot> {
  return {
    orderId: o.id,
    status: o.status,
    lockVersion: o.lockVersion,
    filledQuantity: o.filledQuantity.toString(),
    reservedAmount: o.reservedAmount.toString(),
    quantity: o.quantity.toString(),
    price: o.price?.toString(),
    rejectReason: o.rejectReason ?? undefined,
    fillIds: fillIds ?? (await tradeIdsOf(db, o.id)),
  };
}
