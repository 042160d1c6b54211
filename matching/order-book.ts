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
 * - Stop orders (`stopPrice`) wait outside the visible book (stop-book.ts) until a trade prints at or
 *   above (buy) or at or below (sell) their stop price, or trigger at once when the last trade price
 *   already meets it. After each order's execution, the stops its trades met trigger in the order
 *   they were met (by trade; at one trade by stop price, then sequence) and trade one after the other,
 *   each with the next sequence; the trades of a triggered order may trigger more (a cascade). A
 *   pending stop is cancelled and modified like a resting order (its stop price included).
 *
 * Costs: cancel, fill and adding at an existing level are O(1) whatever the queue depth; opening or
 * closing a price level is O(log levels) (see price-levels.ts).
 */
import { Reject, REJECT_REASONS, type RejectCode } from './errors.js';
import { hashId, IdIndex } from './id-index.js';
import { BookSide, NIL, OrderTable, type PriceLevel } from './price-levels.js';
import { meets, StopBook } from './stop-book.js';
import type {
  Accepted,
  CancelReason,
  Cancellation,
  Depth,
  DepthLevel,
  Fill,
  LoadOptions,
  LoadOrder,
  ModifyRequest,
  NewOrder,
  OrderBookOptions,
  OrderType,
  PendingStop,
  Quote,
  Rejected,
  RestingOrder,
  Side,
  StpMode,
  SubmitResult,
  TimeInForce,
  Trade,
  Triggered,
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
const NO_TRIGGERS: readonly Triggered[] = Object.freeze([]);

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
  if (o.stopPrice !== undefined && !isPositiveInt(o.stopPrice)) return Reject.InvalidStopPrice;
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
  private readonly stops = new StopBook();
  private readonly defaultStp: StpMode;
  /** The last trade's price (NaN before the first): a new stop it meets triggers at once. */
  private last = NaN;

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
  private triggers: Triggered[] | null = null;

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
    if (this.orders.find(o.id, hash) !== NIL || (this.stops.size > 0 && this.stops.has(o.id)))
      return rejected(Reject.DuplicateId);

    const { id, accountId, side, qty, seq, ts } = o;
    const stp = o.stp ?? this.defaultStp;
    this.fills = null;
    this.cancels = null;
    this.triggers = null;
    if (o.stopPrice !== undefined)
      return this.enterStop({
        id,
        accountId,
        side,
        type: o.type,
        stopPrice: o.stopPrice,
        price: o.price,
        qty,
        seq,
        ts,
        tif: o.tif,
        stp,
      });
    const resting = this.execute(id, hash, accountId, side, o.type, o.tif, o.price, qty, stp, seq, ts);
    if (this.stops.size > 0 && this.fills !== null) this.cascade(seq, ts);
    return this.accepted(resting, null);
  }

  /**
   * Remove a resting order or a pending stop. Returns the removed order (detached from the book, with
   * the leaves quantity it had) or undefined when the book has no such order. O(1) for a resting order.
   */
  cancel(id: string): RestingOrder | PendingStop | undefined {
    const h = this.find(id);
    if (h === NIL) return this.stops.size > 0 ? this.stops.remove(id) : undefined;
    const removed = this.copyOf(h);
    this.unrest(h);
    return removed;
  }

  /**
   * Change a resting order's price and leaves quantity. Same price and a smaller or equal quantity:
   * in place, priority kept. Otherwise the order leaves the book and re-enters with `seq`/`ts` as a
   * new limit order with its original time in force and self-trade prevention, trading first if it
   * now crosses.
   *
   * A pending stop takes its whole new state (stop price, price as for its type, quantity). Same stop
   * price and price and a smaller or equal quantity: in place, trigger priority kept. Otherwise it
   * re-enters with `seq`/`ts`, triggering at once when the last trade price meets the new stop price.
   */
  modify(id: string, change: ModifyRequest, seq: number, ts: number): SubmitResult {
    const h = this.find(id);
    if (h === NIL)
      return this.stops.size > 0 && this.stops.has(id)
        ? this.modifyStop(id, change, seq, ts)
        : rejected(Reject.UnknownOrder);
    if (!isPositiveInt(change.qty)) return rejected(Reject.InvalidQty);
    if (!isPositiveInt(change.price)) return rejected(Reject.InvalidPrice);
    if (change.stopPrice !== undefined) return rejected(Reject.InvalidStopPrice);
    if (!isSeq(seq)) return rejected(Reject.InvalidSeq);
    if (!Number.isSafeInteger(ts)) return rejected(Reject.InvalidTs);

    const t = this.table;
    const level = t.levelOf(h);
    if (change.price === level.price && change.qty <= t.qtyOf(h)) {
      level.qty -= t.qtyOf(h) - change.qty;
      t.setQty(h, change.qty);
      return this.unchanged(this.copyOf(h), null);
    }

    const { side } = level;
    const accountId = t.accountOf(h);
    const tif = t.tif(h);
    const stp = t.stp(h);
    const hash = t.hashOf(h);
    this.unrest(h);
    this.fills = null;
    this.cancels = null;
    this.triggers = null;
    const resting = this.execute(
      id,
      hash,
      accountId,
      side,
      'limit',
      tif,
      change.price,
      change.qty,
      stp,
      seq,
      ts,
    );
    if (this.stops.size > 0 && this.fills !== null) this.cascade(seq, ts);
    return this.accepted(resting, null);
  }

  private modifyStop(id: string, change: ModifyRequest, seq: number, ts: number): SubmitResult {
    const cur = this.stops.get(id)!;
    if (!isPositiveInt(change.qty)) return rejected(Reject.InvalidQty);
    if (
      cur.type === 'limit'
        ? !isPositiveInt(change.price)
        : change.price !== undefined && !isPositiveInt(change.price)
    )
      return rejected(Reject.InvalidPrice);
    if (!isPositiveInt(change.stopPrice)) return rejected(Reject.InvalidStopPrice);
    if (!isSeq(seq)) return rejected(Reject.InvalidSeq);
    if (!Number.isSafeInteger(ts)) return rejected(Reject.InvalidTs);
    if (change.stopPrice === cur.stopPrice && change.price === cur.price && change.qty <= cur.qty)
      return this.unchanged(null, this.stops.setQty(id, change.qty)!);
    this.stops.remove(id);
    this.fills = null;
    this.cancels = null;
    this.triggers = null;
    return this.enterStop({
      ...cur,
      stopPrice: change.stopPrice,
      price: change.price,
      qty: change.qty,
      seq,
      ts,
    });
  }

  /**
   * Put orders back on the book without matching (rebuild from storage). Orders are queued in `seq`
   * order at each level. Invalid, duplicate or crossing input is a corrupt snapshot, not a business
   * outcome: it throws and leaves the book unchanged.
   */
  load(orders: readonly LoadOrder[], options: LoadOptions = {}): void {
    const { stops = [], lastPrice } = options;
    if (lastPrice !== undefined && !isPositiveInt(lastPrice))
      throw new RangeError(`load: last price ${String(lastPrice)}: ${REJECT_REASONS[Reject.InvalidPrice]}`);
    const last = lastPrice ?? this.last;
    const seen = new Set<string>();
    for (const s of stops) {
      const code = checkNewOrder(s);
      if (code !== 0) throw new RangeError(`load: stop ${String(s.id)}: ${REJECT_REASONS[code]}`);
      if (s.stopPrice === undefined) throw new RangeError(`load: stop ${s.id} has no stop price`);
      if (this.has(s.id) || seen.has(s.id)) throw new RangeError(`load: duplicate order id ${s.id}`);
      if (meets(s.side, s.stopPrice, last))
        throw new RangeError(`load: stop ${s.id} is met by the last price ${last}: it should have triggered`);
      seen.add(s.id);
    }
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
    for (const s of stops) this.stops.add(s);
    this.last = last;
  }

  // ---- reads -----------------------------------------------------------------------------------

  /** A copy of the resting order, or undefined (a pending stop is not resting: see `stop`). */
  get(id: string): RestingOrder | undefined {
    const h = this.find(id);
    return h === NIL ? undefined : this.copyOf(h);
  }

  /** A copy of the pending stop order, or undefined. */
  stop(id: string): PendingStop | undefined {
    return this.stops.get(id);
  }

  /** Is the order on the book, resting or as a pending stop? */
  has(id: string): boolean {
    return this.find(id) !== NIL || this.stops.has(id);
  }

  /** Number of resting orders (pending stops are not counted). */
  size(): number {
    return this.orders.size;
  }

  /** Number of stop orders waiting for their trigger. */
  stopCount(): number {
    return this.stops.size;
  }

  /** The last trade's price (restored by `load`), or undefined before any. */
  lastPrice(): number | undefined {
    return Number.isNaN(this.last) ? undefined : this.last;
  }

  /** Every pending stop in trigger order: buy stops (lowest stop price first), then sell stops (highest first). */
  pendingStops(): PendingStop[] {
    return this.stops.all();
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

  /** The accepted result of the current operation; hands over the collected fills, cancellations, triggers. */
  private accepted(resting: RestingOrder | null, pending: PendingStop | null): Accepted {
    const r: Accepted = {
      ok: true,
      fills: this.fills ?? NO_FILLS,
      cancellations: this.cancels ?? NO_CANCELS,
      resting,
      triggered: this.triggers ?? NO_TRIGGERS,
      pending,
    };
    this.fills = null;
    this.cancels = null;
    this.triggers = null;
    return r;
  }

  /** The result of a modify in place: nothing traded, nothing moved. */
  private unchanged(resting: RestingOrder | null, pending: PendingStop | null): Accepted {
    return { ok: true, fills: NO_FILLS, cancellations: NO_CANCELS, resting, triggered: NO_TRIGGERS, pending };
  }

  /**
   * Trade a taker as its type and time in force: FOK all or nothing, market and IOC remainders
   * cancelled, GTC and DAY remainders rested. Returns the resting remainder, or null.
   */
  private execute(
    id: string,
    hash: number,
    accountId: string,
    side: Side,
    type: OrderType,
    tif: TimeInForce,
    price: number | undefined,
    qty: number,
    stp: StpMode,
    seq: number,
    ts: number,
  ): RestingOrder | null {
    const limit = price ?? (side === 'buy' ? Infinity : -Infinity);
    if (tif === 'FOK' && !this.canFillAll(accountId, side, limit, qty, stp)) {
      this.cancelled(id, accountId, qty, 'fok');
      return null;
    }
    const left = this.match(id, accountId, side, limit, qty, stp, seq, ts);
    if (left === 0 || this.takerCancelled) return null;
    if (type === 'market' || tif === 'IOC' || tif === 'FOK') {
      this.cancelled(id, accountId, left, tif === 'FOK' ? 'fok' : type === 'market' ? 'market' : 'ioc');
      return null;
    }
    this.rest(this.table.alloc(id, hash, accountId, left, seq, ts, tif, stp), side, limit);
    return restingOrder(id, accountId, side, limit, left, seq, ts, tif, stp);
  }

  /** A stop order entering (new or modified): pending, or triggered at once when the last price meets it. */
  private enterStop(s: PendingStop): Accepted {
    if (!meets(s.side, s.stopPrice, this.last)) {
      this.stops.add(s);
      return this.accepted(null, { ...s });
    }
    (this.triggers ??= []).push(triggered(s, s.seq, s.ts));
    const resting = this.executeStop(s, s.seq, s.ts);
    this.cascade(s.seq, s.ts);
    return this.accepted(resting, null);
  }

  /**
   * After an execution with operation sequence `seq`: trigger the stops its trades met and trade them
   * one after the other in that order, each with the next sequence, then those their trades met, until
   * no trade meets a pending stop.
   */
  private cascade(seq: number, ts: number): void {
    const queue: PendingStop[] = [];
    const seqs: number[] = [];
    let next = seq;
    let from = 0;
    for (let i = 0; ; i++) {
      if (this.stops.size > 0 && this.fills !== null && this.fills.length > from)
        for (const s of this.stops.take(this.fills, from)) {
          queue.push(s);
          seqs.push(++next);
          (this.triggers ??= []).push(triggered(s, next, ts));
        }
      const s = queue[i];
      if (s === undefined) return;
      from = this.fills?.length ?? 0;
      this.executeStop(s, seqs[i]!, ts);
    }
  }

  /** A triggered stop trades as its type with sequence `seq`. */
  private executeStop(s: PendingStop, seq: number, ts: number): RestingOrder | null {
    const { id, accountId, side, type, tif, price, qty, stp } = s;
    return this.execute(id, hashId(id), accountId, side, type, tif, price, qty, stp, seq, ts);
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
    this.last = price;
    this.tradeNext = at + 1 === this.tradeCap ? 0 : at + 1;
    if (this.tradeCount < this.tradeCap) this.tradeCount++;
  }
}

function triggered(s: PendingStop, seq: number, ts: number): Triggered {
  return { orderId: s.id, accountId: s.accountId, side: s.side, stopPrice: s.stopPrice, seq, ts };
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
