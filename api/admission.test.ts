import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER, OverloadWindow, retryAfterSeconds } from './admission.js';

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

describe('the overload that sizes Retry-After', () => {
  const clock = (start: number) => {
    let t = start;
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  };

  it('is the sheds per admission of the last completed second', () => {
    const c = clock(10_000);
    const w = new OverloadWindow(c.now);
    w.record(false);
    for (let i = 0; i < 12; i++) w.record(true);
    w.record(false);
    w.record(false);
    expect(w.shedPerAdmitted).toBe(0); // the current second is not judged yet
    c.advance(1000);
    w.record(true);
    expect(w.shedPerAdmitted).toBe(4); // 12 shed, 3 admitted
  });

  it('counts sheds with nothing admitted as that many per admission', () => {
    const c = clock(10_000);
    const w = new OverloadWindow(c.now);
    w.record(false); // opens the window
    c.advance(1000);
    for (let i = 0; i < 7; i++) w.record(true);
    c.advance(1000);
    w.record(true);
    expect(w.shedPerAdmitted).toBe(7);
  });

  it('forgets an overload once a whole second passed without requests', () => {
    const c = clock(10_000);
    const w = new OverloadWindow(c.now);
    w.record(false);
    for (let i = 0; i < 9; i++) w.record(true);
    c.advance(2500);
    w.record(false);
    expect(w.shedPerAdmitted).toBe(0);
  });
});
