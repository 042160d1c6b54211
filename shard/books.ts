/**
 * The shard's order books and their sequence numbers, held in memory and rebuilt from Postgres, with the
 * rows of the orders they hold (docs/adr/0034-resting-rows-in-the-shard.md) and the expiries of their DAY
 * orders (docs/adr/0044-day-orders-expire-in-the-shard.md). The one place where order rows become the
 * engine's orders (matching/ keeps its own types; integers cross as safe JS numbers,
 * docs/adr/0007-matching-engine-numbers.md).
 */
import type { DbOrTx } from '../db/client.js';
import { loadSequence, openOrdersForBook, pendingStopsForBook } from '../db/queries/settlement.js';
import type { OrderRow } from '../db/queries/orders.js';
import type { Logger } from '../lib/logger.js';
import { exactNumber } from '../lib/money.js';
import { OrderBook, type LoadOrder, type NewOrder, type PendingStop } from '../matching/index.js';
import { isTerminal, tradesAs } from '../temporal/orders.js';
import type { ShardMetrics } from './metrics.js';

/** Safe-integer conversion at the engine boundary (docs/adr/0007-matching-engine-numbers.md). */
export function toNum(v: bigint): number {
  if (v < 0n) throw new RangeError(`value ${v} outside the engine's integer range`);
  return exactNumber(v);
}

/** What is left of an order to trade. */
export const leaves = (o: OrderRow): bigint => o.quantity - o.filledQuantity;

/** A resting order row as the engine loads it. */
const loadOrder = (o: OrderRow): LoadOrder => ({
  id: o.id,
  accountId: o.accountId,
  side: o.side,
  price: toNum(o.price!),
  qty: toNum(leaves(o)),
  seq: toNum(o.bookSeq ?? 0n),
  ts: o.createdAt.getTime(),
  stp: o.selfTradePrevention,
});

/**
 * The engine's limit for an order: its limit price; market buys (and stops, which trade as market
 * orders) carry their collar as a protection limit: they never trade above what was reserved.
 */
export const enginePrice = (o: OrderRow): number | undefined =>
  tradesAs(o.orderType) === 'limit' ? toNum(o.price!) : o.side === 'buy' ? toNum(o.reservePrice) : undefined;

/** A pending order row as the engine receives it, with its book sequence and time. */
export const newOrder = (o: OrderRow, seq: number, at: Date): NewOrder => ({
  id: o.id,
  accountId: o.accountId,
  side: o.side,
  type: tradesAs(o.orderType),
  tif: o.timeInForce,
  price: enginePrice(o),
  stopPrice: o.stopPrice === null ? undefined : toNum(o.stopPrice),
  qty: toNum(leaves(o)),
  seq,
  ts: at.getTime(),
  stp: o.selfTradePrevention,
});

/** A stop order row waiting for its trigger, as the engine loads it. */
const loadStop = (o: OrderRow): PendingStop => ({
  ...newOrder(o, toNum(o.bookSeq ?? 0n), o.createdAt),
  price: enginePrice(o),
  stopPrice: toNum(o.stopPrice!),
  stp: o.selfTradePrevention,
});

/** An order in the book or waiting for its trigger (a pending order is not in the book yet). */
const isResting = (o: OrderRow) => !isTerminal(o.status) && o.status !== 'pending';

/** When a DAY order's session closes (ms since the epoch), or undefined (GTC, or from before migration 0021). */
export const expiryOf = (o: OrderRow): number | undefined =>
  o.timeInForce === 'DAY' && o.expiresAt !== null ? o.expiresAt.getTime() : undefined;

/**
 * A book's orders that expire, by expiry time: few distinct times (a session's close), so finding the
 * due ones reads those times only, and nothing at all before the earliest
 * (docs/adr/0044-day-orders-expire-in-the-shard.md).
 */
class Expiries {
  private readonly byTime = new Map<number, Set<string>>();
  private readonly timeOf = new Map<string, number>();
  /** At most the earliest expiry held (a removal may leave it earlier until the next `due`). */
  private earliest = Infinity;

  set(id: string, at: number | undefined): void {
    const was = this.timeOf.get(id);
    if (was === at) return;
    if (was !== undefined) {
      const ids = this.byTime.get(was)!;
      ids.delete(id);
      if (ids.size === 0) this.byTime.delete(was);
      this.timeOf.delete(id);
    }
    if (at === undefined) return;
    this.timeOf.set(id, at);
    const ids = this.byTime.get(at);
    if (ids) ids.add(id);
    else this.byTime.set(at, new Set([id]));
    if (at < this.earliest) this.earliest = at;
  }

  /** The orders whose expiry is at or before `now`. */
  due(now: number): string[] {
    if (now < this.earliest) return [];
    const due: string[] = [];
    let later = Infinity;
    for (const [at, ids] of this.byTime) {
      if (at <= now) due.push(...ids);
      else if (at < later) later = at;
    }
    // The due ones leave as their expiry is written (`remember`); until then they stay due.
    this.earliest = due.length > 0 ? Math.min(now, later) : later;
    return due;
  }
}

export class ShardBooks {
  private readonly books = new Map<string, OrderBook>();
  private readonly seqs = new Map<string, number>();
  /**
   * Per symbol, the rows of the orders its book holds (resting and waiting stops), as the shard last
   * wrote them: a resting order's later fills, cancels and triggers need no read of it. Loaded and
   * dropped with the book, so after a rollback they are back to Postgres' state with it.
   */
  private readonly rows = new Map<string, Map<string, OrderRow>>();
  /** Per symbol, the DAY orders of those rows that have an expiry (`expires_at`), by it. */
  private readonly expiries = new Map<string, Expiries>();

  constructor(private readonly deps: { db: DbOrTx; logger: Logger; metrics: ShardMetrics }) {}

  get(symbol: string): OrderBook | undefined {
    return this.books.get(symbol);
  }

  entries(): [string, OrderBook][] {
    return [...this.books];
  }

  /** Load a book and its sequence as `db` sees them (inside a batch: including the batch's own writes). */
  async rebuild(symbol: string, db: DbOrTx): Promise<OrderBook> {
    const book = new OrderBook(symbol);
    const open = await openOrdersForBook(db, symbol);
    const stops = await pendingStopsForBook(db, symbol);
    const { seq, lastPrice } = await loadSequence(db, symbol);
    book.load(open.map(loadOrder), {
      stops: stops.map(loadStop),
      lastPrice: lastPrice === undefined ? undefined : toNum(lastPrice),
    });
    this.books.set(symbol, book);
    this.seqs.set(symbol, seq);
    this.rows.set(symbol, new Map([...open, ...stops].map((o) => [o.id, o])));
    const expiries = new Expiries();
    for (const o of [...open, ...stops]) expiries.set(o.id, expiryOf(o));
    this.expiries.set(symbol, expiries);
    this.report(symbol);
    return book;
  }

  /** A copy of the row of an order the book of `symbol` holds, as the shard last wrote it. */
  restingRow(symbol: string, id: string): OrderRow | undefined {
    const row = this.rows.get(symbol)?.get(id);
    return row && { ...row };
  }

  /**
   * Copies of the rows of the DAY orders the book of `symbol` holds whose session closed (expiry at or
   * before `now`), in id order. Nothing to read when none is due.
   */
  dueRows(symbol: string, now: Date): OrderRow[] {
    const ids = this.expiries.get(symbol)?.due(now.getTime()) ?? [];
    return ids.sort().flatMap((id) => {
      const row = this.restingRow(symbol, id);
      return row ? [row] : [];
    });
  }

  /** Rows an operation is writing: kept while their orders rest, forgotten once they do not. */
  remember(rows: Iterable<OrderRow>): void {
    for (const o of rows) {
      const held = this.rows.get(o.symbol);
      if (!held) continue;
      const resting = isResting(o);
      if (resting) held.set(o.id, { ...o });
      else held.delete(o.id);
      this.expiries.get(o.symbol)?.set(o.id, resting ? expiryOf(o) : undefined);
    }
  }

  /** The book's gauges: resting orders and pending stops. */
  report(symbol: string): void {
    const book = this.books.get(symbol);
    if (!book) return;
    this.deps.metrics.bookOrders.set({ symbol }, book.size());
    this.deps.metrics.stopsPending.set({ symbol }, book.stopCount());
  }

  /** Back to Postgres' state after a rollback; if even that fails, drop the book: the next operation loads it. */
  async reload(symbol: string): Promise<void> {
    try {
      await this.rebuild(symbol, this.deps.db);
    } catch (err) {
      this.books.delete(symbol);
      this.seqs.delete(symbol);
      this.rows.delete(symbol);
      this.expiries.delete(symbol);
      this.deps.logger.warn('book reload failed; it loads again with the next operation', { symbol, err });
    }
  }

  nextSeq(symbol: string): number {
    const seq = (this.seqs.get(symbol) ?? 0) + 1;
    this.seqs.set(symbol, seq);
    return seq;
  }

  /** An operation that triggered stops used the sequences after its own, up to `seq`. */
  advanceSeq(symbol: string, seq: number): void {
    if (seq > (this.seqs.get(symbol) ?? 0)) this.seqs.set(symbol, seq);
  }
}
