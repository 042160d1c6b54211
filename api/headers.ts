/**
 * Response header policies, one per kind of response, applied by one middleware after the handler (a
 * header the handler set itself wins, e.g. the JWKS's public caching):
 *
 * - `json`: the API. Nothing is cacheable unless the route says so (tokens and account data are never
 *   stored by a browser or proxy cache), nothing may be framed or run as a document.
 * - `reference`: the API reference page at /docs (Scalar): its own script only, inline styles (Scalar
 *   injects them), no framing.
 * - `html`: the trader's page (web/, served by api/routes/web.ts) and its assets: scripts and styles
 *   from this origin only (no inline scripts or styles), WebSocket and fetch to this origin only, no
 *   framing, no plugins, forms post to this origin.
 */
import { createMiddleware } from 'hono/factory';
import { ASSET_PREFIX, PAGE_PATHS } from './routes/web.js';
import type { AppEnv } from './types.js';

const COMMON: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

export const HEADER_POLICIES = {
  json: {
    ...COMMON,
    'cache-control': 'no-store',
    'content-security-policy':
      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  },
  reference: {
    ...COMMON,
    'cache-control': 'no-cache',
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  },
  html: {
    ...COMMON,
    'cache-control': 'no-store',
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  },
} as const satisfies Record<string, Record<string, string>>;

export type HeaderPolicy = keyof typeof HEADER_POLICIES;

/** Which policy a path gets: the reference page and its script, the trader's page and its assets, else the JSON API. */
export function policyFor(path: string): HeaderPolicy {
  if (path === '/docs' || path.startsWith('/docs/')) return 'reference';
  if (PAGE_PATHS.includes(path) || path.startsWith(ASSET_PREFIX)) return 'html';
  return 'json';
}

export function headerPolicies(pick: (path: string) => HeaderPolicy = policyFor) {
  return createMiddleware<AppEnv>(async (c, next) => {
    await next();
    const headers = HEADER_POLICIES[pick(c.req.path)];
    for (const [name, value] of Object.entries(headers)) {
      if (!c.res.headers.has(name)) c.res.headers.set(name, value);
    }
  });
}
