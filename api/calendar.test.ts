/**
 * The end of the trading calendar's data (lib/sessions.ts, the NYSE calendar by default) through the api,
 * with an injected clock: the clock answers through the last session, and past it the clock, placements
 * and a replace to DAY are 503 calendar_unavailable before any I/O (test/unit-app.ts: the database and
 * Temporal fail when touched, so nothing is reserved, written or started).
 */
import { describe, expect, it } from 'vitest';
import { expectProblem } from '../test/http.js';
import { createUnitApp, type UnitApp } from '../test/unit-app.js';
import { openApiDocument } from './document.js';

/** The NYSE data ends with the session of Friday 2028-12-29 (16:00 New York, 21:00 UTC). */
const LAST_SESSION = new Date('2028-12-29T15:00:00Z');
const PAST_DATA = new Date('2028-12-29T21:00:00Z');

const appAt = (t: Date) => createUnitApp({ now: () => t });

async function expectCalendarUnavailable(res: Response) {
  const p = await expectProblem(res, 503, 'calendar_unavailable');
  expect(res.headers.get('retry-after')).toBe('3600');
  expect(p.type).toBe('https://brokerx.dev/problems/calendar-unavailable');
  expect(p.detail).toContain('no data after 2028-12-31');
  expect(p.detail).toContain('until an operator extends');
}

const order = (extra: Record<string, unknown>) => ({
  order: { symbol: 'AAPL', direction: 'buy', quantity: 1, ...extra },
});

describe("the end of the trading calendar's data", () => {
  it("GET /api/v1/clock in 2027's last session names 2028's first open (New Year's Day not observed)", async () => {
    const api = await appAt(new Date('2027-12-31T15:00:00Z'));
    const res = await api.call('GET', '/api/v1/clock');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ is_open: true, next_open: '2028-01-03T14:30:00.000Z' });
  });

  it('GET /api/v1/clock in the last session answers what it knows: open, its close, no next open', async () => {
    const api = await appAt(LAST_SESSION);
    const res = await api.call('GET', '/api/v1/clock');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      timestamp: '2028-12-29T15:00:00.000Z',
      is_open: true,
      next_open: null,
      next_close: '2028-12-29T21:00:00.000Z',
    });
  });

  it('GET /api/v1/clock past it: 503 calendar_unavailable, declared in the OpenAPI document', async () => {
    const api = await appAt(PAST_DATA);
    await expectCalendarUnavailable(await api.call('GET', '/api/v1/clock'));
    const doc = openApiDocument() as unknown as {
      paths: Record<string, { get: { responses: Record<string, unknown> } }>;
    };
    expect(Object.keys(doc.paths['/api/v1/clock']!.get.responses)).toContain('503');
  });

  it.each([
    ['a GTC limit order', order({ order_type: 'limit', price: '150.00', time_in_force: 'GTC' })],
    ['a DAY limit order', order({ order_type: 'limit', price: '150.00', time_in_force: 'DAY' })],
    ['a GTC stop order', order({ order_type: 'stop', stop_price: '150.00', time_in_force: 'GTC' })],
    ['a market order', order({ order_type: 'market' })],
  ])('POST /api/v1/orders past it, %s: 503 calendar_unavailable, nothing touched', async (_name, body) => {
    const api: UnitApp = await appAt(PAST_DATA);
    await expectCalendarUnavailable(await api.call('POST', '/api/v1/orders', { token: api.token, body }));
    expect(api.touched).toEqual([]);
  });

  it('a replace to DAY past it: 503 calendar_unavailable, nothing touched (with an Idempotency-Key too)', async () => {
    const api = await appAt(PAST_DATA);
    const path = '/api/v1/orders/0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42/replace';
    const body = { order: { client_version: 0, time_in_force: 'DAY' } };
    await expectCalendarUnavailable(await api.call('POST', path, { token: api.token, body }));
    const headers = { 'idempotency-key': 'calendar-1' };
    await expectCalendarUnavailable(await api.call('POST', path, { token: api.token, body, headers }));
    expect(api.touched).toEqual([]);
  });
});
