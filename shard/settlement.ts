/**
 * Settlement to events: apply an engine result in the operation's transaction (trades, both orders,
 * both accounts' balances, reservations released) and the outbox events that announce it (execution
 * reports, market data; temporal/events.ts), gathered into the operation's writes (`SettlementWrites`,
 * written in one statement when the operation ends).
 */
import { randomUUID } from 'node:crypto';
import type { DbOrTx } from '../db/client.js';
import { committedOrder, releaseEntry, type OrderRow } from '../db/queries/orders.js';
import {
  expectationOf,
  lockOrders,
  saveOrder,
  settleFill,
  type SettlementWrites,
} from '../db/queries/settlement.js';
import type { OrderEventInput } from '../db/queries/timeline.js';
import type { OrderBook, SubmitResult } from '../matching/index.js';
import type { OrderSnapshot } from '../temporal/activities.js';
import { MAX_KEPT_FILL_IDS } from '../temporal/contracts.js';
import {
  EventType,
  type ExecType,
  type ExecutionReportPayload,
  type OutboxEvent,
} from '../temporal/events.js';
import { isStopType, isTerminal } from '../temporal/orders.js';
import type { ShardBooks } from './books.js';
import type { ShardMetrics } from './metrics.js';
import { announce } from './timeline.js';

export interface SettlementDeps {
  books: ShardBooks;
  metrics: ShardMetrics;
}

/**
 * Apply an engine result for `taker` (a new or replaced order): fills, the taker's resting, pending or
 * cancelled remainder, cancellations of resting orders (self-trade prevention), stop orders the
 * operation triggered (each announced with `exec_type: "triggered"` before its own fills, then settled
 * like any taker), outbox rows. Returns the trade ids the taker took part in.
 */
export async function settleResult(
  deps: SettlementDeps,
  tx: DbOrTx,
  w: SettlementWrites,
  taker: OrderRow,
  result: SubmitResult,
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
    closeOrder(w, taker, at);
    events.push(executionReport(taker, 'rejected', at));
    announce(w, events, arrival(false));
    return [];
  }
  const others = await otherRows(
    deps.books,
    tx,
    w,
    taker.symbol,
    [
      ...result.fills.flatMap((f) => [f.makerOrderId, f.takerOrderId]),
      ...result.cancellations.map((c) => c.orderId),
      ...result.triggered.map((t) => t.orderId),
    ].filter((id) => id !== taker.id),
  );
  const row = (id: string): OrderRow => {
    const o = id === taker.id ? taker : others.get(id);
    if (!o) throw new Error(`order ${id} of the match not found`);
    return o;
  };
  // Every report on an order other than the taker's goes to that order's saga.
  const report = (o: OrderRow, exec: ExecType, fill?: { tradeId: string; qty: bigint; price: bigint }) =>
    events.push(executionReport(o, exec, at, fill, o !== taker));
  let nextTrigger = 0;
  /** Announce the stops triggered up to sequence `upTo` (a stop's fills carry its trigger sequence). */
  const triggerUpTo = (upTo: number) => {
    for (; nextTrigger < result.triggered.length; nextTrigger++) {
      const t = result.triggered[nextTrigger]!;
      if (t.seq > upTo) return;
      const o = row(t.orderId);
      o.status = 'working';
      o.triggeredAt = at;
      o.bookSeq = BigInt(t.seq);
      report(o, 'triggered');
    }
  };
  const fillIds: string[] = [];
  for (const f of result.fills) {
    triggerUpTo(f.seq);
    const maker = row(f.makerOrderId);
    const aggressor = row(f.takerOrderId);
    const [buy, sell] = aggressor.side === 'buy' ? [aggressor, maker] : [maker, aggressor];
    const price = BigInt(f.price);
    const qty = BigInt(f.qty);
    const tradeId = settleFill(w, { buy, sell, makerOrderId: maker.id, price, qty, executedAt: at });
    if (maker === taker || aggressor === taker) fillIds.push(tradeId);
    for (const o of [maker, aggressor]) {
      o.status = o.filledQuantity === o.quantity ? 'filled' : 'partially_filled';
      report(o, o.status === 'filled' ? 'fill' : 'partial_fill', { tradeId, qty, price });
    }
  }
  triggerUpTo(Infinity);
  const cancelled: OrderRow[] = [];
  for (const c of result.cancellations) {
    const o = row(c.orderId);
    o.status = 'cancelled';
    if (o !== taker) {
      o.lockVersion += 1;
      cancelled.push(o);
    }
  }
  // Every order the operation touched takes the state the book now holds for it.
  const book = deps.books.get(taker.symbol);
  for (const o of others.values()) {
    settleState(o, book);
    if (isTerminal(o.status)) closeOrder(w, o, at);
    else saveOrder(w, o, at);
  }
  // Reported once closed: a cancel's report carries what the close left reserved (nothing).
  for (const o of cancelled) report(o, 'canceled');
  settleState(taker, book);
  const triggeredNow = result.triggered.some((t) => t.orderId === taker.id);
  if (taker.status === 'pending_trigger') report(taker, restingExec);
  else if (!isTerminal(taker.status)) {
    if (restingExec === 'replaced' || (fillIds.length === 0 && !triggeredNow)) report(taker, restingExec);
  } else if (taker.status === 'cancelled') {
    report(taker, 'canceled'); // IOC/market remainder, FOK not fillable, self-trade prevention
  }
  if (isTerminal(taker.status)) closeOrder(w, taker, at);
  else saveOrder(w, taker, at);
  events.push(marketEvent(deps.books, taker.symbol, at));
  announce(w, events, arrival(true));
  deps.metrics.fills.inc(result.fills.length);
  if (restingExec === 'new' && isStopType(taker.orderType))
    deps.metrics.stopsAccepted.inc({ symbol: taker.symbol, order_type: taker.orderType });
  if (result.triggered.length > 0)
    deps.metrics.stopsTriggered.inc({ symbol: taker.symbol }, result.triggered.length);
  return fillIds;
}

/**
 * The rows of the other orders an operation touched (makers, orders cancelled by self-trade prevention,
 * triggered stops), by id in id order. Each is a resting order, whose row the books hold as the shard
 * last wrote it (books.ts): no read, no row lock; its write checks that nobody else changed it since
 * (`SettlementWrites.expected`). A row the books do not hold is read and locked.
 */
async function otherRows(
  books: ShardBooks,
  tx: DbOrTx,
  w: SettlementWrites,
  symbol: string,
  ids: string[],
): Promise<Map<string, OrderRow>> {
  const rows = new Map<string, OrderRow>();
  const unheld: string[] = [];
  for (const id of [...new Set(ids)].sort()) {
    const held = books.restingRow(symbol, id);
    if (!held) {
      unheld.push(id);
      continue;
    }
    rows.set(id, held);
    w.expected.set(id, expectationOf(held));
  }
  if (unheld.length === 0) return rows;
  const locked = await lockOrders(tx, unheld);
  return new Map([...rows, ...locked].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * An order's state after an operation, from the book: waiting for its trigger, resting (its priority
 * sequence), filled, or else cancelled (a remainder that could not rest).
 */
function settleState(o: OrderRow, book: OrderBook | undefined): void {
  if (book?.stop(o.id)) {
    o.status = 'pending_trigger';
    o.bookSeq = BigInt(book.stop(o.id)!.seq);
    return;
  }
  const resting = book?.get(o.id);
  if (resting) {
    o.status = o.filledQuantity > 0n ? 'partially_filled' : 'working';
    o.bookSeq = BigInt(resting.seq);
  } else o.status = o.filledQuantity === o.quantity ? 'filled' : 'cancelled';
}

/** A terminal order gives back whatever it still has reserved (an entry dated `at`, as its fills). */
export function closeOrder(w: SettlementWrites, o: OrderRow, at: Date): void {
  if (o.reservedAmount > 0n) {
    w.entries.push(releaseEntry(o, `${o.id}:close`, o.reservedAmount, at));
    o.reservedAmount = 0n;
  }
  saveOrder(w, o, at);
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
    stop_price: o.stopPrice?.toString() ?? null,
    triggered_at: o.triggeredAt?.toISOString() ?? null,
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

/**
 * The committed state of an order, as the saga receives it, with the fills the operation made (the
 * latest the saga keeps): a retried or closing operation made none. Its filled quantity covers every
 * fill, and the saga drops a fill's signal within it.
 */
export function snapshot(o: OrderRow, fillIds: string[] = []): OrderSnapshot {
  return {
    orderId: o.id,
    status: o.status,
    lockVersion: o.lockVersion,
    filledQuantity: o.filledQuantity.toString(),
    reservedAmount: o.reservedAmount.toString(),
    quantity: o.quantity.toString(),
    price: o.price?.toString(),
    rejectReason: o.rejectReason ?? undefined,
    fillIds: fillIds.slice(-MAX_KEPT_FILL_IDS),
    order: committedOrder(o),
  };
}
