/**
 * Hostile text stops at the edge: one middleware refuses, before any route runs,
 * - a path or query string that is not valid percent-encoded UTF-8 (400),
 * - a JSON body that is not valid UTF-8 (400),
 * - NUL bytes or unpaired UTF-16 surrogates in any path segment, query parameter, JSON string (key or
 *   value) or header used as data (422, or 400 for headers), naming where,
 * - a JSON number with more than 15 significant digits (422), naming where.
 * Postgres refuses NUL in text, and lone surrogates cannot be stored or mailed: letting them through
 * turned into 500s deep inside queries. JSON.parse rounds a longer number to the nearest double
 * (0.0099999999999999999 reads as 0.01), so the amount the client wrote would be lost, not refused
 * (lib/money.ts reads a number's shortest text, exact up to 15 digits; ADR 0002).
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

/** Significant digits a JSON number may have: any decimal of 15 survives JSON.parse and String(). */
export const MAX_NUMBER_DIGITS = 15;

/**
 * One walk over a parsed JSON body: the first JSON path holding a hostile key or string, and whether the
 * body holds a number that JSON.parse may have rounded (one that is not a safe integer).
 */
export function inspectBody(body: unknown): { hostile?: string; rounded: boolean } {
  let rounded = false;
  const walk = (value: unknown, path: string[]): string | undefined => {
    if (typeof value === 'string') return isHostile(value) ? path.join('.') || '(body)' : undefined;
    if (typeof value === 'number') rounded ||= !Number.isSafeInteger(value);
    else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const hit = walk(value[i], [...path, String(i)]);
        if (hit !== undefined) return hit;
      }
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (isHostile(k)) return [...path, '(key)'].join('.');
        const hit = walk(v, [...path, k]);
        if (hit !== undefined) return hit;
      }
    }
    return undefined;
  };
  const hostile = walk(body, []);
  return { hostile, rounded };
}

/**
 * The JSON path of the first number in `json` (a text JSON.parse accepted) with more than
 * MAX_NUMBER_DIGITS significant digits, or undefined: one pass over the text, skipping strings.
 */
export function longNumberPath(json: string): string | undefined {
  const path: (string | number)[] = [];
  let key = '';
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '"') {
      const start = i + 1;
      for (i = start; i < json.length && json[i] !== '"'; i++) if (json[i] === '\\') i++;
      key = json.slice(start, i);
    } else if (ch === '{') path.push('');
    else if (ch === '[') path.push(0);
    else if (ch === '}' || ch === ']') path.pop();
    else if (ch === ':') path[path.length - 1] = key;
    else if (ch === ',' && typeof path[path.length - 1] === 'number') (path[path.length - 1] as number)++;
    else if (ch === '-' || (ch! >= '0' && ch! <= '9')) {
      // The digits of the mantissa from its first non-zero one to its last.
      let first = -1;
      let last = -1;
      let n = 0;
      let exponent = false;
      for (; i < json.length; i++) {
        const c = json[i]!;
        if (c >= '0' && c <= '9') {
          if (!exponent && c !== '0') {
            if (first < 0) first = n;
            last = n;
          }
          n++;
        } else if (c === 'e' || c === 'E') exponent = true;
        else if (c !== '.' && c !== '-' && c !== '+') break;
      }
      i--; // the character after the number, read by the next turn
      if (first >= 0 && last - first + 1 > MAX_NUMBER_DIGITS) return path.join('.') || '(body)';
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
      const { hostile, rounded } = inspectBody(body);
      if (hostile !== undefined) throw refuse(hostile);
      const long = rounded ? longNumberPath(text) : undefined;
      if (long !== undefined)
        throw new ApiError('validation_failed', 'Validation failed', [
          `${long}: has more than ${MAX_NUMBER_DIGITS} significant digits, which a JSON number cannot carry exactly (send a decimal string)`,
        ]);
    }
    await next();
  });
}
