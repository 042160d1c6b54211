/**
 * A deliberately simple model of the order book, for property tests only: one array of resting
 * orders, scanned and sorted on every step; FOK is tried on a copy and kept only if it filled
 * completely; one array of pending stops, filtered against every trade price in print order. Slow and
 * obviously correct; `OrderBook` must behave exactly like it.
 */
import { Reject, REJECT_REASONS, type RejectCode } from './errors.js';
import type {
  Cancellation,
  Fill,
  LoadOrder,
  ModifyRequest,
  NewOrder,
  OrderType,
  PendingStop,
  RestingOrder,
  Side,
  StpMode,
  SubmitResult,
  TimeInForce,
  Trade,
  Triggered,
} from './types.js';

type Resting = { -readonly [K in keyof RestingOrder]: RestingOrder[K] };
type Stop = { -readonly [K in keyof PendingStop]: PendingStop[K] };

const int = (x: unknown) =>
  typeof x === 'number' && Number.isInteger(x) && Math.abs(x) <= Number.MAX_SAFE_INTEGER;
const positive = (x: unknown) => int(x) && (x as number) > 0;
const nonEmpty = (x: unknown) => typeof x === 'string' && x !== '';
const reject = (code: RejectCode): SubmitResult => ({ ok: false, code, reason: REJECT_REASONS[code] });

/** Is `a` ahead of `b` in the queue of their (same) side? */
function ahead(a: Resting, b: Resting): number {
  if (a.price !== b.price) return a.side === 'buy' ? b.price - a.price : a.price - b.price;
  return a.seq - b.seq;
}

/** Which of two stops met by the same trade triggers first: buys before sells, then by stop price, then time. */
function triggerOrder(a: Stop, b: Stop): number {
  if (a.side !== b.side) return a.side === 'buy' ? -1 : 1;
  if (a.stopPrice !== b.stopPrice)
    return a.side === 'buy' ? a.stopPrice - b.stopPrice : b.stopPrice - a.stopPrice;
  return a.seq - b.seq;
}

const met = (s: Stop, price: number) => (s.side === 'buy' ? price >= s.stopPrice : price <= s.stopPrice);

interface Taker {
  id: string;
  accountId: string;
  side: Side;
  limit: number | undefined;
  qty: number;
  stp: StpMode;
  seq: number;
  ts: number;
}

/** An order about to trade as a taker: a new one, a modified one, or a triggered stop. */
interface Entry extends Taker {
  type: OrderType;
  tif: TimeInForce;
}

interface Outcome {
  fills: Fill[];
  cancellations: Cancellation[];
  triggered: Triggered[];
}

export class ReferenceBook {
  orders: Resting[] = [];
  stops: Stop[] = [];
  trades: Trade[] = [];

  submit(o: NewOrder): SubmitResult {
    if (!nonEmpty(o.id)) return reject(Reject.InvalidId);
    if (!nonEmpty(o.accountId)) return reject(Reject.InvalidAccount);
    if (!['buy', 'sell'].includes(o.side)) return reject(Reject.InvalidSide);
    if (!['limit', 'market'].includes(o.type)) return reject(Reject.InvalidType);
    if (!['GTC', 'DAY', 'IOC', 'FOK'].includes(o.tif)) return reject(Reject.InvalidTif);
    if (!positive(o.qty)) return reject(Reject.InvalidQty);
    if (o.type === 'limit' && !positive(o.price)) return reject(Reject.InvalidPrice);
    if (o.type === 'market' && o.price !== undefined && !positive(o.price))
      return reject(Reject.InvalidPrice);
    if (!int(o.seq) || o.seq < 0) return reject(Reject.InvalidSeq);
    if (!int(o.ts)) return reject(Reject.InvalidTs);
    if (o.stopPrice !== undefined && !positive(o.stopPrice)) return reject(Reject.InvalidStopPrice);
    if (!int(o.seq) || o.seq < 0) return reject(Reject.InvalidSeq);
    if (!int(o.ts)) return reject(Reject.InvalidTs);
    if (o.stp !== undefined && !['cancel_newest', 'cancel_oldest', 'cancel_both', 'none'].includes(o.stp))
      return reject(Reject.InvalidStp);
    if (this.orders.some((r) => r.id === o.id) || this.stops.some((r) => r.id === o.id))
      return reject(Reject.DuplicateId);
    const stp = o.stp ?? 'cancel_newest';
    if (o.stopPrice !== undefined)
      return this.enterStop({
        id: o.id,
        accountId: o.accountId,
        side: o.side,
        type: o.type,
        stopPrice: o.stopPrice,
        price: o.price,
        qty: o.qty,
        seq: o.seq,
        ts: o.ts,
        tif: o.tif,
        stp,
      });
    const out: Outcome = { fills: [], cancellations: [], triggered: [] };
    const resting = this.enter({ ...o, limit: o.price, stp }, out);
    this.cascade(out, o.seq, o.ts);
    return { ok: true, ...out, resting, pending: null };
  }

  /** The last trade's price, if any. */
  lastPrice(): number | undefined {
    return this.trades[this.trades.length - 1]?.price;
  }

  private enterStop(s: Stop): SubmitResult {
    const last = this.lastPrice();
    if (last === undefined || !met(s, last)) {
      this.stops.push(s);
      return { ok: true, fills: [], cancellations: [], triggered: [], resting: null, pending: { ...s } };
    }
    const out: Outcome = { fills: [], cancellations: [], triggered: [] };
    out.triggered.push(this.trigger(s, s.seq));
    const resting = this.enter({ ...s, limit: s.price }, out);
    this.cascade(out, s.seq, s.ts);
    return { ok: true, ...out, resting, pending: null };
  }

  private trigger(s: Stop, seq: number): Triggered {
    return { orderId: s.id, accountId: s.accountId, side: s.side, stopPrice: s.stopPrice, seq, ts: s.ts };
  }

  /** Trade an entering order as its type and time in force; returns its resting remainder or null. */
  private enter(e: Entry, out: Outcome): RestingOrder | null {
    const done = (r: { fills: Fill[]; cancellations: Cancellation[] }) => {
      out.fills.push(...r.fills);
      out.cancellations.push(...r.cancellations);
    };
    if (e.tif === 'FOK') {
      const trial = this.copy();
      const r = trial.trade(e);
      if (r.left > 0 || r.takerCancelled) {
        out.cancellations.push({ orderId: e.id, accountId: e.accountId, qty: e.qty, reason: 'fok' });
        return null;
      }
      this.orders = trial.orders;
      this.trades = trial.trades;
      done(r);
      return null;
    }
    const r = this.trade(e);
    done(r);
    if (r.left === 0 || r.takerCancelled) return null;
    if (e.type === 'market' || e.tif === 'IOC') {
      const reason = e.type === 'market' ? 'market' : 'ioc';
      out.cancellations.push({ orderId: e.id, accountId: e.accountId, qty: r.left, reason });
      return null;
    }
    const rest: Resting = {
      id: e.id,
      accountId: e.accountId,
      side: e.side,
      price: e.limit!,
      qty: r.left,
      seq: e.seq,
      ts: e.ts,
      tif: e.tif,
      stp: e.stp,
    };
    this.orders.push(rest);
    return { ...rest };
  }

  /**
   * Trigger and trade stops until none is met: after each order's execution, for each of its trades in
   * print order, every pending stop that trade meets (in trigger order) joins the queue.
   */
  private cascade(out: Outcome, seq: number, ts: number): void {
    const queue: { stop: Stop; seq: number }[] = [];
    let next = seq;
    let from = 0;
    for (let i = 0; ; i++) {
      for (const f of out.fills.slice(from)) {
        const hit = this.stops.filter((s) => met(s, f.price)).sort(triggerOrder);
        this.stops = this.stops.filter((s) => !hit.includes(s));
        for (const stop of hit) {
          queue.push({ stop, seq: ++next });
          out.triggered.push({ ...this.trigger(stop, next), ts });
        }
      }
      const q = queue[i];
      if (!q) return;
      from = out.fills.length;
      this.enter({ ...q.stop, limit: q.stop.price, seq: q.seq, ts }, out);
    }
  }

  cancel(id: string): RestingOrder | PendingStop | undefined {
    const stop = this.stops.find((r) => r.id === id);
    if (stop) {
      this.stops = this.stops.filter((r) => r !== stop);
      return { ...stop };
    }
    const found = this.orders.find((r) => r.id === id);
    if (!found) return undefined;
    this.orders = this.orders.filter((r) => r !== found);
    return { ...found };
  }

  modify(id: string, change: ModifyRequest, seq: number, ts: number): SubmitResult {
    const stop = this.stops.find((r) => r.id === id);
    if (stop) return this.modifyStop(stop, change, seq, ts);
    const found = this.orders.find((r) => r.id === id);
    if (!found) return reject(Reject.UnknownOrder);
    if (!positive(change.qty)) return reject(Reject.InvalidQty);
    if (!positive(change.price)) return reject(Reject.InvalidPrice);
    if (change.stopPrice !== undefined) return reject(Reject.InvalidStopPrice);
    if (!int(seq) || seq < 0) return reject(Reject.InvalidSeq);
    if (!int(ts)) return reject(Reject.InvalidTs);
    if (change.price === found.price && change.qty <= found.qty) {
      found.qty = change.qty;
      return { ok: true, fills: [], cancellations: [], triggered: [], resting: { ...found }, pending: null };
    }
    this.orders = this.orders.filter((r) => r !== found);
    const out: Outcome = { fills: [], cancellations: [], triggered: [] };
    const resting = this.enter(
      { ...found, type: 'limit', limit: change.price, qty: change.qty, seq, ts },
      out,
    );
    this.cascade(out, seq, ts);
    return { ok: true, ...out, resting, pending: null };
  }

  private modifyStop(stop: Stop, change: ModifyRequest, seq: number, ts: number): SubmitResult {
    if (!positive(change.qty)) return reject(Reject.InvalidQty);
    if (stop.type === 'limit' && !positive(change.price)) return reject(Reject.InvalidPrice);
    if (stop.type === 'market' && change.price !== undefined && !positive(change.price))
      return reject(Reject.InvalidPrice);
    if (!positive(change.stopPrice)) return reject(Reject.InvalidStopPrice);
    if (!int(seq) || seq < 0) return reject(Reject.InvalidSeq);
    if (!int(ts)) return reject(Reject.InvalidTs);
    if (change.stopPrice === stop.stopPrice && change.price === stop.price && change.qty <= stop.qty) {
      stop.qty = change.qty;
      return { ok: true, fills: [], cancellations: [], triggered: [], resting: null, pending: { ...stop } };
    }
    this.stops = this.stops.filter((r) => r !== stop);
    return this.enterStop({
      ...stop,
      stopPrice: change.stopPrice!,
      price: change.price,
      qty: change.qty,
      seq,
      ts,
    });
  }

  load(orders: readonly LoadOrder[]): void {
    for (const o of orders) this.orders.push({ ...o, tif: o.tif ?? 'GTC', stp: o.stp ?? 'cancel_newest' });
  }

  /** Bids best first, then asks best first. */
  snapshot(): RestingOrder[] {
    const side = (s: Side) => this.orders.filter((r) => r.side === s).sort(ahead);
    return [...side('buy'), ...side('sell')].map((r) => ({ ...r }));
  }

  /** Pending stops: buys by stop price ascending, then sells by stop price descending; then by time. */
  pendingStops(): PendingStop[] {
    return [...this.stops].sort(triggerOrder).map((s) => ({ ...s }));
  }

  lastTrades(n: number): Trade[] {
    return this.trades.slice(-n).reverse();
  }

  private copy(): ReferenceBook {
    const c = new ReferenceBook();
    c.orders = this.orders.map((r) => ({ ...r }));
    c.stops = this.stops.map((r) => ({ ...r }));
    c.trades = [...this.trades];
    return c;
  }

  private trade(t: Taker): {
    fills: Fill[];
    cancellations: Cancellation[];
    left: number;
    takerCancelled: boolean;
  } {
    const fills: Fill[] = [];
    const cancellations: Cancellation[] = [];
    let left = t.qty;
    while (left > 0) {
      const candidates = this.orders
        .filter((r) => r.side !== t.side)
        .filter((r) => t.limit === undefined || (t.side === 'buy' ? r.price <= t.limit : r.price >= t.limit))
        .sort(ahead);
      const maker = candidates[0];
      if (!maker) break;
      if (t.stp !== 'none' && maker.accountId === t.accountId) {
        if (t.stp === 'cancel_oldest' || t.stp === 'cancel_both') {
          cancellations.push({
            orderId: maker.id,
            accountId: maker.accountId,
            qty: maker.qty,
            reason: 'stp',
          });
          this.orders = this.orders.filter((r) => r !== maker);
        }
        if (t.stp === 'cancel_newest' || t.stp === 'cancel_both') {
          cancellations.push({ orderId: t.id, accountId: t.accountId, qty: left, reason: 'stp' });
          return { fills, cancellations, left, takerCancelled: true };
        }
        continue;
      }
      const qty = Math.min(left, maker.qty);
      maker.qty -= qty;
      left -= qty;
      fills.push({
        makerOrderId: maker.id,
        takerOrderId: t.id,
        makerAccountId: maker.accountId,
        takerAccountId: t.accountId,
        takerSide: t.side,
        price: maker.price,
        qty,
        makerLeaves: maker.qty,
        takerLeaves: left,
        seq: t.seq,
        ts: t.ts,
      });
      this.trades.push({ price: maker.price, qty, ts: t.ts, seq: t.seq });
      if (maker.qty === 0) this.orders = this.orders.filter((r) => r !== maker);
    }
    return { fills, cancellations, left, takerCancelled: false };
  }
}
