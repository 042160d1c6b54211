/**
 * Placement options through the api, the TradingSaga and a matching shard: self-trade prevention per
 * order (`self_trade_prevention`: one account's buy rests, then the same account sends a crossing
 * sell), and a reused `client_order_id` with another order (422 client_order_id_conflict).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../../test/helpers.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';

let fx: TradingFixture;
let api: TestApi;

beforeAll(async () => {
  fx = await startTradingFixture('order-options');
  api = fx.api;
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

type Json = Record<string, unknown> & { errors?: string[] };
const body = async (res: Response) => (await res.json()) as Json;

const order = (direction: 'buy' | 'sell', extra: Record<string, unknown> = {}) => ({
  symbol: 'MSFT',
  order_type: 'limit',
  direction,
  quantity: 2,
  price: '420.00',
  time_in_force: 'GTC',
  ...extra,
});
const place = (u: FundedTestUser, o: Record<string, unknown>) =>
  api.call('POST', '/api/v1/orders', { token: u.token, body: { order: o } });
/** Tests share the book: an order a test leaves resting is cancelled at its end. */
async function cancel(u: FundedTestUser, id: unknown) {
  const res = await api.call('DELETE', `/api/v1/orders/${String(id)}`, { token: u.token });
  expect(res.status).toBe(200);
  expect(await body(res)).toMatchObject({ status: 'cancelled' });
}
const get = async (u: FundedTestUser, id: unknown) =>
  body(await api.call('GET', `/api/v1/orders/${String(id)}`, { token: u.token }));

/** A user with a resting buy of 2 MSFT at 420 and 2 MSFT to sell. */
async function restingBuy(): Promise<{ u: FundedTestUser; buy: Json }> {
  const u = await createFundedUser(api, '1000.00', { MSFT: 2n });
  const res = await place(u, order('buy'));
  expect(res.status).toBe(201);
  const buy = await body(res);
  expect(buy).toMatchObject({ status: 'working', self_trade_prevention: 'cancel_newest' });
  return { u, buy };
}

describe('self_trade_prevention', () => {
  it('cancel_newest (the default) cancels the incoming order and leaves the resting one', async () => {
    const { u, buy } = await restingBuy();
    const sell = await body(await place(u, order('sell')));
    expect(sell).toMatchObject({
      status: 'cancelled',
      self_trade_prevention: 'cancel_newest',
      filled_quantity: 0,
    });
    expect(await get(u, buy.order_id)).toMatchObject({ status: 'working', filled_quantity: 0 });
    expect(await fx.balance(u.accountId, 'MSFT')).toEqual({ available: 2n, reserved: 0n });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n - 84_000n, reserved: 84_000n });
    await cancel(u, buy.order_id);
  });

  it('cancel_oldest cancels the resting order (its reservation released) and the incoming one rests', async () => {
    const { u, buy } = await restingBuy();
    const sell = await body(await place(u, order('sell', { self_trade_prevention: 'cancel_oldest' })));
    expect(sell).toMatchObject({
      status: 'working',
      self_trade_prevention: 'cancel_oldest',
      filled_quantity: 0,
    });
    expect(await get(u, sell.order_id)).toMatchObject({
      status: 'working',
      self_trade_prevention: 'cancel_oldest',
    });
    await eventually(async () => expect(await get(u, buy.order_id)).toMatchObject({ status: 'cancelled' }));
    // The buy's saga hears of it like of any cancel by the shard, with its reservation given back.
    await eventually(async () =>
      expect(await fx.saga(u.accountId, buy.client_order_id as string)).toMatchObject({
        status: 'cancelled',
        reservedAmount: '0',
      }),
    );
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
    expect(await fx.balance(u.accountId, 'MSFT')).toEqual({ available: 0n, reserved: 2n });
    await cancel(u, sell.order_id);
  });

  it('cancel_both cancels both orders', async () => {
    const { u, buy } = await restingBuy();
    const sell = await body(await place(u, order('sell', { self_trade_prevention: 'cancel_both' })));
    expect(sell).toMatchObject({ status: 'cancelled', self_trade_prevention: 'cancel_both' });
    await eventually(async () => expect(await get(u, buy.order_id)).toMatchObject({ status: 'cancelled' }));
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
    expect(await fx.balance(u.accountId, 'MSFT')).toEqual({ available: 2n, reserved: 0n });
  });

  it('orders of other accounts trade whatever the mode', async () => {
    const { u, buy } = await restingBuy();
    const other = await createFundedUser(api, '0.00', { MSFT: 2n });
    const sell = await body(await place(other, order('sell', { self_trade_prevention: 'cancel_both' })));
    expect(sell).toMatchObject({ status: 'filled', filled_quantity: 2 });
    await eventually(async () => expect(await get(u, buy.order_id)).toMatchObject({ status: 'filled' }));
  });

  it('an unknown mode is a 422 problem and places nothing', async () => {
    const u = await createFundedUser(api, '1000.00');
    for (const mode of ['none', 'cancel_all', '', 3]) {
      const res = await place(u, order('buy', { self_trade_prevention: mode }));
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      expect(await body(res)).toMatchObject({ code: 'validation_failed' });
    }
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
  });
});

describe('client_order_id reused', () => {
  it('with the same order answers the first order again; with another order 422 naming the first', async () => {
    const u = await createFundedUser(api, '2000.00');
    const first = order('buy', { price: '400.00', client_order_id: 'conflict-1' });
    const placed = await place(u, first);
    expect(placed.status).toBe(201);
    const o = await body(placed);

    const again = await place(u, first);
    expect(again.status).toBe(200);
    expect(await body(again)).toMatchObject({ order_id: o.order_id });

    // The defaults count as chosen: an explicit default is the same order.
    const explicit = await place(u, { ...first, self_trade_prevention: 'cancel_newest' });
    expect(explicit.status).toBe(200);

    for (const other of [
      { quantity: 3 },
      { price: '401.00' },
      { time_in_force: 'DAY' },
      { self_trade_prevention: 'cancel_both' },
    ]) {
      const res = await place(u, { ...first, ...other });
      expect(res.status, JSON.stringify(other)).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
      const p = await body(res);
      expect(p).toMatchObject({
        code: 'client_order_id_conflict',
        order_id: o.order_id,
        client_order_id: 'conflict-1',
      });
      expect(p.message).toContain(o.order_id as string);
    }
    // Nothing more reserved than the first order.
    expect(await fx.balance(u.accountId)).toEqual({ available: 200_000n - 80_000n, reserved: 80_000n });
    await cancel(u, o.order_id);
  });

  it('is compared with the first request, not with the order a replace changed', async () => {
    const u = await createFundedUser(api, '2000.00');
    const first = order('buy', { price: '400.00', client_order_id: 'conflict-2' });
    const o = await body(await place(u, first));
    const replaced = await api.call('POST', `/api/v1/orders/${String(o.order_id)}/replace`, {
      token: u.token,
      body: { order: { client_version: 0, quantity: 3 } },
    });
    expect(replaced.status).toBe(200);
    expect(await body(replaced)).toMatchObject({ quantity: 3 });
    // The first request again: the same order (now of 3).
    const again = await place(u, first);
    expect(again.status).toBe(200);
    expect(await body(again)).toMatchObject({ order_id: o.order_id, quantity: 3 });
    // The replaced shape as a new placement is another order than the first request.
    const res = await place(u, { ...first, quantity: 3 });
    expect(res.status).toBe(422);
    expect(await body(res)).toMatchObject({ code: 'client_order_id_conflict', order_id: o.order_id });
    await cancel(u, o.order_id);
  });
});
