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

/** AVL invariants below `n`: keys ordered, stored heights right, children's heights differ by at most 1. */
function checkTree(n: PriceLevel | null, lo = -Infinity, hi = Infinity): number {
  if (n === null) return 0;
  expect(n.key).toBeGreaterThan(lo);
  expect(n.key).toBeLessThan(hi);
  const l = checkTree(n.left, lo, n.key);
  const r = checkTree(n.right, n.key, hi);
  expect(Math.abs(l - r)).toBeLessThanOrEqual(1);
  expect(n.height).toBe(Math.max(l, r) + 1);
  return n.height;
}

const rootOf = (side: BookSide) => (side as unknown as { root: PriceLevel | null }).root;

describe('BookSide', () => {
  it('keeps levels ordered best first under random opens and closes, balanced', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('buy' as const, 'sell' as const),
        fc.array(fc.record({ open: fc.boolean(), price: fc.integer({ min: 1, max: 300 }) }), { maxLength: 400, size: 'max' }),
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
            expect(prices(side)).toEqual(expected);
            expect(side.best()?.price ?? null).toBe(expected[0] ?? null);
            expect(side.size).toBe(model.size);
            const h = checkTree(rootOf(side));
            expect(h).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(model.size + 2)));
          }
        },
      ),
      { numRuns: 200 },
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
