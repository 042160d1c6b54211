/**
 * One shard's order books and the only writer of its orders after submission. Operations run one at a
 * time (a promise chain): compute the match on the in-memory book, settle it in one Postgres
 * transaction, and only then let anything observe the book. If the transaction fails, the symbol's book
 * is rebuilt from Postgres, so the book never holds an unsettled match.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Db, DbOrTx } from '../../db/client.js';
import { CASH_ASSET } from '../../db/accounts.js';
import { InsufficientBalanceError, postEntry } from '../../db/queries/ledger.js';
import { enqueueEvents, type OutboxEvent } from '../../db/queries/outbox.js';
import { getInstrument, getOrderById, listInstruments, releaseOrderReservation, type OrderRow } from '../../db/queries/orders.js';
import {
  executionReport,
  loadSequence,
  lockOrders,
  openOrdersForBook,
  saveOrder,
  saveSequence,
  settleFill,
  tradeIdsOf,
  type ExecType,
} from '../../db/queries/settlement.js';
import { checkLimitPrice, checkQuantity } from '../../activities/order-rules.js';
import { OrderBook, shardOf, type SubmitResult } from '../../matching/index.js';
import type { CancelReason, OrderSnapshot } from '../../temporal/activities.js';
import { ERROR_MESSAGES, ErrorType, isTerminal, type ErrorTypeName, type ReplaceRequest } from '../../temporal/contracts.js';
import type { Logger } from '../../lib/logger.js';
import type { MatchingMetrics } from './metrics.js';

export interface ShardEngineDeps {
  db: Db;
  shard: number;
  shardCount: number;
  logger: Logger;
  metrics: MatchingMetrics;
  now?: () => Date;
}

const reject = (type: ErrorTypeName, message?: string) =>
  ApplicationFailure.create({ type, message: message ?? ERROR_MESSAGES[type], nonRetryable: true, category: 'BENIGN' });

/** Safe-integer conversion at the engine boundary (docs/adr/0007-matching-engine-numbers.md). */
function toNum(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < 0n) throw new Error(`value ${v} outside the engine's integer range`);
  return Number(v);
}

const leaves = (o: OrderRow) => o.quantity - o.filledQuantity;

export class ShardEngine {
  private readonly books = new Map<string, OrderBook>();
  private readonly seqs = new Map<string, number>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly now: () => Date;

  constructor(private readonly deps: ShardEngineDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Symbols this shard owns. */
  async symbols(): Promise<string[]> {
    const all = await listInstruments(this.deps.db);
    return all.map((i) => i.symbol).filter((s) => shardOf(s, this.deps.shardCount) === this.deps.shard);
  }

  /** Rebuild every book of the shard from Postgres (open orders in priority order). */
  async rebuildAll(): Promise<void> {
    for (const symbol of await this.symbols()) await this.rebuild(symbol);
  }

  async rebuild(symbol: string): Promise<void> {
    const book = new OrderBook(symbol);
    const open = await openOrdersForBook(this.deps.db, symbol);
    book.load(
      open.map((o) => ({
        id: o.id,
        accountId: o.accountId,
        side: o.side,
        price: toNum(o.price!),
        qty: toNum(leaves(o)),
        seq: toNum(o.bookSeq ?? 0n),
        ts: o.createdAt.getTime(),
      })),
    );
    this.books.set(symbol, book);
    this.seqs.set(symbol, await loadSequence(this.deps.db, symbol));
    this.deps.metrics.bookOrders.set({ symbol }, book.size());
  }

  /** Every book of the shard as aggregated levels (all of them) and order counts. */
  booksSnapshot(): Record<string, { size: number; depth: unknown }> {
    return Object.fromEntries([...this.books].map(([symbol, b]) => [symbol, { size: b.size(), depth: b.depth(100_000) }]));
  }

  book(symbol: string): OrderBook | undefined {
    return this.books.get(symbol);
  }

  /** Run operations one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async bookFor(symbol: string): Promise<OrderBook> {
    if (!this.books.has(symbol)) await this.rebuild(symbol);
    return this.books.get(symbol)!;
  }

  private nextSeq(symbol: string): number {
    const seq = (this.seqs.get(symbol) ?? 0) + 1;
    this.seqs.set(symbol, seq);
    return seq;
  }

  /** Settle in one transaction; on failure rebuild the book from Postgres and rethrow. */
  private async commit<T>(symbol: string, op: string, fn: (tx: DbOrTx) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const out = await this.deps.db.transaction(fn);
      this.deps.metrics.settlementSeconds.observe({ op }, (performance.now() - t0) / 1000);
      this.deps.metrics.ops.inc({ op, outcome: 'ok' });
      return out;
    } catch (err) {
      this.deps.metrics.ops.inc({ op, outcome: 'rolled_back' });
      this.deps.logger.warn('settlement rolled back, rebuilding book', { symbol, op, err });
      await this.rebuild(symbol);
      throw err;
    } finally {
      const book = this.books.get(symbol);
      if (book) this.deps.metrics.bookOrders.set({ symbol }, book.size());
    }
  }

  // ---- operations -------------------------------------------------------------------------------

  submit(orderId: string): Promise<OrderSnapshot> {
    return this.serial(async () => {
      const order = await getOrderById(this.deps.db, orderId);
      if (!order) throw reject(ErrorType.InvalidOrder, `Unknown order ${orderId}`);
      if (order.status !== 'pending') return this.snapshot(order); // already submitted: a retry
      const book = await this.bookFor(order.symbol);
      const seq = this.nextSeq(order.symbol);
      const at = this.now();
      const result = book.submit({
        id: order.id,
        accountId: order.accountId,
        side: order.side,
        type: order.orderType,
        tif: order.timeInForce,
        // Market buys carry their collar as a protection limit: they never trade above what was reserved.
        price: order.orderType === 'limit' ? toNum(order.price!) : order.side === 'buy' ? toNum(order.reservePrice) : undefined,
        qty: toNum(leaves(order)),
        seq,
        ts: at.getTime(),
      });
      return this.commit(order.symbol, 'submit', async (tx) => {
        const fillIds = await this.settleResult(tx, order, result, seq, at, 'new');
        await saveSequence(tx, order.symbol, seq);
        return this.snapshot(order, fillIds);
      });
    });
  }

  cancel(args: { orderId: string; requestId?: string; clientVersion?: number; reason: CancelReason }): Promise<OrderSnapshot> {
    return this.serial(async () => {
      const order = await getOrderById(this.deps.db, args.orderId);
      if (!order) throw reject(ErrorType.InvalidOrder, `Unknown order ${args.orderId}`);
      if (isTerminal(order.status) || (args.requestId && order.lastRequestId === args.requestId)) return this.snapshot(order);
      if (args.reason === 'user' && args.clientVersion !== undefined && args.clientVersion !== order.lockVersion)
        throw reject(ErrorType.VersionConflict, `client_version ${args.clientVersion} does not match lock_version ${order.lockVersion}`);
      const book = await this.bookFor(order.symbol);
      book.cancel(order.id); // not in the book (still pending): nothing to pull
      const at = this.now();
      return this.commit(order.symbol, 'cancel', async (tx) => {
        order.status = args.reason === 'expired' ? 'expired' : args.reason === 'compensation' ? 'rejected' : 'cancelled';
        if (args.reason === 'compensation') order.rejectReason ??= 'Order could not be placed';
        order.lockVersion += 1;
        order.lastRequestId = args.requestId ?? null;
        await this.close(tx, order, at);
        await enqueueEvents(tx, [
          this.report(order, args.reason === 'expired' ? 'expired' : args.reason === 'compensation' ? 'rejected' : 'canceled', at),
          this.marketEvent(order.symbol, at),
        ]);
        return this.snapshot(order);
      });
    });
  }

  replace(args: { orderId: string } & ReplaceRequest): Promise<OrderSnapshot> {
    return this.serial(async () => {
      const order = await getOrderById(this.deps.db, args.orderId);
      if (!order) throw reject(ErrorType.InvalidOrder, `Unknown order ${args.orderId}`);
      if (args.requestId && order.lastRequestId === args.requestId) return this.snapshot(order); // a retry
      if (isTerminal(order.status) || order.status === 'pending') throw reject(ErrorType.OrderTerminal, `Order is ${order.status}`);
      if (args.clientVersion !== order.lockVersion)
        throw reject(ErrorType.VersionConflict, `client_version ${args.clientVersion} does not match lock_version ${order.lockVersion}`);
      if (order.orderType !== 'limit') throw reject(ErrorType.InvalidOrder, 'Only limit orders can be replaced');
      const instrument = await getInstrument(this.deps.db, order.symbol);
      if (!instrument) throw reject(ErrorType.UnknownSymbol);

      const newQty = args.quantity !== undefined ? BigInt(args.quantity) : order.quantity;
      const newPrice = args.price !== undefined ? BigInt(args.price) : order.price!;
      const badQty = checkQuantity(instrument, newQty);
      if (badQty) throw reject(badQty.type, badQty.message);
      if (newQty <= order.filledQuantity) throw reject(ErrorType.InvalidOrder, 'New quantity must exceed the filled quantity');
      const badPrice = checkLimitPrice(instrument, newPrice);
      if (badPrice) throw reject(badPrice.type, badPrice.message);
      if (args.timeInForce && (args.timeInForce === 'IOC' || args.timeInForce === 'FOK'))
        throw reject(ErrorType.TimeInForceNotAllowed, 'A resting order cannot become IOC or FOK');

      const newLeaves = newQty - order.filledQuantity;
      const newReserved = order.side === 'buy' ? newLeaves * newPrice : newLeaves;
      const increase = newReserved - order.reservedAmount;
      const version = order.lockVersion + 1;
      const asset = order.side === 'buy' ? CASH_ASSET : order.symbol;

      const book = await this.bookFor(order.symbol);
      const seq = this.nextSeq(order.symbol);
      const at = this.now();
      // Reserve any increase before the book may trade on it; a failure leaves book and ledger as they were.
      try {
        if (increase > 0n) {
          await this.deps.db.transaction((tx) =>
            postEntry(tx, {
              kind: 'reserve',
              reference: `${order.id}:v${version}`,
              postings: [
                { accountId: order.accountId, asset, bucket: 'available', amount: -increase },
                { accountId: order.accountId, asset, bucket: 'reserved', amount: increase },
              ],
            }),
          );
        }
      } catch (err) {
        if (err instanceof InsufficientBalanceError)
          throw reject(order.side === 'buy' ? ErrorType.InsufficientFunds : ErrorType.InsufficientShares);
        throw err;
      }
      const result = book.modify(order.id, { price: toNum(newPrice), qty: toNum(newLeaves) }, seq, at.getTime());
      if ('ok' in result && !result.ok) {
        await this.rebuild(order.symbol);
        throw reject(ErrorType.InvalidOrder, result.reason);
      }
      return this.commit(order.symbol, 'replace', async (tx) => {
        if (increase > 0n) order.reservedAmount += increase;
        order.quantity = newQty;
        order.price = newPrice;
        if (order.side === 'buy') order.reservePrice = newPrice;
        if (args.timeInForce) order.timeInForce = args.timeInForce;
        order.lockVersion = version;
        order.lastRequestId = args.requestId ?? null;
        const fillIds = await this.settleResult(tx, order, result, seq, at, 'replaced');
        // Release what the new price and quantity no longer need (a decrease, or what fills left over).
        const stillNeeded = isTerminal(order.status) ? 0n : order.side === 'buy' ? leaves(order) * newPrice : leaves(order);
        if (order.reservedAmount > stillNeeded) {
          await releaseOrderReservation(tx, order, `${order.id}:v${version}`, order.reservedAmount - stillNeeded);
          order.reservedAmount = stillNeeded;
        }
        await saveOrder(tx, order, at);
        await saveSequence(tx, order.symbol, seq);
        return this.snapshot(order, fillIds);
      });
    });
  }

  // ---- settlement of an engine result -----------------------------------------------------------

  /**
   * Apply an engine result for `taker` (a new or replaced order): fills, the taker's resting or
   * cancelled remainder, cancellations of resting orders (self-trade prevention), outbox rows.
   */
  private async settleResult(
    tx: DbOrTx,
    taker: OrderRow,
    result: SubmitResult,
    seq: number,
    at: Date,
    restingExec: ExecType,
  ): Promise<string[]> {
    const events: OutboxEvent[] = [];
    if (!result.ok) {
      taker.status = 'rejected';
      taker.rejectReason = result.reason;
      await this.close(tx, taker, at);
      events.push(this.report(taker, 'rejected', at));
      await enqueueEvents(tx, events);
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
        events.push(this.report(o, o.status === 'filled' ? 'fill' : 'partial_fill', at, { tradeId, qty, price }, o !== taker));
      }
      if (maker.status === 'filled') await this.close(tx, maker, at);
      else await saveOrder(tx, maker, at);
    }
    for (const c of result.cancellations) {
      const o = c.orderId === taker.id ? taker : others.get(c.orderId);
      if (!o) continue;
      o.status = 'cancelled';
      if (o !== taker) {
        o.lockVersion += 1;
        await this.close(tx, o, at);
        events.push(this.report(o, 'canceled', at, undefined, true));
      }
    }
    if (taker.status === 'pending') taker.status = 'working';
    if (result.resting) {
      taker.bookSeq = BigInt(this.books.get(taker.symbol)?.get(taker.id)?.seq ?? seq);
      if (taker.status !== 'partially_filled') taker.status = 'working';
      if (restingExec === 'replaced' || result.fills.length === 0) events.push(this.report(taker, restingExec, at));
    } else if (taker.status !== 'filled') {
      taker.status = 'cancelled'; // IOC/market remainder, FOK not fillable, self-trade prevention
      events.push(this.report(taker, 'canceled', at));
    }
    if (isTerminal(taker.status)) await this.close(tx, taker, at);
    else await saveOrder(tx, taker, at);
    events.push(this.marketEvent(taker.symbol, at));
    await enqueueEvents(tx, events);
    this.deps.metrics.fills.inc(result.fills.length);
    return fillIds;
  }

  /** A terminal order gives back whatever it still has reserved. */
  private async close(tx: DbOrTx, o: OrderRow, at: Date): Promise<void> {
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
  private report(o: OrderRow, exec: ExecType, at: Date, fill?: { tradeId: string; qty: bigint; price: bigint }, notifySaga = false): OutboxEvent {
    return { accountId: o.accountId, eventType: 'execution.report', payload: { ...executionReport(o, exec, at, fill), notify_saga: notifySaga } };
  }

  /** Market data after a change: L1, L2 (10 levels) and the last trades, from the book as committed. */
  private marketEvent(symbol: string, at: Date): OutboxEvent {
    const book = this.books.get(symbol);
    return {
      accountId: null,
      eventType: 'market.update',
      payload: {
        symbol,
        quote: book?.quote() ?? null,
        depth: book?.depth(10) ?? null,
        trades: book?.lastTrades(20) ?? [],
        ts: at.toISOString(),
      },
    };
  }

  private async snapshot(o: OrderRow, fillIds?: string[]): Promise<OrderSnapshot> {
    return {
      orderId: o.id,
      status: o.status,
      lockVersion: o.lockVersion,
      filledQuantity: o.filledQuantity.toString(),
      reservedAmount: o.reservedAmount.toString(),
      quantity: o.quantity.toString(),
      price: o.price?.toString(),
      rejectReason: o.rejectReason ?? undefined,
      fillIds: fillIds ?? (await tradeIdsOf(this.deps.db, o.id)),
    };
  }
}
