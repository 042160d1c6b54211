/**
 * A price-time-priority limit order book for one symbol: pure and synchronous, no clock, no I/O.
 * Every operation returns a value describing what happened (fills, cancellations, the resting
 * remainder, or a numbered reject); business outcomes never throw.
 *
 * Rules:
 * - Best price first; at one price, first come first served (the order in which orders joined the
 *   level, which is `seq` order because callers pass increasing sequences).
 * - Trades happen at the resting (maker) order's price.
 * - GTC and DAY rest their remainder; IOC cancels it; FOK trades its whole quantity or nothing; market
 *   orders never rest and stop at their optional protection price.
 * - Self-trade prevention per the taker's `StpMode` (default `cancel_newest`).
 * - `modify`: a size decrease at the same price keeps queue priority; a price change or a size increase
 *   loses it (the order re-enters with the new sequence and may trade as a taker).
 *
 * Costs: cancel, fill and adding at an existing level are O(1) whatever the queue depth; opening or
 * closing a price level is O(log levels) (see price-levels.ts).
 */
import { Reject, REJECT_REASONS, type RejectCode } from './errors.js';
import { hashId, IdIndex } from './id-index.js';
import { BookSide, NIL, OrderTable, type PriceLevel } from './price-levels.js';
import type {
  Accepted,
  CancelReason,
  Cancellation,
  Depth,
  DepthLevel,
  Fill,
  LoadOrder,
  ModifyRequest,
  NewOrder,
  OrderBookOptions,
  Quote,
  Rejected,
  RestingOrder,
  Side,
  StpMode,
  SubmitResult,
  TimeInForce,
  Trade,
} from './types.js';

const STP_MODES: ReadonlySet<unknown> = new Set<StpMode>([
  'cancel_newest',
  'cancel_oldest',
  'cancel_both',
  'none',
]);

/** Shared, frozen "nothing happened" lists: most adds neither trade nor cancel anything. */
const NO_FILLS: readonly Fill[] = Object.freeze([]);
const NO_CANCELS: readonly Cancellation[] = Object.freeze([]);

const isPositiveInt = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;
const isId = (x: unknown): x is string => typeof x === 'string' && x.length > 0;
const isSeq = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;

export function rejected(code: RejectCode): Rejected {
  return { ok: false, code, reason: REJECT_REASONS[code] };
}

/** A resting order as a value of its own: results must not share state with the book. */
function restingOrder(
  id: string,
  accountId: string,
  side: Side,
  price: number,
  qty: number,
  seq: number,
  ts: number,
  tif: TimeInForce,
  stp: StpMode,
): RestingOrder {
  return { id, accountId, side, price, qty, seq, ts, tif, stp };
}

/** Validation of a new order; returns the reject code or 0. */
function checkNewOrder(o: NewOrder): RejectCode | 0 {
  if (!isId(o.id)) return Reject.InvalidId;
  if (!isId(o.accountId)) return Reject.InvalidAccount;
  if (o.side !== 'buy' && o.side !== 'sell') return Reject.InvalidSide;
  if (o.type !== 'limit' && o.type !== 'market') return Reject.InvalidType;
  const tif = o.tif;
  if (tif !== 'GTC' && tif !== 'DAY' && tif !== 'IOC' && tif !== 'FOK') return Reject.InvalidTif;
  if (!isPositiveInt(o.qty)) return Reject.InvalidQty;
  if (o.type === 'limit' ? !isPositiveInt(o.price) : o.price !== undefined && !isPositiveInt(o.price))
    return Reject.InvalidPrice;
  if (!isSeq(o.seq)) return Reject.InvalidSeq;
  if (!Number.isSafeInteger(o.ts)) return Reject.InvalidTs;
  if (o.stp !== undefined && !STP_MODES.has(o.stp)) return Reject.InvalidStp;
  return 0;
}

export class OrderBook {
  readonly symbol: string;
  private readonly bids = new BookSide('buy');
  private readonly asks = new BookSide('sell');
  /** The resting orders' slots; `orders` maps an id to its slot. */
  private readonly table = new OrderTable();
  private readonly orders = new IdIndex(this.table);
  private readonly defaultStp: StpMode;

  // Last trades: a ring buffer in typed arrays (no allocation per trade).
  private readonly tradeCap: number;
  private readonly tradePrice: Float64Array;
  private readonly tradeQty: Float64Array;
  private readonly tradeTs: Float64Array;
  private readonly tradeSeq: Float64Array;
  private tradeNext = 0;
  private tradeCount = 0;

  /** Set by `match` when self-trade prevention cancelled the taker's remainder. */
  private takerCancelled = false;
  /** What the current operation produced; allocated on first use, so a plain add allocates no arrays. */
  private fills: Fill[] | null = null;
  private cancels: Cancellation[] | null = null;

  constructor(symbol: string, opts: OrderBookOptions = {}) {
    this.symbol = symbol;
    const stp = opts.defaultStp ?? 'cancel_newest';
    if (!STP_MODES.has(stp)) throw new RangeError(`unknown self-trade prevention mode ${String(stp)}`);
    this.defaultStp = stp;
    const cap = opts.tradeHistory ?? 256;
    if (!isPositiveInt(cap)) throw new RangeError('tradeHistory must be a positive integer');
    this.tradeCap = cap;
    this.tradePrice = new Float64Array(cap);
    this.tradeQty = new Float64Array(cap);
    this.tradeTs = new Float64Array(cap);
    this.tradeSeq = new Float64Array(cap);
  }

  // ---- commands --------------------------------------------------------------------------------

  submit(o: NewOrder): SubmitResult {
    const code = checkNewOrder(o);
    if (code !== 0) return rejected(code);
    const hash = hashId(o.id);
    if (this.orders.find(o.id, hash) !== NIL) return rejected(Reject.DuplicateId);

    const { id, accountId, side, qty, seq, ts } = o;
    const stp = o.stp ?? this.defaultStp;
    const limit = o.price ?? (side === 'buy' ? Infinity : -Infinity);
    this.fills = null;
    this.cancels = null;
    if (o.tif === 'FOK' && !this.canFillAll(accountId, side, limit, qty, stp)) {
      this.cancelled(id, accountId, qty, 'fok');
      return this.accepted(null);
    }
    const left = this.match(id, accountId, side, limit, qty, stp, seq, ts);
    if (left === 0 || this.takerCancelled) return this.accepted(null);
    if (o.type === 'market' || o.tif === 'IOC' || o.tif === 'FOK') {
      this.cancelled(id, accountId, left, o.tif === 'FOK' ? 'fok' : o.type === 'market' ? 'market' : 'ioc');
      return this.accepted(null);
    }
    this.rest(this.table.alloc(id, hash, accountId, left, seq, ts, o.tif, stp), side, limit);
    return this.accepted(restingOrder(id, accountId, side, limit, left, seq, ts, o.tif, stp));
  }

  /**
   * Remove a resting order. Returns the removed order (detached from the book, with the leaves
   * quantity it had) or undefined when no such order rests. O(1).
   */
  cancel(id: string): RestingOrder | undefined {
    const h = this.find(id);
    if (h === NIL) return undefined;
    const removed = this.copyOf(h);
    this.unrest(h);
    return removed;
  }

  /**
   * Change a resting order's price and leaves quantity. Same price and a smaller or equal quantity:
   * in place, priority kept. Otherwise the order leaves the book and re-enters with `seq`/`ts` as a
   * new limit order with its original time in force and self-trade prevention, trading first if it
   * now crosses.
   */
  modify(id: string, change: ModifyRequest, seq: number, ts: number): SubmitResult {
    const h = this.find(id);
    if (h === NIL) return rejected(Reject.UnknownOrder);
    if (!isPositiveInt(change.qty)) return rejected(Reject.InvalidQty);
    if (!isPositiveInt(change.price)) return rejected(Reject.InvalidPrice);
    if (!isSeq(seq)) return rejected(Reject.InvalidSeq);
    if (!Number.isSafeInteger(ts)) return rejected(Reject.InvalidTs);

    const t = this.table;
    const level = t.levelOf(h);
    if (change.price === level.price && change.qty <= t.qtyOf(h)) {
      level.qty -= t.qtyOf(h) - change.qty;
      t.setQty(h, change.qty);
      return { ok: true, fills: NO_FILLS, cancellations: NO_CANCELS, resting: this.copyOf(h) };
    }

    const { side } = level;
    const accountId = t.accountOf(h);
    const tif = t.tif(h);
    const stp = t.stp(h);
    const hash = t.hashOf(h);
    this.unrest(h);
    this.fills = null;
    this.cancels = null;
    const left = this.match(id, accountId, side, change.price, change.qty, stp, seq, ts);
    if (left === 0 || this.takerCancelled) return this.accepted(null);
    this.rest(t.alloc(id, hash, accountId, left, seq, ts, tif, stp), side, change.price);
    return this.accepted(restingOrder(id, accountId, side, change.price, left, seq, ts, tif, stp));
  }

  /**
   * Put orders back on the book without matching (rebuild from storage). Orders are queued in `seq`
   * order at each level. Invalid, duplicate or crossing input is a corrupt snapshot, not a business
   * outcome: it throws and leaves the book unchanged.
   */
  load(orders: readonly LoadOrder[]): void {
    const seen = new Set<string>();
    let maxBid = this.bids.best()?.price ?? -Infinity;
    let minAsk = this.asks.best()?.price ?? Infinity;
    for (const o of orders) {
      const code = checkNewOrder({ ...o, type: 'limit', tif: o.tif ?? 'GTC' });
      if (code !== 0) throw new RangeError(`load: order ${String(o.id)}: ${REJECT_REASONS[code]}`);
      if (o.tif === 'IOC' || o.tif === 'FOK')
        throw new RangeError(`load: order ${o.id}: ${o.tif} orders never rest`);
      if (this.has(o.id) || seen.has(o.id)) throw new RangeError(`load: duplicate order id ${o.id}`);
      seen.add(o.id);
      if (o.side === 'buy') maxBid = Math.max(maxBid, o.price);
      else minAsk = Math.min(minAsk, o.price);
    }
    if (maxBid >= minAsk) throw new RangeError(`load: crossed book (bid ${maxBid} >= ask ${minAsk})`);
    const sorted = [...orders].sort((a, b) => a.seq - b.seq);
    for (const o of sorted)
      this.rest(
        this.table.alloc(
          o.id,
          hashId(o.id),
          o.accountId,
          o.qty,
          o.seq,
          o.ts,
          o.tif ?? 'GTC',
          o.stp ?? this.defaultStp,
        ),
        o.side,
        o.price,
      );
  }

  // ---- reads -----------------------------------------------------------------------------------

  /** A copy of the resting order, or undefined. */
  get(id: string): RestingOrder | undefined {
    const h = this.find(id);
    return h === NIL ? undefined : this.copyOf(h);
  }

  has(id: string): boolean {
    return this.find(id) !== NIL;
  }

  /** Number of resting orders. */
  size(): number {
    return this.orders.size;
  }

  /** Level 1: best bid and ask with the aggregated quantity at each. */
  quote(): Quote {
    const b = this.bids.best();
    const a = this.asks.best();
    return {
      bid: b === null ? null : { price: b.price, qty: b.qty },
      ask: a === null ? null : { price: a.price, qty: a.qty },
    };
  }

  /** Level 2: up to `levels` price levels per side, best first. */
  depth(levels: number): Depth {
    return { bids: depthOf(this.bids, levels), asks: depthOf(this.asks, levels) };
  }

  /** Up to `n` most recent trades, newest first. */
  lastTrades(n: number): Trade[] {
    const out: Trade[] = [];
    const count = Math.min(n, this.tradeCount);
    for (let i = 1; i <= count; i++) {
      const at = (this.tradeNext - i + this.tradeCap) % this.tradeCap;
      out.push({
        price: this.tradePrice[at]!,
        qty: this.tradeQty[at]!,
        ts: this.tradeTs[at]!,
        seq: this.tradeSeq[at]!,
      });
    }
    return out;
  }

  /** Every resting order in priority order: bids best first, then asks best first. */
  snapshot(): RestingOrder[] {
    const out: RestingOrder[] = [];
    const visit = (level: PriceLevel) => {
      for (let h = level.head; h !== NIL; h = this.table.next[h]!) out.push(this.copyOf(h));
      return true;
    };
    this.bids.walk(visit);
    this.asks.walk(visit);
    return out;
  }

  // ---- internals -------------------------------------------------------------------------------

  /** The accepted result of the current operation; hands over the collected fills and cancellations. */
  private accepted(resting: RestingOrder | null): Accepted {
    const r: Accepted = {
      ok: true,
      fills: this.fills ?? NO_FILLS,
      cancellations: this.cancels ?? NO_CANCELS,
      resting,
    };
    this.fills = null;
    this.cancels = null;
    return r;
  }

  private cancelled(orderId: string, accountId: string, qty: number, reason: CancelReason): void {
    (this.cancels ??= []).push({ orderId, accountId, qty, reason });
  }

  /** The slot of resting order `id`, or NIL. */
  private find(id: string): number {
    return this.orders.find(id, hashId(id));
  }

  private copyOf(h: number): RestingOrder {
    const t = this.table;
    const level = t.levelOf(h);
    return restingOrder(
      t.idOf(h),
      t.accountOf(h),
      level.side,
      level.price,
      t.qtyOf(h),
      t.seqOf(h),
      t.tsOf(h),
      t.tif(h),
      t.stp(h),
    );
  }

  /** Put the order in slot `h` at the back of its level's queue. */
  private rest(h: number, side: Side, price: number): void {
    this.table.push((side === 'buy' ? this.bids : this.asks).getOrCreate(price), h);
    this.orders.add(this.table.hashOf(h), h);
  }

  /** Take the order in slot `h` off the book and free the slot; returns the level it was in. */
  private drop(h: number): PriceLevel {
    const level = this.table.unlink(h);
    this.orders.remove(this.table.hashOf(h), h);
    this.table.release(h);
    return level;
  }

  /** `drop`, and remove the level when that emptied it. */
  private unrest(h: number): void {
    const level = this.drop(h);
    if (level.count === 0) (level.side === 'buy' ? this.bids : this.asks).remove(level);
  }

  /**
   * Trade a taker against the opposite side until it is filled, the next level is beyond `limit`, the
   * book side is empty, or self-trade prevention cancels the taker. Returns the unfilled quantity.
   */
  private match(
    id: string,
    accountId: string,
    side: Side,
    limit: number,
    qty: number,
    stp: StpMode,
    seq: number,
    ts: number,
  ): number {
    this.takerCancelled = false;
    const isBuy = side === 'buy';
    const book = isBuy ? this.asks : this.bids;
    const stpOn = stp !== 'none';
    const t = this.table;
    let left = qty;
    while (left > 0) {
      const level = book.best();
      if (level === null) break;
      const price = level.price;
      if (isBuy ? price > limit : price < limit) break;
      let h = level.head;
      while (h !== NIL && left > 0) {
        const next = t.next[h]!;
        if (stpOn && t.accountOf(h) === accountId) {
          if (stp !== 'cancel_newest') {
            this.cancelled(t.idOf(h), accountId, t.qtyOf(h), 'stp');
            this.drop(h);
          }
          if (stp !== 'cancel_oldest') {
            this.cancelled(id, accountId, left, 'stp');
            this.takerCancelled = true;
            if (level.count === 0) book.remove(level);
            return left;
          }
          h = next;
          continue;
        }
        const makerQty = t.qtyOf(h);
        const q = makerQty < left ? makerQty : left;
        const makerLeaves = makerQty - q;
        t.setQty(h, makerLeaves);
        level.qty -= q;
        left -= q;
        (this.fills ??= []).push({
          makerOrderId: t.idOf(h),
          takerOrderId: id,
          makerAccountId: t.accountOf(h),
          takerAccountId: accountId,
          takerSide: side,
          price,
          qty: q,
          makerLeaves,
          takerLeaves: left,
          seq,
          ts,
        });
        this.recordTrade(price, q, ts, seq);
        if (makerLeaves === 0) this.drop(h);
        h = next;
      }
      if (level.count === 0) book.remove(level);
    }
    return left;
  }

  /**
   * FOK pre-check, with no effect on the book: can `qty` trade in full within `limit`, given that
   * self-trade prevention removes the account's own orders (`cancel_oldest`) or stops the taker at the
   * first of them (`cancel_newest`, `cancel_both`)?
   */
  private canFillAll(accountId: string, side: Side, limit: number, qty: number, stp: StpMode): boolean {
    const isBuy = side === 'buy';
    const t = this.table;
    let need = qty;
    let verdict = false;
    (isBuy ? this.asks : this.bids).walk((level) => {
      if (isBuy ? level.price > limit : level.price < limit) return false;
      if (stp === 'none') {
        if (level.qty >= need) return !(verdict = true);
        need -= level.qty;
        return true;
      }
      for (let h = level.head; h !== NIL; h = t.next[h]!) {
        if (t.accountOf(h) === accountId) {
          if (stp === 'cancel_oldest') continue;
          return false;
        }
        const q = t.qtyOf(h);
        if (q >= need) return !(verdict = true);
        need -= q;
      }
      return true;
    });
    return verdict;
  }

  private recordTrade(price: number, qty: number, ts: number, seq: number): void {
    const at = this.tradeNext;
    this.tradePrice[at] = price;
    this.tradeQty[at] = qty;
    this.tradeTs[at] = ts;
    this.tradeSeq[at] = seq;
    this.tradeNext = at + 1 === this.tradeCap ? 0 : at + 1;
    if (this.tradeCount < this.tradeCap) this.tradeCount++;
  }
}

function depthOf(side: BookSide, n: number): DepthLevel[] {
  const out: DepthLevel[] = [];
  if (n < 1) return out;
  side.walk((l) => {
    out.push({ price: l.price, qty: l.qty, orders: l.count });
    return out.length < n;
  });
  return out;
}
