/**
 * A small in-process cache: at most `max` entries (the oldest inserted goes first), each kept for
 * `ttlMs` after it was stored, and never from its value's own `expiresAt` on (same clock as `now`). For
 * values that rarely or never change and are read on a hot path.
 */
export interface TtlCache<V> {
  /** The cached value, or the loaded one (stored; a failed load stores nothing). */
  get(key: string, load: () => Promise<V>): Promise<V>;
  readonly size: number;
}

export function ttlCache<V>(opts: {
  max: number;
  ttlMs: number;
  now?: () => number;
  expiresAt?: (value: V) => number;
}): TtlCache<V> {
  const now = opts.now ?? (() => performance.now());
  const entries = new Map<string, { value: V; until: number }>();
  return {
    async get(key, load) {
      const hit = entries.get(key);
      if (hit && hit.until > now()) return hit.value;
      const value = await load();
      entries.delete(key);
      if (entries.size >= opts.max) entries.delete(entries.keys().next().value!);
      const until = now() + opts.ttlMs;
      entries.set(key, { value, until: opts.expiresAt ? Math.min(until, opts.expiresAt(value)) : until });
      return value;
    },
    get size() {
      return entries.size;
    },
  };
}
