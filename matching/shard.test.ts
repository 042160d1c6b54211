import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnv1a32, shardOf } from './index.js';

/** Straightforward FNV-1a over TextEncoder bytes, to check the allocation-free UTF-8 walk. */
function fnvBytes(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

describe('fnv1a32', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes of any string', () => {
    for (const s of ['é', 'Ωmega', '株式', '😀', 'a\ud800b', '\udc00', 'x\ud83d'])
      expect(fnv1a32(s), s).toBe(fnvBytes(s));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => fnv1a32(s) === fnvBytes(s)));
  }, 30_000); // 100 random strings: seconds on a loaded 2-core machine
});

describe('shardOf', () => {
  it('is stable: these values must never change (changing them moves books between shards)', () => {
    const symbols = ['AAPL', 'MSFT', 'GOOG', 'TSLA', 'BRK.B'];
    expect(symbols.map(fnv1a32)).toEqual([0x58cd330b, 0xc9ad9a73, 0xfab206d1, 0x04602b2f, 0xbe692a3a]);
    expect(symbols.map((s) => shardOf(s, 4))).toEqual([3, 3, 1, 3, 2]);
    expect(symbols.map((s) => shardOf(s, 8))).toEqual([3, 3, 1, 7, 2]);
  });

  it('is always within 0 .. count-1, and a single shard owns everything', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 1_000 }), (s, n) => {
        const k = shardOf(s, n);
        return Number.isInteger(k) && k >= 0 && k < n;
      }),
    );
    expect(shardOf('AAPL', 1)).toBe(0);
  });

  it('spreads symbols evenly', () => {
    const count = 16;
    const symbols = 16_000;
    const buckets = new Array<number>(count).fill(0);
    for (let i = 0; i < symbols; i++) {
      const sym = `${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(65 + ((i / 26) % 26))}${Math.floor(i / 676)}`;
      const k = shardOf(sym, count);
      buckets[k] = (buckets[k] ?? 0) + 1;
    }
    const expected = symbols / count;
    const chi2 = buckets.reduce((sum, b) => sum + (b - expected) ** 2 / expected, 0);
    // 15 degrees of freedom: chi-square p = 0.001 at about 37.7.
    expect(chi2).toBeLessThan(37.7);
    for (const b of buckets) expect(Math.abs(b - expected) / expected).toBeLessThan(0.1);
  });

  it('rejects a shard count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => shardOf('AAPL', bad)).toThrow(RangeError);
  });
});
