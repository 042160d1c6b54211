/**
 * The stable symbol -> shard function (docs/adr/0003-single-writer-matching-shards.md: "Symbols map to
 * shards by a stable function").
 *
 *   shardOf(symbol, count) = FNV-1a-32(UTF-8 bytes of symbol) mod count
 *
 * FNV-1a 32-bit: offset basis 2166136261 (0x811c9dc5), prime 16777619 (0x01000193); for each byte
 * `hash = (hash XOR byte) * prime mod 2^32`. The result only depends on the symbol's bytes and `count`
 * (never on the process, platform or insertion order), so every api instance and matching worker agree.
 * Changing it, or `count`, moves symbols between shards: books must be handed over (rebuilt) then.
 * Unpaired UTF-16 surrogates are hashed as U+FFFD, as `TextEncoder` encodes them.
 */

const OFFSET_BASIS = 0x811c9dc5;
const PRIME = 0x01000193;

const step = (hash: number, byte: number): number => Math.imul(hash ^ byte, PRIME) >>> 0;

/** FNV-1a 32-bit hash of the UTF-8 encoding of `s`, as an unsigned 32-bit integer. */
export function fnv1a32(s: string): number {
  let h = OFFSET_BASIS;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      h = step(h, c);
      continue;
    }
    if (c < 0x800) {
      h = step(step(h, 0xc0 | (c >> 6)), 0x80 | (c & 0x3f));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const lo = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
        h = step(h, 0xf0 | (c >> 18));
        h = step(h, 0x80 | ((c >> 12) & 0x3f));
        h = step(h, 0x80 | ((c >> 6) & 0x3f));
        h = step(h, 0x80 | (c & 0x3f));
        continue;
      }
      c = 0xfffd; // lone surrogate
    }
    h = step(h, 0xe0 | (c >> 12));
    h = step(h, 0x80 | ((c >> 6) & 0x3f));
    h = step(h, 0x80 | (c & 0x3f));
  }
  return h;
}

/** The shard (0 .. count-1) that owns `symbol`. `count` must be a positive integer. */
export function shardOf(symbol: string, count: number): number {
  if (!Number.isSafeInteger(count) || count < 1)
    throw new RangeError(`shard count must be a positive integer, got ${count}`);
  return fnv1a32(symbol) % count;
}
