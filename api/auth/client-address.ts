/**
 * The caller's network address, for per-address rate limits. The socket's address by default;
 * X-Forwarded-For only when TRUSTED_PROXY_HOPS says how many proxies in front of us append to it (the
 * entry appended by the outermost trusted proxy is the client; anything left of it is client-supplied).
 * IPv6 callers are grouped by /64, since one host usually owns a whole /64. The same address and the
 * User-Agent describe a session's logins and refreshes to its owner (the session list, the new-login mail).
 */
import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

/** Expand an IPv6 address to 8 groups of 4 hex digits (no zone id). */
function expandIpv6(address: string): string[] | undefined {
  const [head = '', tail] = address.split('::') as [string, string?];
  const parse = (part: string) => (part ? part.split(':') : []);
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) =>
    g.padStart(4, '0').toLowerCase(),
  );
}

/** The rate-limit identity of an address: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64. */
export function normalizeAddress(raw: string): string | undefined {
  let address = raw.trim();
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) address = mapped[1];
  const kind = isIP(address);
  if (kind === 4) return address;
  if (kind !== 6) return undefined;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : undefined;
}

/** The entry of X-Forwarded-For written by the outermost of `hops` trusted proxies. */
export function forwardedAddress(header: string | undefined, hops: number): string | undefined {
  if (!header || hops <= 0) return undefined;
  const parts = header
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const candidate = parts[parts.length - hops];
  return candidate === undefined ? undefined : normalizeAddress(candidate);
}

/**
 * The caller's address, or undefined when there is none to be had (in-process `app.request()` calls have
 * no socket): per-address limits are then skipped and per-account limits still apply.
 */
export function clientAddress(c: Context, trustedProxyHops: number): string | undefined {
  const forwarded = forwardedAddress(c.req.header('x-forwarded-for'), trustedProxyHops);
  if (forwarded) return forwarded;
  try {
    const remote = getConnInfo(c).remote.address;
    return remote ? normalizeAddress(remote) : undefined;
  } catch {
    return undefined;
  }
}

/** A header value as shown to the owner: printable characters only, at most `max` of them. */
export const printable = (value: string | undefined, max = 200) =>
  value
    ? value
        .replace(/\p{C}+/gu, ' ')
        .trim()
        .slice(0, max) || undefined
    : undefined;

/** Where a request comes from, as a session records it (login, refresh). */
export function requestSource(
  c: Context,
  trustedProxyHops: number,
): { ip: string | null; userAgent: string | null } {
  return {
    ip: clientAddress(c, trustedProxyHops) ?? null,
    userAgent: printable(c.req.header('user-agent')) ?? null,
  };
}
