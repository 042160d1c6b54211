/**
 * An order's life through HTTP: cancel-all (DELETE /api/v1/orders cancels every open order of the caller,
 * working, partially filled or an untriggered stop, each through its saga, optionally of one symbol, and
 * leaves other accounts' orders alone) and the timeline (GET /api/v1/orders/{id}/timeline) of filled,
 * replaced, cancelled and compensated orders. The sagas cancel-all cancelled join the replay corpus
 * (`npm run histories:record`).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepHistory } from '../../test/histories.js';
import { expectProblem } from '../../test/http.js';
import { startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';

let fx: TradingFixture;
beforeAll(async () => {
  fx = await startTradingFixture('lifecycle', {
    // Orders of TSLA meet a halt between persisting and submitting: the saga must compensate.
    wrapOrderActivities: (steps) => ({
      ...steps,
      async persistOrder(args) {
        await steps.persistOrder(args);
        if (args.order.symbol === 'TSLA')
          await fx.database.db.execute(sql`UPDATE instruments SET status = 'halted' WHERE symbol = 'TSLA'`);
      },
    }),
  });
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

type Order = {
  order_id: string;
  client_order_id: string;
  status: string;
  filled_quantity: number;
  symbol: string;
};
type CancelAll = { cancelled: Order[]; failed: { order_id: string; code: string; message: string }[] };

async function place(u: FundedTestUser, order: Record<string, unknown>): Promise<Order> {
  const res = await fx.api.call('POST', '/api/v1/orders', {
    token: u.token,
    body: { order: { order_type: 'limit', time_in_force: 'GTC', ...order } },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Order;
}
const cancelAll = (u: FundedTestUser, query = '') =>
  fx.api.call('DELETE', `/api/v1/orders${query}`, { token: u.token });

describe('DELETE /api/v1/orders', () => {
  it('cancels open, partially filled and untriggered stop orders of one symbol, then the rest, then finds nothing', async () => {
    const buyer = await createFundedUser(fx.api, '10000.00');
    const seller = await createFundedUser(fx.api, '0.00', { AAPL: 10n });
    const a = await place(buyer, { symbol: 'AAPL', direction: 'buy', quantity: 10, price: '160.00' });
    const b = await place(buyer, { symbol: 'AAPL', direction: 'buy', quantity: 5, price: '161.00' });
    const m = await place(buyer, { symbol: 'MSFT', direction: 'buy', quantity: 3, price: '400.00' });
    // The seller fills 2 of b (best price first) and rests an order of its own that must survive.
    await place(seller, {
      symbol: 'AAPL',
      direction: 'sell',
      quantity: 2,
      price: '161.00',
      time_in_force: 'IOC',
    });
    const theirs = await place(seller, { symbol: 'AAPL', direction: 'sell', quantity: 1, price: '170.00' });
    const partial = await fx.api.call('GET', `/api/v1/orders/${b.order_id}`, { token: buyer.token });
    expect(await partial.json()).toMatchObject({ status: 'partially_filled', filled_quantity: 2 });
    // A buy stop above the last trade (161.00) waits for its trigger.
    const s = await place(buyer, {
      symbol: 'AAPL',
      order_type: 'stop',
      direction: 'buy',
      quantity: 1,
      stop_price: '200.00',
    });
    expect(s.status).toBe('pending_trigger');

    const res = await cancelAll(buyer, '?symbol=aapl');
    expect(res.status).toBe(200);
    const first = (await res.json()) as CancelAll;
    expect(first.failed).toEqual([]);
    expect(first.cancelled.map((o) => o.order_id).sort()).toEqual(
      [a.order_id, b.order_id, s.order_id].sort(),
    );
    expect(first.cancelled.find((o) => o.order_id === b.order_id)).toMatchObject({
      status: 'cancelled',
      filled_quantity: 2,
    });
    expect(first.cancelled.every((o) => o.status === 'cancelled')).toBe(true);
    const msft = await fx.api.call('GET', `/api/v1/orders/${m.order_id}`, { token: buyer.token });
    expect(await msft.json()).toMatchObject({ status: 'working' });

    const second = (await (await cancelAll(buyer)).json()) as CancelAll;
    expect(second).toMatchObject({ failed: [], cancelled: [{ order_id: m.order_id, status: 'cancelled' }] });
    expect(await (await cancelAll(buyer)).json()).toMatchObject({ cancelled: [], failed: [] });

    // Nothing of the buyer is reserved any more; the seller's resting order is untouched.
    expect((await fx.balance(buyer.accountId)).reserved).toBe(0n);
    const sellers = await fx.api.call('GET', `/api/v1/orders/${theirs.order_id}`, { token: seller.token });
    expect(await sellers.json()).toMatchObject({ status: 'working' });
    // Each saga ended cancelled; theirs are the cancel-all paths of the replay corpus.
    for (const [name, o] of [
      ['cancel-all', a],
      ['cancel-all-partial', b],
      ['cancel-all-stop', s],
    ] as const) {
      const handle = fx.handle(buyer.accountId, o.client_order_id);
      expect(await handle.result(), name).toMatchObject({ status: 'cancelled' });
      keepHistory(name, handle);
    }
  });

  it('an account with nothing open gets empty lists', async () => {
    const u = await createFundedUser(fx.api, '0.00');
    const res = await cancelAll(u);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, cancelled: [], failed: [] });
  });

  it('refuses without a token (401) and a malformed symbol (422)', async () => {
    expect((await fx.api.call('DELETE', '/api/v1/orders')).status).toBe(401);
    const u = await createFundedUser(fx.api, '0.00');
    const res = await cancelAll(u, '?symbol=not%20a%20symbol');
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe('GET /api/v1/orders/{id}/timeline', () => {
  type Event = { at: string; type: string } & Record<string, unknown>;
  /** Every order that reached the book starts so. */
  const ARRIVED = ['received', 'validated', 'funds_reserved', 'submitted', 'accepted'];
  const timeline = async (u: FundedTestUser, id: string) => {
    const res = await fx.api.call('GET', `/api/v1/orders/${id}/timeline`, { token: u.token });
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { order_id: string; events: Event[] };
    expect(body.order_id).toBe(id);
    const times = body.events.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b)); // oldest first
    return body.events;
  };

  it('a filled order: received, validated, funds reserved, submitted, accepted, then each fill', async () => {
    const buyer = await createFundedUser(fx.api, '10000.00');
    const seller = await createFundedUser(fx.api, '0.00', { AMZN: 3n });
    const o = await place(buyer, { symbol: 'AMZN', direction: 'buy', quantity: 3, price: '180.00' });
    await place(seller, { symbol: 'AMZN', direction: 'sell', quantity: 1, price: '180.00' });
    await place(seller, { symbol: 'AMZN', direction: 'sell', quantity: 2, price: '180.00' });
    const events = await timeline(buyer, o.order_id);
    expect(events.map((e) => e.type)).toEqual([...ARRIVED, 'fill', 'fill']);
    expect(events[0]).toMatchObject({ symbol: 'AMZN', direction: 'buy', quantity: '3', price: '180.00' });
    expect(events[2]).toMatchObject({ asset: 'USD', amount: '540.00' });
    expect(events[5]).toMatchObject({
      quantity: '1',
      price: '180.00',
      filled_quantity: '1',
      status: 'partially_filled',
    });
    expect(events[6]).toMatchObject({
      quantity: '2',
      price: '180.00',
      filled_quantity: '3',
      status: 'filled',
    });
    // The documented example is such a timeline: the same steps, each with the same fields of the same types.
    type Media = { content: Record<string, { example: { events: Event[] } }> };
    type Doc = { paths: Record<string, { get: { responses: Record<string, Media> } }> };
    const doc = (await (await fx.api.call('GET', '/openapi.json')).json()) as Doc;
    const ok = doc.paths['/api/v1/orders/{id}/timeline']!.get.responses['200']!;
    const example = ok.content['application/json']!.example;
    const shape = (e: Event | undefined) =>
      Object.entries(e ?? {})
        .map(([k, v]) => `${k}: ${v === null ? 'null' : typeof v}`)
        .sort();
    expect(example.events.map(shape)).toEqual(
      example.events.map((documented) => shape(events.find((e) => e.type === documented.type))),
    );
    expect(example.events.map((e) => e.type)).toEqual([...ARRIVED, 'fill']);
    // Customer-visible only: nothing internal (workflow ids, request ids, other accounts).
    expect(JSON.stringify(events)).not.toMatch(/workflow|request_id|account/);
    // Another account's order: 403, like the order itself.
    expect(
      (await fx.api.call('GET', `/api/v1/orders/${o.order_id}/timeline`, { token: seller.token })).status,
    ).toBe(403);
  });

  it('a replaced then cancelled order', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    const o = await place(u, { symbol: 'AMZN', direction: 'buy', quantity: 2, price: '170.00' });
    const r = await fx.api.call('POST', `/api/v1/orders/${o.order_id}/replace`, {
      token: u.token,
      body: { order: { client_version: 0, price: '171.00' } },
    });
    expect(r.status).toBe(200);
    expect((await fx.api.call('DELETE', `/api/v1/orders/${o.order_id}`, { token: u.token })).status).toBe(
      200,
    );
    const events = await timeline(u, o.order_id);
    expect(events.map((e) => e.type)).toEqual([...ARRIVED, 'replaced', 'cancel_requested', 'cancelled']);
    expect(events[5]).toMatchObject({ price: '171.00', quantity: '2', lock_version: 1 });
    // A stop price only for stop and stop-limit orders (stop-orders.int.test.ts).
    expect(events[0]).not.toHaveProperty('stop_price');
    expect(events[5]).not.toHaveProperty('stop_price');
  });

  it('a compensated order: rejected at submission after its funds were reserved, the reservation given back', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    try {
      const res = await fx.api.call('POST', '/api/v1/orders', {
        token: u.token,
        body: {
          order: { symbol: 'TSLA', order_type: 'limit', direction: 'buy', quantity: 1, price: '250.00' },
        },
      });
      const problem = await expectProblem(res, 422, 'symbol_halted');
      const events = await timeline(u, problem.order_id as string);
      expect(events.map((e) => e.type)).toEqual([
        'received',
        'validated',
        'funds_reserved',
        'rejected',
        'compensated',
      ]);
      expect(events[4]).toMatchObject({ reason: 'Trading in TSLA is halted' });
      expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
    } finally {
      await fx.database.db.execute(sql`UPDATE instruments SET status = 'trading' WHERE symbol = 'TSLA'`);
    }
  });

  it("is the owner's only: 403 for another account, 404 for an unknown order, 401 without a token", async () => {
    const owner = await createFundedUser(fx.api, '10000.00');
    const other = await createFundedUser(fx.api, '0.00');
    const o = await place(owner, { symbol: 'AMZN', direction: 'buy', quantity: 1, price: '160.00' });
    await expectProblem(
      await fx.api.call('GET', `/api/v1/orders/${o.order_id}/timeline`, { token: other.token }),
      403,
    );
    await expectProblem(
      await fx.api.call('GET', '/api/v1/orders/00000000-0000-4000-8000-000000000000/timeline', {
        token: owner.token,
      }),
      404,
    );
    await expectProblem(await fx.api.call('GET', `/api/v1/orders/${o.order_id}/timeline`), 401);
    await fx.api.call('DELETE', `/api/v1/orders/${o.order_id}`, { token: owner.token });
  });
});
