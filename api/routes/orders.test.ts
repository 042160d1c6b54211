/**
 * Order placement input, answered before any I/O: the test app's database, Temporal client and mailer
 * fail when touched (test/unit-app.ts), so no saga starts and nothing is reserved or written.
 * Placement through the saga is covered by orders.int.test.ts.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { orderView } from '../../db/queries/orders.js';
import { expectProblem } from '../../test/http.js';
import { createUnitApp, type UnitApp } from '../../test/unit-app.js';
import { orderJson } from './orders.js';

let api: UnitApp;
beforeAll(async () => (api = await createUnitApp()));
afterEach(() => expect(api.touched).toEqual([]));

const limit = (quantity: unknown, price: unknown, extra: Record<string, unknown> = {}) => ({
  symbol: 'AAPL',
  order_type: 'limit',
  direction: 'buy',
  quantity,
  price,
  time_in_force: 'GTC',
  ...extra,
});

describe('POST /api/v1/orders: bad input is a 400/422 problem before any saga starts', () => {
  const cases: [string, unknown, number, string | undefined][] = [
    ['no order', {}, 400, undefined],
    ['order is not an object', { order: 'x' }, 400, undefined],
    [
      'three decimals in the price',
      { order: limit(1, '150.001') },
      422,
      'order.price: must have at most 2 decimals',
    ],
    [
      'fractional shares',
      { order: limit(1.5, 150) },
      422,
      'order.quantity: must have at most 0 decimals (whole shares)',
    ],
    ['negative quantity', { order: limit(-1, 150) }, 422, 'order.quantity: must be positive'],
    ['an extra field', { order: limit(1, 150, { extra: 1 }) }, 422, undefined],
    [
      'a market order with a price',
      { order: { symbol: 'AAPL', order_type: 'market', direction: 'buy', quantity: 1, price: 150 } },
      422,
      'order.price: must be omitted for market orders',
    ],
    [
      'a limit order without a price',
      { order: { symbol: 'AAPL', order_type: 'limit', direction: 'buy', quantity: 1 } },
      422,
      'order.price: is required for limit orders',
    ],
    ['an unknown time in force', { order: limit(1, 150, { time_in_force: 'FOREVER' }) }, 422, undefined],
  ];
  it.each(cases)('%s', async (_name, body, status, error) => {
    const p = await expectProblem(
      await api.call('POST', '/api/v1/orders', { token: api.token, body }),
      status,
      status === 400 ? 'bad_request' : 'validation_failed',
    );
    if (error) expect(p.errors).toContain(error);
  });

  it('malformed JSON is a 400', async () => {
    const res = await api.call('POST', '/api/v1/orders', {
      token: api.token,
      raw: '{"order":',
      headers: { 'content-type': 'application/json' },
    });
    await expectProblem(res, 400, 'bad_request');
  });

  it('a valid order gets past validation: the next thing it does is start the saga (the fake Temporal client refuses)', async () => {
    const res = await api.call('POST', '/api/v1/orders', {
      token: api.token,
      body: { order: limit(1, '150.25') },
    });
    expect(res.status).toBe(500);
    expect(api.touched).toEqual(['temporal.workflow']);
    api.touched.length = 0;
  });

  it('no token is a 401, whatever the body', async () => {
    await expectProblem(
      await api.call('POST', '/api/v1/orders', { body: { order: limit(1, 150) } }),
      401,
      'unauthorized',
    );
  });
});

const cursor = (text: string) => Buffer.from(text).toString('base64url');
const uuid = '00000000-0000-4000-8000-000000000000';

describe('GET /api/v1/orders: a bad cursor is a 422 problem before any query', () => {
  const cases: [string, string][] = [
    ['garbage', 'garbage'],
    ['36 dashes for an id', cursor(`2026-03-02T14:30:00.000Z|${'-'.repeat(36)}`)],
    ['36 dashes for an id (microseconds)', cursor(`1772461800000000|${'-'.repeat(36)}`)],
    ['an id of the right length that is not a uuid', cursor(`2026-03-02T14:30:00.000Z|${'0'.repeat(36)}`)],
    ['an ISO date-time in a negative year', cursor(`-000001-01-01T00:00:00.000Z|${uuid}`)],
    ['an ISO date-time in year 0', cursor(`0000-06-01T00:00:00.000Z|${uuid}`)],
    ['an ISO date-time past year 9999', cursor(`+010000-01-01T00:00:00.000Z|${uuid}`)],
    ['microseconds past year 9999', cursor(`253402300800000000|${uuid}`)],
    ['extra parts', cursor(`1772461800000000|${uuid}|x`)],
  ];
  it.each(cases)('%s', async (_name, c) => {
    const p = await expectProblem(
      await api.call('GET', `/api/v1/orders?cursor=${c}`, { token: api.token }),
      422,
      'validation_failed',
    );
    expect(p.errors).toEqual(['cursor: is invalid']);
  });

  it('a valid cursor (either format) gets past validation: the next thing is the query', async () => {
    for (const c of [cursor(`1772461800000123|${uuid}`), cursor(`2026-03-02T14:30:00.000Z|${uuid}`)]) {
      expect((await api.call('GET', `/api/v1/orders?cursor=${c}`, { token: api.token })).status).toBe(500);
      expect(api.touched).toEqual(['database.db.select (not the signing keys or the session check)']);
      api.touched.length = 0;
    }
  });
});

describe('POST /api/v1/orders/{id}/replace: bad input is a 422 problem before any saga is asked', () => {
  it('refuses a quantity and price over the order-value cap, as placement does', async () => {
    const p = await expectProblem(
      await api.call('POST', `/api/v1/orders/${uuid}/replace`, {
        token: api.token,
        body: { order: { client_version: 0, quantity: 1_000_000_000, price: '1000000.00' } },
      }),
      422,
      'validation_failed',
    );
    expect(p.errors).toEqual(['order.price: quantity x price must be at most 10000000000 (USD)']);
  });
});

describe('an order as the API answers it (orderJson)', () => {
  /** A buy of 3 with `filledQuantity` shares filled for `filledNotional` cents. */
  const filled = (filledQuantity: string, filledNotional: string) =>
    orderJson(
      orderView({
        id: '0b6f6d1e-6c1d-4a35-9f0e-2f6a1c9d7e42',
        accountId: '5d0e7c1a-3b8f-4f7a-8f0c-9a2e6b1d4c33',
        clientOrderId: 'my-order-1',
        symbol: 'AAPL',
        side: 'buy',
        orderType: 'limit',
        timeInForce: 'DAY',
        selfTradePrevention: 'cancel_newest',
        status: 'partially_filled',
        quantity: '3',
        price: '10001',
        stopPrice: null,
        triggeredAt: null,
        filledQuantity,
        filledNotional,
        reservedAmount: '0',
        lockVersion: 0,
        rejectReason: null,
        requestFingerprint: null,
        createdAt: '2026-03-02T14:30:00.000Z',
        updatedAt: '2026-03-02T14:30:00.000Z',
      }),
    );

  it('average_price is the mean price of the fills rounded half-up to the cent, not truncated', () => {
    expect(filled('3', '30002').average_price).toBe(100.01); // 1 @ 100.00 + 2 @ 100.01: 100.0066...
    expect(filled('3', '30001').average_price).toBe(100); // 2 @ 100.00 + 1 @ 100.01: 100.0033...
    expect(filled('2', '3').average_price).toBe(0.02); // 1 @ 0.01 + 1 @ 0.02: 0.015, half up
    expect(filled('2', '20002').average_price).toBe(100.01); // exact
    expect(filled('0', '0').average_price).toBeNull();
  });
});
