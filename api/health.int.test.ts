import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { createTestApi, type TestApi } from '../test/helpers.js';

describe('ops endpoints', () => {
  let api: TestApi;
  beforeAll(async () => (api = await createTestApi()));
  afterAll(() => api.close());

  it('answers liveness on /health and /api/v1/health with X-Instance', async () => {
    for (const path of ['/health', '/api/v1/health']) {
      const res = await api.call('GET', path);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-instance')).toBe(api.deps.config.INSTANCE_ID);
      const body = (await res.json()) as { status: string; timestamp: string };
      expect(body.status).toBe('ok');
      expect(Number.isNaN(Date.parse(body.timestamp))).toBe(false);
    }
  });

  it('is ready when Postgres, Redis and Temporal answer', async () => {
    const res = await api.call('GET', '/ready');
    const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(res.status).toBe(200);
    expect(body.checks.postgres?.ok && body.checks.redis?.ok && body.checks.temporal?.ok).toBe(true);
  });

  it('serves Prometheus metrics on the metrics port only, not on the public port', async () => {
    await api.call('GET', '/health');
    expect((await api.call('GET', '/metrics')).status).toBe(404);
    const res = await fetch(`${api.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/http_requests_total\{[^}]*route="\/health"/);
  });

  it('answers with the X-Request-Id it was sent (or a new one) and logs the request with it', async () => {
    const lines: Record<string, unknown>[] = [];
    const write = (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>);
    const logged = await createTestApi({}, undefined, createLogger('info', {}, { write }));
    try {
      const kept = await logged.call('GET', '/api/v1/health', { headers: { 'x-request-id': 'trace.42' } });
      expect(kept.headers.get('x-request-id')).toBe('trace.42');
      const replaced = await logged.call('GET', '/nope', { headers: { 'x-request-id': 'not a valid id!' } });
      const fresh = replaced.headers.get('x-request-id');
      expect(fresh).toMatch(/^[0-9a-f-]{36}$/);
      expect(lines).toEqual([
        expect.objectContaining({
          msg: 'request',
          route: '/api/v1/health',
          status: 200,
          request_id: 'trace.42',
        }),
        expect.objectContaining({ msg: 'request', route: 'unmatched', status: 404, request_id: fresh }),
      ]);
    } finally {
      await logged.close();
    }
  });

  it('answers unknown routes with a problem+json 404', async () => {
    const res = await api.call('GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 404, success: false, code: 'not_found', title: 'Not found' });
  });

  it('refuses oversized bodies with 413', async () => {
    const res = await api.call('POST', '/api/v1/health', {
      raw: 'x'.repeat(200_000),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('payload_too_large');
  });

  it('serves a valid OpenAPI 3.1 document and the reference page', async () => {
    const res = await api.call('GET', '/openapi.json');
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/health');
    const page = await api.call('GET', '/docs');
    expect(await page.text()).toContain('/openapi.json');
    const js = await api.call('GET', '/docs/scalar.js');
    expect(js.status).toBe(200);
  });

  it('answers CORS preflights for allowed origins only, and sets security headers', async () => {
    const origin = api.deps.config.ALLOWED_ORIGINS.split(',')[0]!;
    const allowed = await api.call('OPTIONS', '/api/v1/orders', {
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(origin);
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const foreign = await api.call('OPTIONS', '/api/v1/orders', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    // ALLOWED_ORIGINS is read as the live feeds read it: case and a trailing slash do not matter.
    const written = await createTestApi({
      ALLOWED_ORIGINS: 'HTTPS://Broker.Example/, https://other.example',
    });
    try {
      const res = await written.call('OPTIONS', '/api/v1/orders', {
        headers: { origin: 'https://broker.example', 'access-control-request-method': 'POST' },
      });
      expect(res.headers.get('access-control-allow-origin')).toBe('https://broker.example');
    } finally {
      await written.close();
    }
    const res = await api.call('GET', '/health');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});
