import { describe, expect, it } from 'vitest';
import { ttlCache } from './ttl-cache.js';

describe('ttlCache', () => {
  it('loads once per key within the TTL, again after it, and keeps at most max entries', async () => {
    let t = 0;
    let loads = 0;
    const cache = ttlCache<string | undefined>({ max: 2, ttlMs: 1000, now: () => t });
    const load = (v: string | undefined) => async () => (loads++, v);
    expect(await cache.get('a', load('x'))).toBe('x');
    expect(await cache.get('a', load('y'))).toBe('x');
    expect(await cache.get('house', load(undefined))).toBeUndefined();
    expect(await cache.get('house', load('z'))).toBeUndefined(); // a cached "none" is a hit too
    expect(loads).toBe(2);
    t = 1001;
    expect(await cache.get('a', load('y'))).toBe('y');
    await cache.get('b', load('b'));
    expect(cache.size).toBe(2);
  });

  it('never serves a value from its own expiresAt on, even within the TTL', async () => {
    let t = 0;
    let loads = 0;
    const cache = ttlCache<number>({ max: 10, ttlMs: 1000, now: () => t, expiresAt: (until) => until });
    const load = (until: number) => async () => (loads++, until);
    expect(await cache.get('a', load(300))).toBe(300);
    t = 299;
    expect(await cache.get('a', load(5000))).toBe(300);
    t = 300;
    expect(await cache.get('a', load(5000))).toBe(5000);
    t = 1299;
    expect(await cache.get('a', load(6000))).toBe(5000); // the TTL still bounds a later expiresAt
    t = 1300;
    expect(await cache.get('a', load(6000))).toBe(6000);
    expect(loads).toBe(3);
  });

  it('stores nothing when the load fails', async () => {
    const cache = ttlCache<string>({ max: 10, ttlMs: 1000 });
    await expect(cache.get('a', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(cache.size).toBe(0);
    expect(await cache.get('a', async () => 'ok')).toBe('ok');
  });
});
