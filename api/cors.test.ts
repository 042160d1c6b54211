/**
 * CORS and the per-request headers, set on the finished response (api/cors.ts, api/app.ts): an answer
 * and a problem carry the same headers as when hono's middleware set them, and a preflight is hono's.
 */
import { afterEach, beforeAll, expect, it } from 'vitest';
import { createUnitApp, type UnitApp } from '../test/unit-app.js';

const ORIGIN = 'http://localhost:3000'; // the default ALLOWED_ORIGINS
let api: UnitApp;
beforeAll(async () => {
  api = await createUnitApp();
});
afterEach(() => expect(api.touched).toEqual([]));

/** Every response header the document names, readable by a page's script. */
const EXPOSED =
  'X-Request-Id,X-Instance,Retry-After,WWW-Authenticate,Idempotent-Replayed,Content-Disposition,Link,Cache-Control';
const corsOf = (res: Response) => ({
  origin: res.headers.get('access-control-allow-origin'),
  expose: res.headers.get('access-control-expose-headers'),
  vary: res.headers.get('vary'),
});

it('adds the CORS headers to an answer for an allowed origin, and no allowed origin for another', async () => {
  const ok = await api.call('GET', '/health', { headers: { origin: ORIGIN } });
  expect(ok.status).toBe(200);
  expect(corsOf(ok)).toEqual({
    origin: ORIGIN,
    expose: EXPOSED,
    vary: 'Origin',
  });
  expect(ok.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  expect(ok.headers.get('x-instance')).toBeTruthy();
  expect(ok.headers.get('content-type')).toContain('application/json');

  const foreign = await api.call('GET', '/health', { headers: { origin: 'https://evil.example' } });
  expect(corsOf(foreign)).toEqual({
    origin: null,
    expose: EXPOSED,
    vary: 'Origin',
  });
});

it('keeps on a problem the headers set before the failure, and adds the CORS and request headers', async () => {
  const res = await api.call('POST', '/api/v1/orders', {
    token: api.token,
    headers: { origin: ORIGIN, 'x-request-id': 'req-cors-1' },
    body: { symbol: 'AAPL' },
  });
  expect(res.status).toBe(400);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(corsOf(res).origin).toBe(ORIGIN);
  expect(res.headers.get('x-request-id')).toBe('req-cors-1');
  expect(res.headers.get('cache-control')).toBe('no-store'); // set by the auth middleware before the handler
  expect(((await res.json()) as { request_id: string }).request_id).toBe('req-cors-1');
});

it('answers a preflight from an allowed origin with the allowed methods and headers, unlogged by the handler', async () => {
  const res = await api.call('OPTIONS', '/api/v1/orders', {
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
  });
  expect(res.status).toBe(204);
  expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,PUT,DELETE,OPTIONS');
  expect(res.headers.get('access-control-max-age')).toBe('600');
  expect(res.headers.get('vary')).toContain('Origin');
});
