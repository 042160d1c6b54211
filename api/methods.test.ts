/** 405 with Allow for a known path with an unknown method; 404 for an unknown path. */
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_TEXT_LENGTH } from '../lib/logger.js';
import { expectProblem } from '../test/http.js';
import { createUnitApp, type UnitApp } from '../test/unit-app.js';
import { methodsByPath } from './methods.js';

const ORDER = '/api/v1/orders/0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42';

describe('methods by path', () => {
  const allowed = methodsByPath([
    { method: 'ALL', path: '/api/v1/orders/*' },
    { method: 'GET', path: '/api/v1/orders/:id' },
    { method: 'DELETE', path: '/api/v1/orders/:id' },
    { method: 'POST', path: '/api/v1/orders/:id/cancel' },
    { method: 'GET', path: '/.well-known/jwks.json' },
  ]);

  it('lists the methods of every route whose path matches, HEAD with GET, sorted', () => {
    expect(allowed('/api/v1/orders/abc')).toEqual(['DELETE', 'GET', 'HEAD']);
    expect(allowed('/api/v1/orders/abc/cancel')).toEqual(['POST']);
    expect(allowed('/.well-known/jwks.json')).toEqual(['GET', 'HEAD']);
  });

  it('knows no method at a path no route matches (middleware is not a route)', () => {
    expect(allowed('/api/v1/orders/abc/replace')).toEqual([]);
    expect(allowed('/.well-known/jwksxjson')).toEqual([]);
    expect(allowed('/api/v1/orders/a/b')).toEqual([]);
  });
});

describe('405 Method Not Allowed', () => {
  let unit: UnitApp;
  beforeAll(async () => {
    unit = await createUnitApp();
  });

  it('answers PUT on a GET route with 405, Allow and a problem, touching nothing', async () => {
    const res = await unit.call('PUT', '/health');
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    const body = await expectProblem(res, 405, 'method_not_allowed');
    expect(body.detail).toBe('PUT is not allowed on /health; allowed: GET, HEAD');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(unit.touched).toEqual([]);
  });

  it('lists every method of a path with parameters', async () => {
    const res = await unit.call('PATCH', ORDER, { token: unit.token, body: {} });
    expect(res.headers.get('allow')).toBe('DELETE, GET, HEAD');
    await expectProblem(res, 405, 'method_not_allowed');
  });

  it('still answers 404 for an unknown path', async () => {
    const res = await unit.call('PUT', '/api/v1/nothing-here');
    expect(res.headers.get('allow')).toBeNull();
    await expectProblem(res, 404, 'not_found');
  });

  it('names a path of 15,801 characters in a 404 or 405 cut as the logger cuts it, not whole', async () => {
    const marker = '...[cut from 15801 chars]';
    for (const [method, path, status] of [
      ['GET', `/api/v1/${'a-'.repeat(7_900)}`.slice(0, 15_801), 404],
      ['PATCH', `/api/v1/orders/${'b'.repeat(15_786)}`, 405],
    ] as const) {
      expect(path.length).toBe(15_801);
      const res = await unit.call(method, path, { token: unit.token });
      const body = await expectProblem(res, status);
      expect(JSON.stringify(body).length).toBeLessThan(4 * MAX_TEXT_LENGTH);
      const instance = body.instance as string;
      expect(instance.endsWith(marker)).toBe(true);
      const kept = instance.slice(0, -marker.length);
      expect(kept.length).toBeLessThanOrEqual(MAX_TEXT_LENGTH);
      expect(path.startsWith(kept)).toBe(true);
      expect(body.detail).toContain(instance);
    }
    expect(unit.touched).toEqual([]);
  });
});
