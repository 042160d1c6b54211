/**
 * The book's data structures.
 *
 * - `OrderTable`: the resting orders, as columns (typed arrays, plus plain arrays for the strings)
 *   indexed by an integer handle. A handle is an order's slot; the slots of orders that left the book
 *   are reused. Each level's orders form a FIFO, an intrusive doubly linked list through the `prev` and
 *   `next` columns, so removing any order, wherever it is in the queue, is O(1) given its handle (the
 *   book keeps id -> handle).
 * - `PriceLevel`: head and tail of the FIFO of the orders at one price plus the aggregated leaves
 *   quantity and order count, so L1/L2 never walk orders.
 * - `BookSide`: the levels of one side. A `Map` price -> level gives O(1) access to an existing level;
 *   an AVL tree of the levels (intrusive, the levels are the tree nodes) with the best level cached gives
 *   the best level in O(1) and adding or removing a level in O(log levels), whatever the price. See
 *   docs/adr/0007-matching-engine-numbers.md for the alternatives measured (a sorted array, one object
 *   per order).
 */
import type { Side, StpMode, TimeInForce } from './types.js';

/** "No order": the end of a FIFO, or an empty free list. Handles are >= 0. */
export const NIL = -1;

// Codes by comparison rather than lookup tables: measured faster both ways (a keyed load with varying
// string keys is megamorphic, and reading the code's string back out of an array cost more than these
// comparisons).
const tifCode = (tif: TimeInForce): number => (tif === 'GTC' ? 0 : tif === 'DAY' ? 1 : tif === 'IOC' ? 2 : 3);
const stpCode = (stp: StpMode): number =>
  stp === 'cancel_newest' ? 0 : stp === 'cancel_oldest' ? 1 : stp === 'cancel_both' ? 2 : 3;

/**
 * `x`, an integer read from a `Float64Array`, as a small integer when it is one. V8 reads a
 * `Float64Array` element as a heap-allocated double, and a heap double stored into a result object
 * turns that field into a boxed double in every object of the same shape (the caller's copies too):
 * one more allocation per field and object from then on.
 */
const int = (x: number): number => ((x | 0) === x ? x | 0 : x);

/** Order slots per page of the string columns. */
const PAGE_BITS = 10;
const PAGE_MASK = (1 << PAGE_BITS) - 1;

/**
 * Resting orders in columns rather than one object per order: a book of half a million orders is then
 * a few large arrays instead of half a million heap objects that the young-generation collector must
 * copy and promote one by one as the book grows (the cost that dominated adds to a deep book). An
 * order's price and side are those of its level.
 *
 * Numbers are in typed arrays, grown by doubling (measured several times cheaper than growing plain
 * arrays with `push`); quantities, sequences and timestamps are safe integers, which `Float64Array`
 * holds exactly, and are read through `qtyOf`, `seqOf` and `tsOf` (see `int`). The strings (id and
 * account id) are in fixed-size pages of plain arrays, added as the table grows: a growing flat array
 * of pointers is copied, with a write barrier per element, at every growth. An order's level is a small integer too: levels that hold orders get a slot in
 * `levelSlots` (freed when they empty), so the per-order column is an `Int32Array` rather than one more
 * array of pointers.
 */
export class OrderTable {
  /** Slots in use or on the free list; the next fresh handle. */
  private top = 0;
  /** Free slots, linked through `next`. */
  private free = NIL;
  /** Levels by slot; a free level slot holds the next free one's number (NIL ends the list). */
  private readonly levelSlots: (PriceLevel | number)[] = [];
  private freeLevel = NIL;

  private readonly idPages: string[][] = [];
  private readonly accountPages: string[][] = [];
  private qty: Float64Array;
  private seq: Float64Array;
  private ts: Float64Array;
  /** The id's hash, for the id index (id-index.ts). */
  hash: Int32Array;
  prev: Int32Array;
  next: Int32Array;
  /** The order's level's slot in `levelSlots`. */
  level: Int32Array;
  /** Time in force and self-trade prevention: `tifCode(tif) | stpCode(stp) << 2`. */
  flags: Uint8Array;

  constructor(capacity = 16) {
    this.qty = new Float64Array(capacity);
    this.seq = new Float64Array(capacity);
    this.ts = new Float64Array(capacity);
    this.hash = new Int32Array(capacity);
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.level = new Int32Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  /** A slot for a new order, not yet in any level. */
  alloc(
    id: string,
    hash: number,
    accountId: string,
    qty: number,
    seq: number,
    ts: number,
    tif: TimeInForce,
    stp: StpMode,
  ): number {
    let h = this.free;
    if (h !== NIL) this.free = this.next[h]!;
    else {
      h = this.top++;
      if (h === this.hash.length) this.grow();
      if ((h & PAGE_MASK) === 0) {
        this.idPages.push(new Array<string>(PAGE_MASK + 1).fill(''));
        this.accountPages.push(new Array<string>(PAGE_MASK + 1).fill(''));
      }
    }
    this.idPages[h >> PAGE_BITS]![h & PAGE_MASK] = id;
    this.accountPages[h >> PAGE_BITS]![h & PAGE_MASK] = accountId;
    this.qty[h] = qty;
    this.seq[h] = seq;
    this.ts[h] = ts;
    this.hash[h] = hash;
    this.flags[h] = tifCode(tif) | (stpCode(stp) << 2);
    return h;
  }

  /** Return the slot of an order that is in no level any more. */
  release(h: number): void {
    // Drop the strings so that the slot does not keep them alive until it is reused.
    this.idPages[h >> PAGE_BITS]![h & PAGE_MASK] = '';
    this.accountPages[h >> PAGE_BITS]![h & PAGE_MASK] = '';
    this.next[h] = this.free;
    this.free = h;
  }

  idOf(h: number): string {
    return this.idPages[h >> PAGE_BITS]![h & PAGE_MASK]!;
  }

  accountOf(h: number): string {
    return this.accountPages[h >> PAGE_BITS]![h & PAGE_MASK]!;
  }

  hashOf(h: number): number {
    return this.hash[h]!;
  }

  /** Leaves quantity. */
  qtyOf(h: number): number {
    return int(this.qty[h]!);
  }

  /** Set the leaves quantity; the caller keeps the level's total in step. */
  setQty(h: number, qty: number): void {
    this.qty[h] = qty;
  }

  seqOf(h: number): number {
    return int(this.seq[h]!);
  }

  tsOf(h: number): number {
    return int(this.ts[h]!);
  }

  tif(h: number): TimeInForce {
    const c = this.flags[h]! & 3;
    return c === 0 ? 'GTC' : c === 1 ? 'DAY' : c === 2 ? 'IOC' : 'FOK';
  }

  stp(h: number): StpMode {
    const c = this.flags[h]! >> 2;
    return c === 0 ? 'cancel_newest' : c === 1 ? 'cancel_oldest' : c === 2 ? 'cancel_both' : 'none';
  }

  /** The level that order `h` is queued at. */
  levelOf(h: number): PriceLevel {
    return this.levelSlots[this.level[h]!] as PriceLevel;
  }

  /** Append `h` at the back of `level`'s queue (lowest time priority). */
  push(level: PriceLevel, h: number): void {
    if (level.count === 0) {
      let slot = this.freeLevel;
      if (slot === NIL) slot = this.levelSlots.push(level) - 1;
      else {
        this.freeLevel = this.levelSlots[slot] as number;
        this.levelSlots[slot] = level;
      }
      level.slot = slot;
    }
    this.level[h] = level.slot;
    const tail = level.tail;
    this.prev[h] = tail;
    this.next[h] = NIL;
    if (tail !== NIL) this.next[tail] = h;
    else level.head = h;
    level.tail = h;
    level.qty += this.qtyOf(h);
    level.count++;
  }

  /** Unlink `h` from its level, subtracting its current leaves quantity; returns the level. */
  unlink(h: number): PriceLevel {
    const level = this.levelOf(h);
    const prev = this.prev[h]!;
    const next = this.next[h]!;
    if (prev !== NIL) this.next[prev] = next;
    else level.head = next;
    if (next !== NIL) this.prev[next] = prev;
    else level.tail = prev;
    level.qty -= this.qtyOf(h);
    if (--level.count === 0) {
      this.levelSlots[level.slot] = this.freeLevel;
      this.freeLevel = level.slot;
      level.slot = NIL;
    }
    return level;
  }

  private grow(): void {
    const n = this.hash.length * 2;
    const widen = <T extends Float64Array | Int32Array | Uint8Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.qty = widen(this.qty, new Float64Array(n));
    this.seq = widen(this.seq, new Float64Array(n));
    this.ts = widen(this.ts, new Float64Array(n));
    this.hash = widen(this.hash, new Int32Array(n));
    this.prev = widen(this.prev, new Int32Array(n));
    this.next = widen(this.next, new Int32Array(n));
    this.level = widen(this.level, new Int32Array(n));
    this.flags = widen(this.flags, new Uint8Array(n));
  }
}

export class PriceLevel {
  /** First and last order handle of the FIFO, NIL when empty. */
  head = NIL;
  tail = NIL;
  /** Sum of the leaves quantities of the orders at this level. */
  qty = 0;
  count = 0;
  /** Slot in its `OrderTable`'s levels while it holds orders, else NIL. */
  slot = NIL;
  // AVL tree links (intrusive: a level is its own tree node).
  left: PriceLevel | null = null;
  right: PriceLevel | null = null;
  height = 1;

  constructor(
    public readonly side: Side,
    public readonly price: number,
    /** Sort key: price for bids, -price for asks, so that "better" is always "greater". */
    public readonly key: number,
  ) {}
}

/**
 * The levels of one side: a `Map` price -> level for O(1) access to an existing level, and an AVL tree
 * of the levels ordered by `key` with the best (greatest key) cached, so the best level is O(1) and
 * adding or removing a level is O(log levels).
 */
export class BookSide {
  private root: PriceLevel | null = null;
  /**
   * The levels from the root down to the one being inserted or removed, reused between calls. Insert
   * and remove are iterative over this path rather than recursive: no call per tree level, and the
   * rebalancing on the way back up stops at the first subtree that keeps its height (nothing above it
   * changes then), usually after a level or two.
   */
  private readonly path: PriceLevel[] = [];
  private top: PriceLevel | null = null;
  private readonly byPrice = new Map<number, PriceLevel>();
  private readonly sign: 1 | -1;

  constructor(private readonly side: Side) {
    this.sign = side === 'buy' ? 1 : -1;
  }

  /** The best level (highest bid, lowest ask), or null when the side is empty. */
  best(): PriceLevel | null {
    return this.top;
  }

  get(price: number): PriceLevel | undefined {
    return this.byPrice.get(price);
  }

  /** Number of price levels. */
  get size(): number {
    return this.byPrice.size;
  }

  /** The level at `price`, created when missing: O(1) when it exists, O(log levels) when new. */
  getOrCreate(price: number): PriceLevel {
    const found = this.byPrice.get(price);
    if (found !== undefined) return found;
    const level = new PriceLevel(this.side, price, price * this.sign);
    this.byPrice.set(price, level);
    this.insert(level);
    if (this.top === null || level.key > this.top.key) this.top = level;
    return level;
  }

  /** Remove a level (it should be empty). O(log levels). */
  remove(level: PriceLevel): void {
    if (!this.byPrice.delete(level.price)) return;
    this.removeNode(level);
    if (level === this.top) this.top = this.root === null ? null : rightmost(this.root);
    level.left = null;
    level.right = null;
    level.height = 1;
  }

  private insert(level: PriceLevel): void {
    const path = this.path;
    let depth = 0;
    for (let n = this.root; n !== null; n = level.key < n.key ? n.left : n.right) path[depth++] = n;
    if (depth === 0) {
      this.root = level;
      return;
    }
    const parent = path[depth - 1]!;
    if (level.key < parent.key) parent.left = level;
    else parent.right = level;
    this.retrace(depth);
  }

  private removeNode(level: PriceLevel): void {
    const path = this.path;
    let depth = 0;
    for (let n = this.root!; n !== level; n = level.key < n.key ? n.left! : n.right!) path[depth++] = n;
    const { left, right } = level;
    if (left === null || right === null) {
      this.replaceChild(depth - 1, level, left ?? right);
      this.retrace(depth);
      return;
    }
    // Two children: the smallest level of the right subtree takes the removed one's place.
    const at = depth++;
    let next = right;
    for (; next.left !== null; next = next.left) path[depth++] = next;
    if (depth - 1 === at) level.right = next.right;
    else path[depth - 1]!.left = next.right;
    next.left = level.left;
    next.right = level.right;
    next.height = level.height;
    this.replaceChild(at - 1, level, next);
    path[at] = next;
    this.retrace(depth);
  }

  /** Rebalance `path[depth - 1]` up to the root, until a subtree keeps its height. */
  private retrace(depth: number): void {
    const path = this.path;
    for (let i = depth - 1; i >= 0; i--) {
      const n = path[i]!;
      const before = n.height;
      const sub = rebalance(n);
      if (sub !== n) this.replaceChild(i - 1, n, sub);
      if (sub.height === before) return;
    }
  }

  /** Put `sub` where `old` hangs: under `path[i]`, or at the root when i < 0. */
  private replaceChild(i: number, old: PriceLevel, sub: PriceLevel | null): void {
    if (i < 0) this.root = sub;
    else {
      const parent = this.path[i]!;
      if (parent.left === old) parent.left = sub;
      else parent.right = sub;
    }
  }

  /** Visit levels from the best outwards until `visit` returns false. */
  walk(visit: (level: PriceLevel) => boolean): void {
    const stack: PriceLevel[] = [];
    let n = this.root;
    while (n !== null || stack.length > 0) {
      while (n !== null) {
        stack.push(n);
        n = n.right;
      }
      n = stack.pop()!;
      if (!visit(n)) return;
      n = n.left;
    }
  }
}

// ---- AVL tree over PriceLevel.key -------------------------------------------------------------------

const height = (n: PriceLevel | null): number => (n === null ? 0 : n.height);

function update(n: PriceLevel): void {
  const l = height(n.left);
  const r = height(n.right);
  n.height = (l > r ? l : r) + 1;
}

function rotateRight(n: PriceLevel): PriceLevel {
  const l = n.left!;
  n.left = l.right;
  l.right = n;
  update(n);
  update(l);
  return l;
}

function rotateLeft(n: PriceLevel): PriceLevel {
  const r = n.right!;
  n.right = r.left;
  r.left = n;
  update(n);
  update(r);
  return r;
}

/** Restore the AVL invariant at `n` (children already balanced); returns the subtree's new root. */
function rebalance(n: PriceLevel): PriceLevel {
  update(n);
  const diff = height(n.left) - height(n.right);
  if (diff > 1) {
    if (height(n.left!.left) < height(n.left!.right)) n.left = rotateLeft(n.left!);
    return rotateRight(n);
  }
  if (diff < -1) {
    if (height(n.right!.right) < height(n.right!.left)) n.right = rotateRight(n.right!);
    return rotateLeft(n);
  }
  return n;
}

function rightmost(n: PriceLevel): PriceLevel {
  while (n.right !== null) n = n.right;
  return n;
}
