import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER, retryAfterSeconds } from './admission.js';

const lowest = () => 0;
const highest = (n: number) => n - 1;

describe('Retry-After of a shed order placement', () => {
  it('is 1 s under a light overload', () => {
    for (const overload of [0, 0.2, 1]) {
      expect(retryAfterSeconds(overload, lowest)).toBe(1);
      expect(retryAfterSeconds(overload, highest)).toBe(1);
    }
  });

  it('spreads a crowd over as many seconds as requests were shed per admitted one', () => {
    const seen = new Set([0, 1, 2, 3].map((k) => retryAfterSeconds(4, () => k)));
    expect(seen).toEqual(new Set([1, 2, 3, 4]));
    expect(retryAfterSeconds(3.2, highest)).toBe(4);
  });

  it('never asks for more than MAX_RETRY_AFTER seconds', () => {
    expect(retryAfterSeconds(1_000, highest)).toBe(MAX_RETRY_AFTER);
    expect(retryAfterSeconds(1_000, lowest)).toBe(1);
  });

  it('draws from the whole spread by default', () => {
    const seen = new Set(Array.from({ length: 2_000 }, () => retryAfterSeconds(5)));
    expect(seen).toEqual(new Set([1, 2, 3, 4, 5]));
  });
});
