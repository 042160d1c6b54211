/**
 * An account's share of the admission (api/admission.ts, ADR 0045) through the real api and TradingSaga:
 * placements beyond MAX_INFLIGHT_ORDERS_PER_ACCOUNT of one account are a 429 while other accounts are
 * admitted, and so are its replaces and cancels beyond their own slots, which placements do not take.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../test/http.js';
import { restingBuy, startTradingFixture, type TradingFixture } from '../test/trading.js';
import { createFundedUser } from '../test/users.js';

let fx: TradingFixture;

beforeAll(async () => {
  // 16 slots for the instance, 2 for an account: the 14 placements sent at once below never reach the
  // instance's limit, only the account's.
  fx = await startTradingFixture('admission', {
    env: { MAX_INFLIGHT_ORDERS: '16', MAX_INFLIGHT_ORDERS_PER_ACCOUNT: '2', ORDER_ACK_TIMEOUT_MS: '50000' },
  });
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

const buy = { symbol: 'AAPL', order_type: 'limit', direction: 'buy', quantity: 1, price: '160.00' };
const place = (token: string) => fx.api.call('POST', '/api/v1/orders', { token, body: { order: buy } });

/** Every answer is one of `ok` or a 429 problem with a Retry-After of 1 s or more; returns the 429s. */
async function refused(answers: Response[], ok: number): Promise<Response[]> {
  expect(answers.map((r) => r.status).filter((s) => s !== ok && s !== 429)).toEqual([]);
  const tooMany = answers.filter((r) => r.status === 429);
  for (const r of tooMany) {
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await expectProblem(r.clone(), 429, 'too_many_requests');
  }
  return tooMany;
}

const counted = async (result: string) =>
  (await fx.api.deps.metrics.ordersPlaced.get()).values
    .filter((v) => v.labels.result === result)
    .reduce((n, v) => n + v.value, 0);

describe('per-account admission', () => {
  it("sheds an account's placements beyond its share with 429 and Retry-After; another account is admitted", async () => {
    const [a, b] = await Promise.all([
      createFundedUser(fx.api, '10000.00'),
      createFundedUser(fx.api, '10000.00'),
    ]);
    const shedBefore = await counted('shed');
    const [fromA, fromB] = await Promise.all([
      Promise.all(Array.from({ length: 12 }, () => place(a.token))),
      Promise.all(Array.from({ length: 2 }, () => place(b.token))),
    ]);
    const shed = await refused(fromA, 201);
    expect(shed.length).toBeGreaterThan(0);
    expect(fromB.map((r) => r.status)).toEqual([201, 201]);
    // Counted apart from an overload's sheds (orders_placed_total{result="shed"} keeps that meaning).
    expect(await counted('shed_account')).toBe(shed.length);
    expect(await counted('shed')).toBe(shedBefore);
    // Only the admitted orders reserved anything.
    expect((await fx.balance(a.accountId)).reserved).toBe(BigInt(12 - shed.length) * 16_000n);
    expect((await fx.balance(b.accountId)).reserved).toBe(2n * 16_000n);
  });

  it("bounds an account's replaces and cancels in flight with 429 and Retry-After, and a retry goes through", async () => {
    const a = await createFundedUser(fx.api, '10000.00');
    const orders = [];
    for (let i = 0; i < 6; i++) orders.push(await restingBuy(fx.api, a.token, 'replace'));
    const replace = (id: string) =>
      fx.api.call('POST', `/api/v1/orders/${id}/replace`, {
        token: a.token,
        body: { order: { client_version: 0, price: '184.00' } },
      });
    const answers = await Promise.all(orders.map((o) => replace(o.id)));
    const tooMany = await refused(answers, 200);
    expect(tooMany.length).toBeGreaterThan(0);
    // A refused replace changed nothing: sent again, one at a time, it is applied.
    for (const [i, r] of answers.entries())
      if (r.status === 429) expect((await replace(orders[i]!.id)).status).toBe(200);
    for (const o of orders) {
      const got = (await (await fx.api.call('GET', `/api/v1/orders/${o.id}`, { token: a.token })).json()) as {
        price: number;
        lock_version: number;
      };
      expect(got).toMatchObject({ price: 184, lock_version: 1 });
    }

    // Cancel-all counts as one cancel: several at once are bounded the same way.
    const all = await Promise.all(
      Array.from({ length: 4 }, () => fx.api.call('DELETE', '/api/v1/orders', { token: a.token })),
    );
    expect((await refused(all, 200)).length).toBeGreaterThan(0);
    expect((await fx.api.call('DELETE', '/api/v1/orders', { token: a.token })).status).toBe(200);
    expect(await fx.balance(a.accountId)).toMatchObject({ reserved: 0n });
  });

  it("never refuses a cancel because the account's placements are in flight", async () => {
    const a = await createFundedUser(fx.api, '10000.00');
    const resting = await restingBuy(fx.api, a.token, 'cancel');
    // Two placements take the account's whole share of placements while the cancel is sent.
    const [placed, cancel] = await Promise.all([
      Promise.all([place(a.token), place(a.token)]),
      fx.api.call('DELETE', `/api/v1/orders/${resting.id}`, { token: a.token }),
    ]);
    expect(placed.map((r) => r.status)).toEqual([201, 201]);
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toMatchObject({ status: 'cancelled' });
  });
});
