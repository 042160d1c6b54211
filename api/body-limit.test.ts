/**
 * The body limit and the input guard as the api process runs them, over a real socket through
 * @hono/node-server (app.request never sends a Content-Length): a declared Content-Length is judged from
 * the header, a chunked body is counted, and either way the route's validator reads the guard's text.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUnitApp, type UnitApp } from '../test/unit-app.js';

let api: UnitApp;
let server: ServerType;
let port: number;
beforeAll(async () => {
  api = await createUnitApp();
  port = await new Promise<number>((resolve) => {
    server = serve({ fetch: api.app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve(info.port),
    );
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(() => expect(api.touched).toEqual([]));

/** POST `body` to the order route, with a Content-Length or chunked; status, content type and code. */
function post(body: string, framing: 'content-length' | 'chunked') {
  return new Promise<{ status: number; type: string; code?: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/orders',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${api.token}`,
          ...(framing === 'content-length'
            ? { 'content-length': String(Buffer.byteLength(body)) }
            : { 'transfer-encoding': 'chunked' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            type: res.headers['content-type'] ?? '',
            code: (JSON.parse(text) as { code?: string }).code,
          }),
        );
      },
    );
    req.on('error', reject);
    if (framing === 'chunked')
      for (let i = 0; i < body.length; i += 16_384) req.write(body.slice(i, i + 16_384));
    req.end(framing === 'chunked' ? undefined : body);
  });
}

/** Over the default BODY_LIMIT_BYTES (64 KiB). */
const oversized = JSON.stringify({ order: { symbol: 'x'.repeat(100_000) } });

describe('request bodies over a real socket', () => {
  for (const framing of ['content-length', 'chunked'] as const) {
    it(`${framing}: an oversized body is a 413 problem`, async () => {
      const res = await post(oversized, framing);
      expect(res).toMatchObject({ status: 413, code: 'payload_too_large' });
      expect(res.type).toContain('application/problem+json');
    });

    it(`${framing}: malformed JSON is a 400, and a body the validator refuses a 422`, async () => {
      expect(await post('{"order":', framing)).toMatchObject({ status: 400, code: 'bad_request' });
      const order = { symbol: 'AAPL', order_type: 'limit', direction: 'buy', quantity: -1, price: '1.00' };
      expect(await post(JSON.stringify({ order }), framing)).toMatchObject({
        status: 422,
        code: 'validation_failed',
      });
    });
  }
});
