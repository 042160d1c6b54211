/**
 * The book's data structures.
 *
 * - `OrderNode`: one resting order, linked into its level's FIFO (an intrusive doubly linked list), so
 *   removing any order, wherever it is in the queue, is O(1) given the node (the book keeps id -> node).
 * - `PriceLevel`: FIFO of the orders at one price plus the aggregated leaves quantity and order count,
 *   so L1/L2 never walk orders.
 * - `BookSide`: the levels of one side. A `Map` price -> level gives O(1) access to an existing level;
 *   an AVL tree of the levels (intrusive, the levels are the tree nodes) with the best level cached gives
 *   the best level in O(1) and adding or removing a level in O(log levels), whatever the price. See
 *   docs/adr/0007-matching-engine-numbers.md for the alternatives measured (a sorted array).
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
  // AVL tree links (intrusive: a level is its own tree node).
  left: PriceLevel | null = null;
  right: PriceLevel | null = null;
  height = 1;

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

/**
 * The levels of one side: a `Map` price -> level for O(1) access to an existing level, and an AVL tree
 * of the levels ordered by `key` with the best (greatest key) cached, so the best level is O(1) and
 * adding or removing a level is O(log levels).
 */
export class BookSide {
  private root: PriceLevel | null = null;
  private top: PriceLevel | null = null;
  private readonly byPrice = new Map<number, PriceLevel>();
  private readonly sign: 1 | -1;

  constructor(side: Side) {
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
    const level = new PriceLevel(price, price * this.sign);
    this.byPrice.set(price, level);
    this.root = insert(this.root, level);
    if (this.top === null || level.key > this.top.key) this.top = level;
    return level;
  }

  /** Remove a level (it should be empty). O(log levels). */
  remove(level: PriceLevel): void {
    if (!this.byPrice.delete(level.price)) return;
    this.root = removeKey(this.root, level.key);
    if (level === this.top) this.top = this.root === null ? null : rightmost(this.root);
    level.left = null;
    level.right = null;
    level.height = 1;
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

function insert(root: PriceLevel | null, node: PriceLevel): PriceLevel {
  if (root === null) return node;
  if (node.key < root.key) root.left = insert(root.left, node);
  else root.right = insert(root.right, node);
  return rebalance(root);
}

function removeKey(root: PriceLevel | null, key: number): PriceLevel | null {
  if (root === null) return null;
  if (key < root.key) root.left = removeKey(root.left, key);
  else if (key > root.key) root.right = removeKey(root.right, key);
  else {
    if (root.left === null) return root.right;
    if (root.right === null) return root.left;
    // Put the smallest node of the right subtree in the removed node's place.
    let next = root.right;
    while (next.left !== null) next = next.left;
    next.right = removeMin(root.right);
    next.left = root.left;
    return rebalance(next);
  }
  return rebalance(root);
}

function removeMin(n: PriceLevel): PriceLevel | null {
  if (n.left === null) return n.right;
  n.left = removeMin(n.left);
  return rebalance(n);
}

function rightmost(n: PriceLevel): PriceLevel {
  while (n.right !== null) n = n.right;
  return n;
}
