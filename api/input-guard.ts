/**
 * Hostile text stops at the edge: one middleware refuses, before any route runs,
 * - a path or query string that is not valid percent-encoded UTF-8 (400),
 * - a JSON body that is not valid UTF-8 (400),
 * - NUL bytes or unpaired UTF-16 surrogates in any path segment, query parameter, JSON string (key or
 *   value) or header used as data (422, or 400 for headers), naming where.
 * Postgres refuses NUL in text, and lone surrogates cannot be stored or mailed: letting them through
 * turned into 500s deep inside queries.
 */
import { z } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import { ApiError } from './problem.js';
import type { AppEnv } from './types.js';

const HOSTILE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Header values the API reads as data: printable ASCII only. */
const DATA_HEADERS = ['idempotency-key', 'x-request-id'];
const PRINTABLE_ASCII = /^[\x20-\x7E]*$/;
const MESSAGE = 'must not contain NUL bytes or unpaired surrogates';

export const isHostile = (s: string) => HOSTILE.test(s);

/** A JSON body by its Content-Type, whatever its case (media types are case-insensitive, as hono reads them). */
export const isJsonBody = (contentType: string | undefined): boolean =>
  contentType?.toLowerCase().includes('json') ?? false;

/** An id the API hands out (a uuid, lower-case hex), as it comes back inside a cursor. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Dates the API takes from a client (a query's date-time, a cursor's position): 1970-01-01 to 9999-12-31
 * UTC. Postgres refuses year 0 and reads no ISO text beyond year 9999 (a 500 deep inside a query).
 */
export const DATE_RANGE = 'must be between 1970-01-01 and 9999-12-31';
const MAX_DATE_MS = Date.UTC(10000, 0, 1) - 1;
export const inDateRange = (d: Date): boolean => d.getTime() >= 0 && d.getTime() <= MAX_DATE_MS;
/** A query's ISO 8601 date-time with its offset, within DATE_RANGE. */
export const queryDateTime = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time', abort: true })
  .refine((s) => inDateRange(new Date(s)), DATE_RANGE);

/** The first JSON path holding a hostile key or string, or undefined. */
export function hostilePath(value: unknown, path: string[] = []): string | undefined {
  if (typeof value === 'string') return isHostile(value) ? path.join('.') || '(body)' : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = hostilePath(value[i], [...path, String(i)]);
      if (hit !== undefined) return hit;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (isHostile(k)) return [...path, '(key)'].join('.');
      const hit = hostilePath(v, [...path, k]);
      if (hit !== undefined) return hit;
    }
  }
  return undefined;
}

const decode = (part: string, what: string): string => {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    throw new ApiError('bad_request', `The ${what} is not valid percent-encoded UTF-8`);
  }
};

const refuse = (where: string) =>
  new ApiError('validation_failed', 'Validation failed', [`${where}: ${MESSAGE}`]);

export function inputGuard() {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return createMiddleware<AppEnv>(async (c, next) => {
    const url = c.req.url;
    const q = url.indexOf('?');
    const pathPart = new URL(url).pathname;
    for (const segment of pathPart.split('/')) if (isHostile(decode(segment, 'path'))) throw refuse('path');
    if (q >= 0) {
      for (const pair of url.slice(q + 1).split('&')) {
        // As URLSearchParams (and hono) read it: the key up to the first '=', the value all the rest.
        const eq = pair.indexOf('=');
        const [k, v] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
        const key = decode(k, 'query string');
        if (isHostile(key) || isHostile(decode(v, 'query string')))
          throw refuse(`query.${key.replace(HOSTILE, '?')}`);
      }
    }
    for (const name of DATA_HEADERS) {
      const value = c.req.header(name);
      if (value !== undefined && !PRINTABLE_ASCII.test(value))
        throw new ApiError('bad_request', `The ${name} header must be printable ASCII`);
    }
    if (isJsonBody(c.req.header('content-type')) && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const bytes = await c.req.arrayBuffer();
      let text: string;
      try {
        text = utf8.decode(bytes);
      } catch {
        throw new ApiError('bad_request', 'The request body is not valid UTF-8');
      }
      // The validator's c.req.json() parses this text instead of decoding the bytes again through a new
      // Response (hono keeps each reading of the body as a promise under its name; its type says otherwise).
      (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined; // malformed JSON: the route's validator answers it
      }
      const where = hostilePath(body);
      if (where !== undefined) throw refuse(where);
    }
    await next();
  });
}
