import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../lib/config.js';
import {
  createAdmission,
  MAX_RETRY_AFTER,
  OverloadWindow,
  PLACE_ORDER_PATH,
  retryAfterSeconds,
} from './admission.js';
import { createApiMetrics } from './metrics.js';
import { ApiError } from './problem.js';
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
  admission.enter('account-1'); // the only slot
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

describe("an account's share of the admission (ADR 0045)", () => {
  const config = loadConfig({
    NODE_ENV: 'test',
    MAX_INFLIGHT_ORDERS: '4',
    MAX_INFLIGHT_ORDERS_PER_ACCOUNT: '2',
  });
  const refusal = (claim: () => unknown) => {
    try {
      claim();
    } catch (err) {
      return err as ApiError;
    }
    return undefined;
  };

  it("refuses an account's third placement with a 429 and Retry-After while another account is admitted", () => {
    const metrics = createApiMetrics('admission-account-test');
    const admission = createAdmission({ config, metrics });
    admission.enter('A');
    admission.enter('A');
    const third = refusal(() => admission.enter('A'));
    expect(third).toBeInstanceOf(ApiError);
    expect(third).toMatchObject({ code: 'too_many_requests', headers: { 'retry-after': '1' } });
    expect(refusal(() => admission.enter('B'))).toBeUndefined();
    expect(refusal(() => admission.enter('B'))).toBeUndefined();
    // The instance's 4 slots are taken now: anyone is shed, as overload.
    expect(refusal(() => admission.enter('C'))).toMatchObject({ code: 'too_many_requests' });
    admission.leave('A');
    expect(refusal(() => admission.enter('A'))).toBeUndefined(); // A's slot came back
  });

  it('counts a refusal for the share as shed_account, an overload as shed', async () => {
    const metrics = createApiMetrics('admission-account-metrics');
    const admission = createAdmission({ config, metrics });
    admission.enter('A');
    admission.enter('A');
    refusal(() => admission.enter('A'));
    admission.enter('B');
    admission.enter('B');
    refusal(() => admission.enter('C'));
    const placed: Record<string, number> = {};
    for (const v of (await metrics.ordersPlaced.get()).values) placed[String(v.labels.result)] = v.value;
    expect(placed).toEqual({ shed_account: 1, shed: 1 });
  });

  it("bounds an account's replaces and cancels in slots of their own: placements in flight do not refuse them", async () => {
    const admission = createAdmission({ config, metrics: createApiMetrics('admission-modify-test') });
    admission.enter('A');
    admission.enter('A'); // A's placements are all in flight
    const release: (() => void)[] = [];
    const held = () =>
      admission.modifying('A', () => new Promise<string>((resolve) => release.push(() => resolve('done'))));
    const first = held();
    const second = held();
    await expect(admission.modifying('A', async () => 'third')).rejects.toMatchObject({
      code: 'too_many_requests',
      headers: { 'retry-after': '1' },
    });
    await expect(admission.modifying('B', async () => 'other account')).resolves.toBe('other account');
    release.shift()!();
    await expect(first).resolves.toBe('done');
    await expect(admission.modifying('A', async () => 'a slot again')).resolves.toBe('a slot again');
    release.shift()!();
    await expect(second).resolves.toBe('done');
  });

  it('frees a modification slot when the modification fails', async () => {
    const small = loadConfig({ NODE_ENV: 'test', MAX_INFLIGHT_ORDERS_PER_ACCOUNT: '1' });
    const admission = createAdmission({ config: small, metrics: createApiMetrics('admission-modify-fail') });
    await expect(admission.modifying('A', () => Promise.reject(new Error('refused')))).rejects.toThrow(
      'refused',
    );
    await expect(admission.modifying('A', async () => 'ok')).resolves.toBe('ok');
  });

  it('is MAX_INFLIGHT_ORDERS_PER_ACCOUNT: 8 by default, at most MAX_INFLIGHT_ORDERS', () => {
    expect(loadConfig({}).MAX_INFLIGHT_ORDERS_PER_ACCOUNT).toBe(8);
    // Unset, it follows a smaller instance limit down; set above it, the configuration is refused.
    expect(loadConfig({ MAX_INFLIGHT_ORDERS: '2' }).MAX_INFLIGHT_ORDERS_PER_ACCOUNT).toBe(2);
    expect(() => loadConfig({ MAX_INFLIGHT_ORDERS: '4', MAX_INFLIGHT_ORDERS_PER_ACCOUNT: '5' })).toThrow(
      ConfigError,
    );
    for (const bad of ['0', '1.5', 'x'])
      expect(() => loadConfig({ MAX_INFLIGHT_ORDERS_PER_ACCOUNT: bad })).toThrow(ConfigError);
  });
});
