import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BookSide, OrderNode, PriceLevel } from './price-levels.js';

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

describe('PriceLevel', () => {
  const node = (id: string, qty: number) => new OrderNode(id, 'acct', 'buy', 10, qty, 0, 0, 'GTC', 'none');
  const ids = (l: PriceLevel) => {
    const out: string[] = [];
    for (let n = l.head; n !== null; n = n.next) out.push(n.id);
    return out;
  };

  it('is a FIFO with O(1) removal anywhere, and keeps the aggregate quantity', () => {
    const level = new PriceLevel(10, 10);
    const [a, b, c] = [node('a', 1), node('b', 2), node('c', 4)];
    level.push(a);
    level.push(b);
    level.push(c);
    expect(ids(level)).toEqual(['a', 'b', 'c']);
    expect([level.qty, level.count]).toEqual([7, 3]);
    level.unlink(b);
    expect(ids(level)).toEqual(['a', 'c']);
    level.unlink(a);
    level.unlink(c);
    expect([level.head, level.tail, level.qty, level.count]).toEqual([null, null, 0, 0]);
    level.push(b);
    expect(ids(level)).toEqual(['b']);
  });
});
