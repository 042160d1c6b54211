/**
 * A deliberately simple model of the order book, for property tests only: one array of resting
 * orders, scanned and sorted on every step; FOK is tried on a copy and kept only if it filled
 * completely. Slow and obviously correct; `OrderBook` must behave exactly like it.
 */
import { Reject, REJECT_REASONS, type RejectCode } from './errors.js';
import type {
  Cancellation,
  Fill,
  LoadOrder,
  ModifyRequest,
  NewOrder,
  RestingOrder,
  Side,
  StpMode,
  SubmitResult,
  Trade,
} from './types.js';

type Resting = { -readonly [K in keyof RestingOrder]: RestingOrder[K] };

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

export class ReferenceBook {
  orders: Resting[] = [];
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
    if (o.stp !== undefined && !['cancel_newest', 'cancel_oldest', 'cancel_both', 'none'].includes(o.stp))
      return reject(Reject.InvalidStp);
    if (this.orders.some((r) => r.id === o.id)) return reject(Reject.DuplicateId);

    const taker: Taker = { ...o, limit: o.price, stp: o.stp ?? 'cancel_newest' };
    if (o.tif === 'FOK') {
      const trial = this.copy();
      const out = trial.trade(taker);
      if (out.left > 0 || out.takerCancelled)
        return {
          ok: true,
          fills: [],
          cancellations: [{ orderId: o.id, accountId: o.accountId, qty: o.qty, reason: 'fok' }],
          resting: null,
        };
      this.orders = trial.orders;
      this.trades = trial.trades;
      return { ok: true, fills: out.fills, cancellations: out.cancellations, resting: null };
    }
    const out = this.trade(taker);
    if (out.left === 0 || out.takerCancelled)
      return { ok: true, fills: out.fills, cancellations: out.cancellations, resting: null };
    if (o.type === 'market' || o.tif === 'IOC') {
      const reason = o.type === 'market' ? 'market' : 'ioc';
      out.cancellations.push({ orderId: o.id, accountId: o.accountId, qty: out.left, reason });
      return { ok: true, fills: out.fills, cancellations: out.cancellations, resting: null };
    }
    const rest: Resting = {
      id: o.id,
      accountId: o.accountId,
      side: o.side,
      price: o.price!,
      qty: out.left,
      seq: o.seq,
      ts: o.ts,
      tif: o.tif,
      stp: taker.stp,
    };
    this.orders.push(rest);
    return { ok: true, fills: out.fills, cancellations: out.cancellations, resting: { ...rest } };
  }

  cancel(id: string): RestingOrder | undefined {
    const found = this.orders.find((r) => r.id === id);
    if (!found) return undefined;
    this.orders = this.orders.filter((r) => r !== found);
    return { ...found };
  }

  modify(id: string, change: ModifyRequest, seq: number, ts: number): SubmitResult {
    const found = this.orders.find((r) => r.id === id);
    if (!found) return reject(Reject.UnknownOrder);
    if (!positive(change.qty)) return reject(Reject.InvalidQty);
    if (!positive(change.price)) return reject(Reject.InvalidPrice);
    if (!int(seq) || seq < 0) return reject(Reject.InvalidSeq);
    if (!int(ts)) return reject(Reject.InvalidTs);
    if (change.price === found.price && change.qty <= found.qty) {
      found.qty = change.qty;
      return { ok: true, fills: [], cancellations: [], resting: { ...found } };
    }
    this.orders = this.orders.filter((r) => r !== found);
    const taker: Taker = { ...found, limit: change.price, qty: change.qty, seq, ts };
    const out = this.trade(taker);
    if (out.left === 0 || out.takerCancelled)
      return { ok: true, fills: out.fills, cancellations: out.cancellations, resting: null };
    const rest: Resting = { ...found, price: change.price, qty: out.left, seq, ts };
    this.orders.push(rest);
    return { ok: true, fills: out.fills, cancellations: out.cancellations, resting: { ...rest } };
  }

  load(orders: readonly LoadOrder[]): void {
    for (const o of orders) this.orders.push({ ...o, tif: o.tif ?? 'GTC', stp: o.stp ?? 'cancel_newest' });
  }

  /** Bids best first, then asks best first. */
  snapshot(): RestingOrder[] {
    const side = (s: Side) => this.orders.filter((r) => r.side === s).sort(ahead);
    return [...side('buy'), ...side('sell')].map((r) => ({ ...r }));
  }

  lastTrades(n: number): Trade[] {
    return this.trades.slice(-n).reverse();
  }

  private copy(): ReferenceBook {
    const c = new ReferenceBook();
    c.orders = this.orders.map((r) => ({ ...r }));
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
