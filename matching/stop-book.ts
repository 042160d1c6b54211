/**
 * Stop orders waiting for their trigger, one sorted array per side in trigger order: buy stops by
 * stop price ascending (a rising price meets the lowest first), sell stops by stop price descending,
 * then by sequence. The stops a run of trades meets are then a prefix of each array.
 *
 * Costs: adding or removing a stop is a binary search plus an array shift (O(stops) in the worst case);
 * triggering k stops after n trades is O(n + k). Stops are few next to resting orders, and none of this
 * runs while no stop is pending (`size === 0`).
 */
import type { Fill, PendingStop, Side } from './types.js';

type Stop = { -readonly [K in keyof PendingStop]: PendingStop[K] };

/** Is `a` met before `b` (same side)? */
function before(a: PendingStop, b: PendingStop): boolean {
  if (a.stopPrice !== b.stopPrice)
    return a.side === 'buy' ? a.stopPrice < b.stopPrice : a.stopPrice > b.stopPrice;
  return a.seq < b.seq;
}

/** Is the stop condition met by a trade at `price`? */
export const meets = (side: Side, stopPrice: number, price: number): boolean =>
  side === 'buy' ? price >= stopPrice : price <= stopPrice;

export class StopBook {
  private readonly buys: Stop[] = [];
  private readonly sells: Stop[] = [];
  private readonly byId = new Map<string, Stop>();

  get size(): number {
    return this.byId.size;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** A copy of the pending stop, or undefined. */
  get(id: string): PendingStop | undefined {
    const s = this.byId.get(id);
    return s && { ...s };
  }

  add(stop: PendingStop): void {
    const s: Stop = { ...stop };
    const list = s.side === 'buy' ? this.buys : this.sells;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(list[mid]!, s)) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, s);
    this.byId.set(s.id, s);
  }

  remove(id: string): PendingStop | undefined {
    const s = this.byId.get(id);
    if (s === undefined) return undefined;
    const list = s.side === 'buy' ? this.buys : this.sells;
    list.splice(list.indexOf(s), 1);
    this.byId.delete(id);
    return s;
  }

  /** Change a pending stop's quantity in place (its trigger priority stays). */
  setQty(id: string, qty: number): PendingStop | undefined {
    const s = this.byId.get(id);
    if (s === undefined) return undefined;
    s.qty = qty;
    return { ...s };
  }

  /**
   * Remove and return the stops that the trades `fills[from..]` meet, in the order they are met: by
   * trade, and at one trade buy stops (lowest stop first) before sell stops (highest first), then by
   * sequence.
   */
  take(fills: readonly Fill[], from: number): PendingStop[] {
    const out: PendingStop[] = [];
    const { buys, sells } = this;
    let b = 0;
    let s = 0;
    for (let i = from; i < fills.length; i++) {
      const price = fills[i]!.price;
      while (b < buys.length && buys[b]!.stopPrice <= price) out.push(buys[b++]!);
      while (s < sells.length && sells[s]!.stopPrice >= price) out.push(sells[s++]!);
    }
    if (b > 0) buys.splice(0, b);
    if (s > 0) sells.splice(0, s);
    for (const o of out) this.byId.delete(o.id);
    return out;
  }

  /** Every pending stop in trigger order: buy stops, then sell stops. */
  all(): PendingStop[] {
    return [...this.buys, ...this.sells].map((s) => ({ ...s }));
  }
}
