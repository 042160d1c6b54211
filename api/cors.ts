/**
 * CORS for the origins in ALLOWED_ORIGINS (read as the live feeds read them, api/ws/auth.ts).
 *
 * Preflights (OPTIONS) are answered by hono's `cors`. On every other request the headers it would add
 * (Access-Control-Allow-Origin for an allowed origin, Access-Control-Expose-Headers, Vary: Origin) are
 * set on the finished response's own headers, after the handler, as api/headers.ts sets its policies.
 * hono's middleware sets them through `c.res` before the handler and `c.header` after it, and each of
 * those makes hono and @hono/node-server rebuild the handler's response as a web Response whose body is
 * then read back through a web stream: about 100 µs of CPU per request on this project's machines
 * (ADR 0030).
 */
import { cors } from 'hono/cors';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from './types.js';
import { originAllowed } from './ws/auth.js';

export interface CorsPolicy {
  /** parseOrigins(ALLOWED_ORIGINS); `*` allows any origin. */
  origins: Set<string>;
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  maxAge: number;
}

export function corsHeaders(policy: CorsPolicy) {
  const anyOrigin = policy.origins.has('*');
  const allowed = (origin: string | undefined): string | null =>
    anyOrigin ? '*' : origin && originAllowed(origin, policy.origins) ? origin : null;
  const preflight = cors({
    origin: anyOrigin ? '*' : (origin) => allowed(origin),
    allowMethods: policy.allowMethods,
    allowHeaders: policy.allowHeaders,
    exposeHeaders: policy.exposeHeaders,
    maxAge: policy.maxAge,
  });
  const expose = policy.exposeHeaders.join(',');
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    await next();
    const headers = c.res.headers;
    const origin = allowed(c.req.header('origin'));
    if (origin) headers.set('access-control-allow-origin', origin);
    headers.set('access-control-expose-headers', expose);
    if (!anyOrigin) headers.append('vary', 'Origin');
  });
}
