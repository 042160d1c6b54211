import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BookSide, NIL, OrderTable, PriceLevel } from './price-levels.js';

function prices(side: BookSide): number[] {
  const out: number[] = [];
  side.walk((l) => {
    out.push(l.price);
    return true;
  });
  return out;
}

/**
 * AVL invariants below `n` (keys ordered, stored heights right, children's heights differ by at most
 * one); returns the height. Throws on a violation (plain checks: this runs for every node at every step).
 */
function checkTree(n: PriceLevel | null, lo = -Infinity, hi = Infinity): number {
  if (n === null) return 0;
  if (!(n.key > lo && n.key < hi)) throw new Error(`key ${n.key} out of order`);
  const l = checkTree(n.left, lo, n.key);
  const r = checkTree(n.right, n.key, hi);
  if (Math.abs(l - r) > 1) throw new Error(`unbalanced at ${n.key}: ${l} vs ${r}`);
  if (n.height !== Math.max(l, r) + 1) throw new Error(`wrong height at ${n.key}`);
  return n.height;
}

const rootOf = (side: BookSide) => (side as unknown as { root: PriceLevel | null }).root;

describe('BookSide', () => {
  it('keeps levels ordered best first under random opens and closes, balanced', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('buy' as const, 'sell' as const),
        fc.array(fc.record({ open: fc.boolean(), price: fc.integer({ min: 1, max: 200 }) }), {
          maxLength: 300,
          size: 'max',
        }),
        (sideName, steps) => {
          const side = new BookSide(sideName);
          const model = new Set<number>();
          for (const { open, price } of steps) {
            if (open) {
              const level = side.getOrCreate(price);
              expect(side.getOrCreate(price)).toBe(level);
              model.add(price);
            } else {
              const level = side.get(price);
              if (level) side.remove(level);
              model.delete(price);
            }
            const expected = [...model].sort((a, b) => (sideName === 'buy' ? b - a : a - b));
            const got = prices(side);
            if (got.join() !== expected.join()) expect(got).toEqual(expected);
            if ((side.best()?.price ?? null) !== (expected[0] ?? null))
              expect(side.best()?.price).toBe(expected[0]);
            if (side.size !== model.size) expect(side.size).toBe(model.size);
            const h = checkTree(rootOf(side));
            if (h > Math.ceil(1.45 * Math.log2(model.size + 2)))
              throw new Error(`height ${h} for ${model.size} levels`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('walk stops when the visitor says so', () => {
    const side = new BookSide('sell');
    for (const p of [5, 3, 9, 1, 7]) side.getOrCreate(p);
    const seen: number[] = [];
    side.walk((l) => {
      seen.push(l.price);
      return seen.length < 3;
    });
    expect(seen).toEqual([1, 3, 5]);
  });
});

describe('OrderTable', () => {
  const ids = (t: OrderTable, l: PriceLevel) => {
    const out: string[] = [];
    for (let h = l.head; h !== NIL; h = t.next[h]!) out.push(t.idOf(h));
    return out;
  };

  it('queues a level as a FIFO with O(1) removal anywhere, and keeps the aggregate quantity', () => {
    const t = new OrderTable();
    const level = new PriceLevel('buy', 10, 10);
    const [a, b, c] = [1, 2, 4].map((q, i) => t.alloc('abc'[i]!, i, 'acct', q, i, 0, 'GTC', 'none'));
    t.push(level, a!);
    t.push(level, b!);
    t.push(level, c!);
    expect(ids(t, level)).toEqual(['a', 'b', 'c']);
    expect([level.qty, level.count]).toEqual([7, 3]);
    expect(t.unlink(b!)).toBe(level);
    expect(ids(t, level)).toEqual(['a', 'c']);
    t.unlink(a!);
    t.unlink(c!);
    expect([level.head, level.tail, level.qty, level.count]).toEqual([NIL, NIL, 0, 0]);
    t.push(level, b!);
    expect(ids(t, level)).toEqual(['b']);
  });

  it('reuses released slots, grows past its capacity, and keeps every column', () => {
    const t = new OrderTable(2);
    const level = new PriceLevel('sell', 7, -7);
    const tifs = ['GTC', 'DAY'] as const;
    const stps = ['cancel_newest', 'cancel_oldest', 'cancel_both', 'none'] as const;
    const slots = Array.from({ length: 9 }, (_, i) =>
      t.alloc(`o${i}`, i, `u${i}`, i + 1, 100 + i, 1_000 + i, tifs[i % 2]!, stps[i % 4]!),
    );
    expect(new Set(slots).size).toBe(9);
    for (const h of slots) t.push(level, h);
    t.unlink(slots[3]!);
    t.release(slots[3]!);
    const again = t.alloc('x', 99, 'ux', 5, 200, 2_000, 'DAY', 'cancel_both');
    expect(again).toBe(slots[3]);
    t.push(level, again);
    expect(ids(t, level)).toEqual(['o0', 'o1', 'o2', 'o4', 'o5', 'o6', 'o7', 'o8', 'x']);
    slots.forEach((h, i) => {
      if (i === 3) return;
      expect([t.idOf(h), t.accountOf(h), t.qtyOf(h), t.seqOf(h), t.tsOf(h), t.tif(h), t.stp(h)]).toEqual([
        `o${i}`,
        `u${i}`,
        i + 1,
        100 + i,
        1_000 + i,
        tifs[i % 2],
        stps[i % 4],
      ]);
    });
    expect([t.qtyOf(again), t.seqOf(again), t.tsOf(again), t.tif(again), t.stp(again)]).toEqual([
      5,
      200,
      2_000,
      'DAY',
      'cancel_both',
    ]);
    expect(t.levelOf(again)).toBe(level);
  });

  it('keeps safe integers beyond 32 bits exactly', () => {
    const t = new OrderTable();
    const big = Number.MAX_SAFE_INTEGER;
    const h = t.alloc('a', 0, 'u', big, big - 1, 1_764_000_000_000, 'GTC', 'none');
    expect([t.qtyOf(h), t.seqOf(h), t.tsOf(h)]).toEqual([big, big - 1, 1_764_000_000_000]);
    t.setQty(h, 2 ** 31);
    expect(t.qtyOf(h)).toBe(2 ** 31);
  });
});
