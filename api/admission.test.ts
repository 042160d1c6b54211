import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config.js';
import {
  createAdmission,
  MAX_RETRY_AFTER,
  OverloadWindow,
  PLACE_ORDER_PATH,
  retryAfterSeconds,
} from './admission.js';
import { createApiMetrics } from './metrics.js';
import type { AppEnv } from './types.js';

const lowest = () => 0;
const highest = (n: number) => n - 1;

describe('Retry-After of a shed order placement', () => {
  it('is 1 s when the wait asked for is a second or less', () => {
    for (const wait of [0, 0.2, 1]) {
      expect(retryAfterSeconds(wait, lowest)).toBe(1);
      expect(retryAfterSeconds(wait, highest)).toBe(1);
    }
  });

  it('is drawn from 1 to 2 * wait - 1 seconds, whose mean is the wait', () => {
    const seen = [0, 1, 2, 3, 4, 5, 6].map((k) => retryAfterSeconds(4, () => k));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seen.reduce((a, b) => a + b, 0) / seen.length).toBe(4);
    expect(retryAfterSeconds(2.4, highest)).toBe(4); // a spread of round(3.8) = 4
  });

  it('never asks for more than MAX_RETRY_AFTER seconds', () => {
    expect(retryAfterSeconds(1_000, highest)).toBe(MAX_RETRY_AFTER);
    expect(retryAfterSeconds(1_000, lowest)).toBe(1);
  });

  it('draws from the whole spread by default', () => {
    const seen = new Set(Array.from({ length: 2_000 }, () => retryAfterSeconds(3)));
    expect(seen).toEqual(new Set([1, 2, 3, 4, 5]));
  });
});

describe('the wait that spreads the shed crowd', () => {
  const clock = (start: number) => {
    let t = start;
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  };

  it('is the seconds of Retry-After handed out in the last completed second per admission', () => {
    const c = clock(10_000);
    const w = new OverloadWindow(c.now);
    w.admit();
    for (let i = 0; i < 12; i++) expect(w.shedOne(highest)).toBe(1); // no overload judged yet: 1 s each
    w.admit();
    w.admit();
    expect(w.wait).toBe(0); // the current second is not judged yet
    c.advance(1000);
    expect(w.shedOne(highest)).toBe(7); // a wait of 12 / 3 = 4 s: drawn from 1..7
    expect(w.wait).toBe(4);
  });

  it('grows with the crowd: sheds told to wait longer stand for more clients waiting', () => {
    const c = clock(10_000);
    const w = new OverloadWindow(c.now);
    w.admit();
    c.advance(1000);
    // 10 sheds told 1 s, 2 admitted: 5 s next
    for (let i = 0; i < 10; i++) w.shedOne(lowest);
    w.admit();
    w.admit();
    c.advance(1000);
    // 10 sheds told a mean of 5 s (1..9), 2 admitted: about 50 clients waiting, 25 s next
    for (let i = 0; i < 10; i++) w.shedOne((n) => (i % 2 === 0 ? 0 : n - 1));
    w.admit();
    w.admit();
    c.advance(1000);
    w.shedOne(lowest);
    expect(w.wait).toBe(25);
  });

  it('counts sheds with nothing admitted as if one was', () => {
    const c = clock(10_000);
    const w = new OverloadWindow(c.now);
    w.admit(); // opens the window
    c.advance(1000);
    for (let i = 0; i < 7; i++) w.shedOne(lowest);
    c.advance(1000);
    w.shedOne(lowest);
    expect(w.wait).toBe(7);
  });

  it('forgets an overload once a whole second passed without requests', () => {
    const c = clock(10_000);
    const w = new OverloadWindow(c.now);
    w.admit();
    for (let i = 0; i < 9; i++) w.shedOne(lowest);
    c.advance(2500);
    w.admit();
    expect(w.wait).toBe(0);
  });
});

describe('a shed order placement', () => {
  const config = loadConfig({ NODE_ENV: 'test', MAX_INFLIGHT_ORDERS: '1', INSTANCE_ID: 'api-7' });
  const admission = createAdmission({ config, metrics: createApiMetrics('admission-test') });
  admission.enter(); // the only slot
  const app = new Hono<AppEnv>();
  app.use(PLACE_ORDER_PATH, admission.gate);
  const place = (headers: Record<string, string> = {}) =>
    app.request(PLACE_ORDER_PATH, { method: 'POST', headers });

  it('is a 429 problem with Retry-After and the headers of every answer: X-Request-Id, X-Instance', async () => {
    const res = await place({ 'x-request-id': 'shed-1' });
    expect(res.status).toBe(429);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('x-request-id')).toBe('shed-1');
    expect(res.headers.get('x-instance')).toBe('api-7');
    expect(await res.json()).toMatchObject({ code: 'too_many_requests', request_id: 'shed-1' });
  });

  it('gets a new request id without a valid X-Request-Id', async () => {
    const sent: Record<string, string>[] = [{}, { 'x-request-id': 'not valid!' }];
    for (const headers of sent) {
      const res = await place(headers);
      expect(res.status).toBe(429);
      const id = res.headers.get('x-request-id');
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(await res.json()).toMatchObject({ request_id: id });
    }
  });
});
