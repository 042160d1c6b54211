/**
 * One shard's order books and the only writer of its orders after submission.
 *
 * Operations queue up and run one at a time, in arrival order, but several queued operations share one
 * Postgres transaction (group commit): each computes its match on the in-memory book and writes its
 * settlement in the batch's transaction, inside a savepoint of its own when the batch has more than one
 * operation. No caller hears of a result before the batch commits. A failed operation's savepoint undoes
 * its writes and its books are reloaded from what the transaction sees; a failed commit fails the whole
 * batch and its books are reloaded from Postgres. So no book keeps a match that was not settled, and
 * every failed caller retries (each operation is idempotent).
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
import { exactNumber } from '../../lib/money.js';
import type { MatchingMetrics } from './metrics.js';

export interface ShardEngineDeps {
  db: Db;
  shard: number;
  shardCount: number;
  logger: Logger;
  metrics: MatchingMetrics;
  now?: () => Date;
  /**
   * Run last in every settlement transaction; throws when this process no longer owns the shard, so a
   * batch still in flight when the lock was lost rolls back instead of committing behind the new
   * owner's rebuilt books (ownership.ts `ShardLease.fence`). (faults branch: port to shard/ with the split.)
   */
  fence?: (tx: DbOrTx) => Promise<void>;
}

const reject = (type: ErrorTypeName, message?: string) =>
  ApplicationFailure.create({ type, message: message ?? ERROR_MESSAGES[type], nonRetryable: true, category: 'BENIGN' });

/** Safe-integer conversion at the engine boundary (docs/adr/0007-matching-engine-numbers.md). */
function toNum(v: bigint): number {
  if (v < 0n) throw new RangeError(`value ${v} outside the engine's integer range`);
  return exactNumber(v);
}

const leaves = (o: OrderRow) => o.quantity - o.filledQuantity;

/** At most this many operations share one transaction (the matching worker runs up to 50 at once). */
const MAX_BATCH = 64;

/** A queued operation: it runs inside its batch's transaction and reaches its books through `bookOf`. */
interface Job {
  op: 'submit' | 'cancel' | 'replace';
  run: (tx: DbOrTx, bookOf: (symbol: string) => Promise<OrderBook>) => Promise<OrderSnapshot>;
  resolve: (value: OrderSnapshot) => void;
  reject: (err: unknown) => void;
}

export class ShardEngine {
  private readonly books = new Map<string, OrderBook>();
  private readonly seqs = new Map<string, number>();
  private readonly queue: Job[] = [];
  private draining = false;
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
    for (const symbol of await this.symbols()) await this.rebuild(symbol, this.deps.db);
  }

  /** Load a book and its sequence as `db` sees them (inside a batch: including the batch's own writes). */
  private async rebuild(symbol: string, db: DbOrTx): Promise<OrderBook> {
    const book = new OrderBook(symbol);
    const open = await openOrdersForBook(db, symbol);
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
    this.seqs.set(symbol, await loadSequence(db, symbol));
    this.deps.metrics.bookOrders.set({ symbol }, book.size());
    return book;
  }

  /** Every book of the shard as aggregated levels (all of them) and order counts. */
  booksSnapshot(): Record<string, { size: number; depth: unknown }> {
    return Object.fromEntries([...this.books].map(([symbol, b]) => [symbol, { size: b.size(), depth: b.depth(100_000) }]));
  }

  book(symbol: string): OrderBook | undefined {
    return this.books.get(symbol);
  }

  private nextSeq(symbol: string): number {
    const seq = (this.seqs.get(symbol) ?? 0) + 1;
    this.seqs.set(symbol, seq);
    return seq;
  }

  // ---- group commit -----------------------------------------------------------------------------

  private enqueue(op: Job['op'], run: Job['run']): Promise<OrderSnapshot> {
    return new Promise<OrderSnapshot>((resolve, reject) => {
      this.queue.push({ op, run, resolve, reject });
      void this.drain();
    });
  }

  /** Run what is queued, a batch at a time; operations that arrive meanwhile form the next batch. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) await this.runBatch(this.queue.splice(0, MAX_BATCH));
    } finally {
      this.draining = false;
    }
  }

  /** Back to Postgres' state after a rollback; if even that fails, drop the book: the next operation loads it. */
  private async reload(symbol: string): Promise<void> {
    try {
      await this.rebuild(symbol, this.deps.db);
    } catch (err) {
      this.books.delete(symbol);
      this.seqs.delete(symbol);
      this.deps.logger.warn('book reload failed; it loads again with the next operation', { symbol, err });
    }
  }

  private async runBatch(batch: Job[]): Promise<void> {
    const t0 = performance.now();
    const outcomes: ({ ok: true; value: OrderSnapshot } | { ok: false; err: unknown })[] = [];
    const touched = new Set<string>();
    try {
      await this.deps.db.transaction(async (tx) => {
        for (const job of batch) {
          const mine = new Set<string>();
          const bookOf = async (symbol: string) => {
            mine.add(symbol);
            touched.add(symbol);
            return this.books.get(symbol) ?? (await this.rebuild(symbol, tx));
          };
          if (batch.length === 1) {
            outcomes.push({ ok: true, value: await job.run(tx, bookOf) });
            continue;
          }
          try {
            outcomes.push({ ok: true, value: await tx.transaction((sp) => job.run(sp, bookOf)) });
          } catch (err) {
            // The savepoint undid this operation's writes; reload its books as the transaction sees them.
            outcomes.push({ ok: false, err });
            for (const symbol of mine) await this.rebuild(symbol, tx);
          }
        }
        await this.deps.fence?.(tx);
      });
    } catch (err) {
      // Nothing of the batch was committed (a lone operation's failure, or the commit itself).
      for (const symbol of touched) await this.reload(symbol);
      if (batch.length > 1) this.deps.logger.warn('settlement batch rolled back, books reloaded', { size: batch.length, err });
      batch.forEach((job, i) => {
        const own = outcomes[i];
        this.finish(job, own && !own.ok ? own : { ok: false, err });
      });
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    this.deps.metrics.batchSize.observe(batch.length);
    batch.forEach((job, i) => {
      if (outcomes[i]!.ok) this.deps.metrics.settlementSeconds.observe({ op: job.op }, seconds);
      this.finish(job, outcomes[i]!);
    });
    for (const symbol of touched) {
      const book = this.books.get(symbol);
      if (book) this.deps.metrics.bookOrders.set({ symbol }, book.size());
    }
  }

  private finish(job: Job, outcome: { ok: true; value: OrderSnapshot } | { ok: false; err: unknown }): void {
    if (outcome.ok) {
      this.deps.metrics.ops.inc({ op: job.op, outcome: 'ok' });
      job.resolve(outcome.value);
      return;
    }
    const isReject = outcome.err instanceof ApplicationFailure && outcome.err.nonRetryable;
    this.deps.metrics.ops.inc({ op: job.op, outcome: isReject ? 'rejected' : 'rolled_back' });
    if (!isReject) this.deps.logger.warn('matching operation rolled back', { op: job.op, err: outcome.err });
    job.reject(outcome.err);
  }

  // ---- operations -------------------------------------------------------------------------------

  submit(orderId: string): Promise<OrderSnapshot> {
    return this.enqueue('submit', async (tx, bookOf) => {
      const order = await getOrderById(tx, orderId);
      if (!order) throw reject(ErrorType.InvalidOrder, `Unknown order ${orderId}`);
      if (order.status !== 'pending') return this.snapshot(tx, order); // already submitted: a retry
      const book = await bookOf(order.symbol);
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
      const fillIds = await this.settleResult(tx, order, result, seq, at, 'new');
      await saveSequence(tx, order.symbol, seq);
      return this.snapshot(tx, order, fillIds);
    });
  }

  cancel(args: { orderId: string; requestId?: string; clientVersion?: number; reason: CancelReason }): Promise<OrderSnapshot> {
    return this.enqueue('cancel', async (tx, bookOf) => {
      const order = await getOrderById(tx, args.orderId);
      if (!order) throw reject(ErrorType.InvalidOrder, `Unknown order ${args.orderId}`);
      if (isTerminal(order.status) || (args.requestId && order.lastRequestId === args.requestId)) return this.snapshot(tx, order);
      if (args.reason === 'user' && args.clientVersion !== undefined && args.clientVersion !== order.lockVersion)
        throw reject(ErrorType.VersionConflict, `client_version ${args.clientVersion} does not match lock_version ${order.lockVersion}`);
      const book = await bookOf(order.symbol);
      book.cancel(order.id); // not in the book (still pending): nothing to pull
      const at = this.now();
      order.status = args.reason === 'expired' ? 'expired' : args.reason === 'compensation' ? 'rejected' : 'cancelled';
      if (args.reason === 'compensation') order.rejectReason ??= 'Order could not be placed';
      order.lockVersion += 1;
      order.lastRequestId = args.requestId ?? null;
      await this.close(tx, order, at);
      await enqueueEvents(tx, [
        this.report(order, args.reason === 'expired' ? 'expired' : args.reason === 'compensation' ? 'rejected' : 'canceled', at),
        this.marketEvent(order.symbol, at),
      ]);
      return this.snapshot(tx, order);
    });
  }

  replace(args: { orderId: string } & ReplaceRequest): Promise<OrderSnapshot> {
    return this.enqueue('replace', async (tx, bookOf) => {
      const order = await getOrderById(tx, args.orderId);
      if (!order) throw reject(ErrorType.InvalidOrder, `Unknown order ${args.orderId}`);
      if (args.requestId && order.lastRequestId === args.requestId) return this.snapshot(tx, order); // a retry
      if (isTerminal(order.status) || order.status === 'pending') throw reject(ErrorType.OrderTerminal, `Order is ${order.status}`);
      if (args.clientVersion !== order.lockVersion)
        throw reject(ErrorType.VersionConflict, `client_version ${args.clientVersion} does not match lock_version ${order.lockVersion}`);
      if (order.orderType !== 'limit') throw reject(ErrorType.InvalidOrder, 'Only limit orders can be replaced');
      const instrument = await getInstrument(tx, order.symbol);
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

      const book = await bookOf(order.symbol);
      const seq = this.nextSeq(order.symbol);
      const at = this.now();
      // Reserve any increase before the book may trade on it (in a savepoint: a refusal leaves the
      // transaction usable, and nothing else has been written yet).
      try {
        if (increase > 0n) {
          await tx.transaction((sp) =>
            postEntry(sp, {
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
      // A refused modify throws: the reservation above is undone with the rest of the operation.
      if ('ok' in result && !result.ok) throw reject(ErrorType.InvalidOrder, result.reason);
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
      return this.snapshot(tx, order, fillIds);
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

  private async snapshot(db: DbOrTx, o: OrderRow, fillIds?: string[]): Promise<OrderSnapshot> {
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
}
