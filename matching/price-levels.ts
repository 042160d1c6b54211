/**
 * The book's data structures.
 *
 * - `OrderNode`: one resting order, linked into its level's FIFO (an intrusive doubly linked list), so
 *   removing any order, wherever it is in the queue, is O(1) given the node (the book keeps id -> node).
 * - `PriceLevel`: FIFO of the orders at one price plus the aggregated leaves quantity and order count,
 *   so L1/L2 never walk orders.
 * - `BookSide`: the levels of one side. A `Map` price -> level gives O(1) access to an existing level;
 *   an array of levels sorted from worst to best (best at the end) gives the best level in O(1), removal
 *   of the best level (the common case: it was traded away) as a `pop`, ordered iteration for matching
 *   and depth, and a new level's position by binary search. See docs/adr/0007-matching-engine-numbers.md
 *   for why a sorted array rather than a tree or heap.
 */
import type { Side, StpMode, TimeInForce } from './types.js';

export class OrderNode {
  prev: OrderNode | null = null;
  next: OrderNode | null = null;
  level: PriceLevel | null = null;

  constructor(
    public readonly id: string,
    public readonly accountId: string,
    public readonly side: Side,
    public price: number,
    public qty: number,
    public seq: number,
    public ts: number,
    public tif: TimeInForce,
    public readonly stp: StpMode,
  ) {}
}

export class PriceLevel {
  head: OrderNode | null = null;
  tail: OrderNode | null = null;
  /** Sum of the leaves quantities of the orders at this level. */
  qty = 0;
  count = 0;

  constructor(
    public readonly price: number,
    /** Sort key: price for bids, -price for asks, so that "better" is always "greater". */
    public readonly key: number,
  ) {}

  /** Append at the back of the queue (lowest time priority). */
  push(node: OrderNode): void {
    node.level = this;
    node.prev = this.tail;
    node.next = null;
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.qty += node.qty;
    this.count++;
  }

  /** Unlink `node` (which must be at this level), subtracting its current leaves quantity. */
  unlink(node: OrderNode): void {
    const { prev, next } = node;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    node.prev = null;
    node.next = null;
    node.level = null;
    this.qty -= node.qty;
    this.count--;
  }
}

export class BookSide {
  /** Sorted by `key` ascending: worst first, best last. */
  readonly levels: PriceLevel[] = [];
  private readonly byPrice = new Map<number, PriceLevel>();
  private readonly sign: 1 | -1;

  constructor(side: Side) {
    this.sign = side === 'buy' ? 1 : -1;
  }

  best(): PriceLevel | undefined {
    return this.levels[this.levels.length - 1];
  }

  get(price: number): PriceLevel | undefined {
    return this.byPrice.get(price);
  }

  /** The level at `price`, created (O(log levels) search plus the array insert) when missing. */
  getOrCreate(price: number): PriceLevel {
    const found = this.byPrice.get(price);
    if (found) return found;
    const key = price * this.sign;
    const level = new PriceLevel(price, key);
    this.byPrice.set(price, level);
    const levels = this.levels;
    const n = levels.length;
    // Fast paths: a new best (at the end) or a new worst (at the start).
    if (n === 0 || levels[n - 1]!.key < key) {
      levels.push(level);
    } else {
      const i = this.lowerBound(key);
      if (i === 0) levels.unshift(level);
      else levels.splice(i, 0, level);
    }
    return level;
  }

  /** Remove an empty level. */
  remove(level: PriceLevel): void {
    this.byPrice.delete(level.price);
    const levels = this.levels;
    const last = levels.length - 1;
    if (levels[last] === level) {
      levels.pop();
      return;
    }
    const i = this.lowerBound(level.key);
    if (levels[i] === level) levels.splice(i, 1);
  }

  /** First index whose key is >= `key`. */
  private lowerBound(key: number): number {
    const levels = this.levels;
    let lo = 0;
    let hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (levels[mid]!.key < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
