import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashId, IdIndex, type IdSource } from './id-index.js';
import { NIL } from './price-levels.js';

/** Ids by handle, with a chosen hash function (a poor one forces collisions and long probe runs). */
class Source implements IdSource {
  readonly ids: string[] = [];
  readonly hashes: number[] = [];
  constructor(private readonly hash: (id: string) => number) {}
  idOf(h: number): string {
    return this.ids[h]!;
  }
  hashOf(h: number): number {
    return this.hashes[h]!;
  }
  set(h: number, id: string): number {
    this.ids[h] = id;
    return (this.hashes[h] = this.hash(id));
  }
}

describe('IdIndex', () => {
  it.each([
    ['hashId', hashId],
    // Every id starts probing at one of the last two or first two entries, so that probe runs wrap
    // around the table's end and deletions shift entries across it.
    ['a 2-bit hash', (id: string) => (hashId(id) & 3) - 2],
  ])('agrees with a Map under random adds and removes (%s)', (_, hash) => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ add: fc.boolean(), key: fc.integer({ min: 0, max: 300 }) }), {
          maxLength: 600,
          size: 'max',
        }),
        (steps) => {
          const source = new Source(hash);
          const index = new IdIndex(source);
          const model = new Map<string, number>();
          const free: number[] = [];
          let top = 0;
          for (const { add, key } of steps) {
            const id = `order-${key}`;
            const found = index.find(id, hash(id));
            if (found !== (model.get(id) ?? NIL)) expect(found).toBe(model.get(id) ?? NIL);
            if (add && found === NIL) {
              // Handles are reused like the order table's slots: freed ones first.
              const h = free.pop() ?? top++;
              index.add(source.set(h, id), h);
              model.set(id, h);
            } else if (!add && found !== NIL) {
              index.remove(source.hashOf(found), found);
              model.delete(id);
              free.push(found);
            }
            if (index.size !== model.size) expect(index.size).toBe(model.size);
          }
          for (const [id, h] of model) expect(index.find(id, hash(id))).toBe(h);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('grows to fit large handles, not only for more entries', () => {
    const source = new Source(hashId);
    const index = new IdIndex(source, 4);
    index.add(source.set(1_000, 'x'), 1_000);
    expect(index.find('x', hashId('x'))).toBe(1_000);
    expect(index.find('y', hashId('y'))).toBe(NIL);
  });

  it('hashes every code unit of the id', () => {
    const ids = [
      '',
      'a',
      'b',
      'ab',
      'ba',
      'abc',
      'abd',
      'é',
      '\u{1f600}',
      'x'.repeat(36),
      'x'.repeat(35) + 'y',
    ];
    expect(new Set(ids.map(hashId)).size).toBe(ids.length);
  });
});
