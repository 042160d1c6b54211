/**
 * Orders through the real TradingSaga: the api, the trading worker, a matching shard and the outbox
 * relay against the run's Temporal dev server, Postgres and Redis (isolated database per file).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../../test/helpers.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser } from '../../test/users.js';
import { closingCalendar } from '../../test/sessions.js';
import { keepHistory } from '../../test/histories.js';
import { EXTERNAL_ACCOUNT_ID } from '../../db/accounts.js';
import { postEntry } from '../../db/queries/ledger.js';
import { AccountIdKey, OrderIdKey, OrderStatusKey, SymbolKey } from '../../temporal/search-attributes.js';

let fx: TradingFixture;
let api: TestApi;

beforeAll(async () => {
  // Admission control is tested on its own below; here 200 concurrent placements must all reach the saga and be
  // answered by it, even on a machine busy with the rest of the suite (the 15 s ACK timeout is the product's).
  // They are one account's: its share (api/admission.test.ts, api/admission.int.test.ts) is all of them.
  fx = await startTradingFixture('orders', {
    env: {
      MAX_INFLIGHT_ORDERS: '400',
      MAX_INFLIGHT_ORDERS_PER_ACCOUNT: '400',
      ORDER_ACK_TIMEOUT_MS: '50000',
    },
  });
  api = fx.api;
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  // Every saga still running waits on a live order: none is stuck on anything else. The list is read
  // from visibility, which can lag a saga that just completed: each one is asked for its own status.
  const running: string[] = [];
  for await (const wf of fx.temporal.workflow.list({
    query: `TaskQueue = '${fx.config.TASK_QUEUE_PREFIX}trading' AND ExecutionStatus = 'Running'`,
  })) {
    const orderId = wf.typedSearchAttributes.get(OrderIdKey);
    const { status } = await fx.temporal.workflow.getHandle(wf.workflowId, wf.runId).describe();
    if (orderId && status.name === 'RUNNING') running.push(orderId);
  }
  expect(running.length).toBeGreaterThan(0);
  const rows = await fx.database.db.execute<{ status: string }>(
    sql`SELECT status FROM orders WHERE id = ANY(${`{${running.join(',')}}`}::uuid[])`,
  );
  expect(rows).toHaveLength(running.length);
  expect(rows.filter((r) => r.status !== 'working' && r.status !== 'partially_filled')).toEqual([]);
  await fx.close();
});

type Json = Record<string, unknown> & { errors?: string[] };
const body = async (res: Response) => (await res.json()) as Json;

function place(token: string, order: Record<string, unknown>) {
  return api.call('POST', '/api/v1/orders', { token, body: { order } });
}
const limit = (
  direction: 'buy' | 'sell',
  quantity: number,
  price: string | number,
  extra: Record<string, unknown> = {},
) => ({
  symbol: 'AAPL',
  order_type: 'limit',
  direction,
  quantity,
  price,
  time_in_force: 'GTC',
  ...extra,
});

describe('placing', () => {
  it('a limit buy rests in the book, reserves quantity x price and answers 201 with the ACK', async () => {
    const u = await createFundedUser(api, '10000.00');
    const res = await place(u.token, limit('buy', 10, '160.25'));
    expect(res.status).toBe(201);
    const o = await body(res);
    expect(o).toMatchObject({
      success: true,
      status: 'working',
      lock_version: 0,
      reserved_amount: 1602.5,
      direction: 'buy',
      symbol: 'AAPL',
    });
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n - 160_250n, reserved: 160_250n });
    const saga = await fx.saga(u.accountId, o.client_order_id as string);
    expect(saga).toMatchObject({ status: 'working', phase: 'live', reservedAmount: '160250' });
  });

  it('the same client_order_id returns the same order and lock_version and reserves nothing twice', async () => {
    const u = await createFundedUser(api, '10000.00');
    const order = limit('buy', 5, 160, { client_order_id: 'my-order-1' });
    const first = await body(await place(u.token, order));
    const again = await place(u.token, order);
    expect(again.status).toBe(200);
    const second = await body(again);
    expect(second.order_id).toBe(first.order_id);
    expect(second.lock_version).toBe(first.lock_version);
    // Racing duplicates attach to the same saga too.
    const racing = await Promise.all(
      Array.from({ length: 5 }, () => place(u.token, { ...order, client_order_id: 'my-order-2' })),
    );
    const ids = new Set(await Promise.all(racing.map(async (r) => (await body(r)).order_id)));
    expect(ids.size).toBe(1);
    expect((await fx.balance(u.accountId)).reserved).toBe(2n * 5n * 16_000n);
  });

  it('without a client_order_id every request is a new order', async () => {
    const u = await createFundedUser(api, '10000.00');
    const a = await body(await place(u.token, limit('buy', 1, 160)));
    const b = await body(await place(u.token, limit('buy', 1, 160)));
    expect(a.order_id).not.toBe(b.order_id);
  });

  it('rejects insufficient funds with 422 and reserves nothing', async () => {
    const u = await createFundedUser(api, '100.00');
    const res = await place(u.token, limit('buy', 1, 190));
    expect(res.status).toBe(422);
    const p = await body(res);
    expect(p).toMatchObject({
      success: false,
      code: 'validation_failed',
      status: 422,
      order_status: 'rejected',
    });
    expect(p.errors).toContain('Insufficient funds');
    expect(await fx.balance(u.accountId)).toEqual({ available: 10_000n, reserved: 0n });
    keepHistory('reject-insufficient-funds', fx.handle(u.accountId, p.client_order_id as string));
  });

  it('rejects selling shares the account does not have (no short selling)', async () => {
    const u = await createFundedUser(api, '100.00');
    const res = await place(u.token, limit('sell', 1, 190));
    expect(res.status).toBe(422);
    expect((await body(res)).errors).toContain('Insufficient shares');
  });

  it('rejects an unknown symbol, a price outside the band, a bad tick and a quantity off the lot', async () => {
    const u = await createFundedUser(api, '100000.00');
    await fx.database.db.execute(sql`UPDATE instruments SET lot_size = 10 WHERE symbol = 'TSLA'`);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...limit('buy', 1, 10), symbol: 'NOPE' }, /unknown symbol/i],
      [limit('buy', 1, 500), /price.*band|between/i],
      [{ ...limit('buy', 5, 250), symbol: 'TSLA' }, /lot/i],
    ];
    for (const [order, why] of cases) {
      const res = await place(u.token, order);
      expect(res.status).toBe(422);
      expect((await body(res)).errors!.join(' ')).toMatch(why);
    }
    expect(await fx.balance(u.accountId)).toEqual({ available: 10_000_000n, reserved: 0n });
  });

  // Bad input (400/422 before any saga starts) is covered without Temporal in orders.test.ts.
});

describe('matching through the saga', () => {
  it('a buy and a sell cross at the maker price; both portfolios change and both sagas see the fill', async () => {
    const seller = await createFundedUser(api, '0.00', { AAPL: 10n });
    const buyer = await createFundedUser(api, '5000.00');
    const sell = await body(
      await place(seller.token, limit('sell', 10, '190.00', { client_order_id: 's1' })),
    );
    expect(sell.status).toBe('working');
    const buyRes = await place(buyer.token, limit('buy', 10, '191.50', { client_order_id: 'b1' }));
    expect(buyRes.status).toBe(201);
    const buy = await body(buyRes);
    expect(buy).toMatchObject({
      status: 'filled',
      filled_quantity: 10,
      average_price: 190,
      reserved_amount: 0,
    });
    // Price improvement (1.50 x 10) released to the buyer.
    expect(await fx.balance(buyer.accountId)).toEqual({ available: 500_000n - 190_000n, reserved: 0n });
    expect(await fx.balance(buyer.accountId, 'AAPL')).toEqual({ available: 10n, reserved: 0n });
    expect(await fx.balance(seller.accountId)).toEqual({ available: 190_000n, reserved: 0n });
    expect(await fx.balance(seller.accountId, 'AAPL')).toEqual({ available: 0n, reserved: 0n });
    const buySaga = await fx.saga(buyer.accountId, 'b1');
    expect(buySaga.fillIds).toHaveLength(1);
    // The maker learns of its fill through the outbox relay's signal, and its saga completes.
    const sellHandle = fx.handle(seller.accountId, 's1');
    const sellState = await eventually(async () => {
      const s = await sellHandle.result();
      expect(s.status).toBe('filled');
      return s;
    });
    expect(sellState.fillIds).toEqual(buySaga.fillIds);
    // The Web UI finds both sagas by their search attributes, kept current to the final status.
    const described = await fx.handle(buyer.accountId, 'b1').describe();
    expect(described.typedSearchAttributes.get(OrderStatusKey)).toBe('filled');
    expect(described.typedSearchAttributes.get(OrderIdKey)).toBe(buy.order_id);
    expect(described.typedSearchAttributes.get(AccountIdKey)).toBe(buyer.accountId);
    expect(described.typedSearchAttributes.get(SymbolKey)).toBe('AAPL');
    expect((await sellHandle.describe()).typedSearchAttributes.get(OrderStatusKey)).toBe('filled');
    // Saga metrics, as in BrokerX phase 3.
    const metrics = await fx.stack.registry.metrics();
    expect(metrics).toMatch(/saga_started_total(\{[^}]*\})? [1-9]/);
    expect(metrics).toMatch(/saga_completed_total\{[^}]*status="filled"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/saga_steps_total\{[^}]*step="reserveFunds"[^}]*status="ok"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/saga_steps_total\{[^}]*step="submitOrder"[^}]*status="ok"[^}]*\} [1-9]/);
    const ack = await (await fetch(`${api.metricsUrl}/metrics`)).text();
    expect(ack).toMatch(/order_ack_seconds_count\{[^}]*outcome="filled"[^}]*\} [1-9]/);
    keepHistory('fill', sellHandle);
    const order = await body(
      await api.call('GET', `/api/v1/orders/${sell.order_id as string}`, { token: seller.token }),
    );
    expect(order).toMatchObject({ status: 'filled', filled_quantity: 10, average_price: 190 });
  });

  it('partial fills leave the maker partially filled with exactly its leaves reserved', async () => {
    const seller = await createFundedUser(api, '0.00', { MSFT: 10n });
    const buyer = await createFundedUser(api, '5000.00');
    const sell = await body(await place(seller.token, limit('sell', 10, 420, { symbol: 'MSFT' })));
    const buy = await body(await place(buyer.token, limit('buy', 4, 420, { symbol: 'MSFT' })));
    expect(buy.status).toBe('filled');
    const maker = await eventually(async () => {
      const o = await body(
        await api.call('GET', `/api/v1/orders/${sell.order_id as string}`, { token: seller.token }),
      );
      expect(o.status).toBe('partially_filled');
      return o;
    });
    expect(maker).toMatchObject({ filled_quantity: 4, reserved_amount: 6 });
    expect(await fx.balance(seller.accountId, 'MSFT')).toEqual({ available: 0n, reserved: 6n });
    const saga = await eventually(async () => {
      const s = await fx.saga(seller.accountId, sell.client_order_id as string);
      expect(s.status).toBe('partially_filled');
      return s;
    });
    expect(saga.filledQuantity).toBe('4');
    keepHistory('partial-fill', fx.handle(seller.accountId, sell.client_order_id as string));
  });

  it('a market buy takes the book at the resting price and gives back the unused collar', async () => {
    const seller = await createFundedUser(api, '0.00', { AMZN: 3n });
    const buyer = await createFundedUser(api, '5000.00');
    await place(seller.token, limit('sell', 3, 185, { symbol: 'AMZN' }));
    const res = await place(buyer.token, {
      symbol: 'AMZN',
      order_type: 'market',
      direction: 'buy',
      quantity: 3,
    });
    expect(res.status).toBe(201);
    expect(await body(res)).toMatchObject({ status: 'filled', filled_quantity: 3, average_price: 185 });
    expect(await fx.balance(buyer.accountId)).toEqual({ available: 500_000n - 55_500n, reserved: 0n });
  });

  it('IOC and FOK without enough liquidity cancel their remainder and release it', async () => {
    const u = await createFundedUser(api, '5000.00');
    const ioc = await body(
      await place(u.token, limit('buy', 2, 160, { symbol: 'GOOG', time_in_force: 'IOC' })),
    );
    expect(ioc).toMatchObject({ status: 'cancelled', filled_quantity: 0, reserved_amount: 0 });
    const fok = await body(
      await place(u.token, limit('buy', 2, 160, { symbol: 'GOOG', time_in_force: 'FOK' })),
    );
    expect(fok).toMatchObject({ status: 'cancelled', filled_quantity: 0 });
    expect(await fx.balance(u.accountId)).toEqual({ available: 500_000n, reserved: 0n });
  });

  it('200 concurrent orders against funds for exactly 5: exactly 5 accepted, nothing negative', async () => {
    const u = await createFundedUser(api, '800.00'); // 5 x 1 x 160.00
    const results = await Promise.all(
      Array.from({ length: 200 }, () => place(u.token, limit('buy', 1, 160))),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 422)).toHaveLength(195);
    expect(await fx.balance(u.accountId)).toEqual({ available: 0n, reserved: 80_000n });
  });
});

describe('replace and cancel', () => {
  it('replace moves the reservation to the new price and quantity and bumps lock_version', async () => {
    const u = await createFundedUser(api, '10000.00');
    const o = await body(await place(u.token, limit('buy', 10, 160)));
    const id = o.order_id as string;
    const up = await api.call('POST', `/api/v1/orders/${id}/replace`, {
      token: u.token,
      body: { order: { client_version: 0, price: '165.10' } },
    });
    expect(up.status).toBe(200);
    expect(await body(up)).toMatchObject({ price: 165.1, reserved_amount: 1651, lock_version: 1 });
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n - 165_100n, reserved: 165_100n });
    const down = await body(
      await api.call('POST', `/api/v1/orders/${id}/replace`, {
        token: u.token,
        body: { order: { client_version: 1, quantity: 4 } },
      }),
    );
    expect(down).toMatchObject({ quantity: 4, reserved_amount: 660.4, lock_version: 2 });
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n - 66_040n, reserved: 66_040n });
    keepHistory('replace', fx.handle(u.accountId, o.client_order_id as string));
  });

  it('a stale client_version is a 409 version_conflict and changes nothing', async () => {
    const u = await createFundedUser(api, '10000.00');
    const o = await body(await place(u.token, limit('buy', 10, 160)));
    const res = await api.call('POST', `/api/v1/orders/${o.order_id as string}/replace`, {
      token: u.token,
      body: { order: { client_version: 7, price: 161 } },
    });
    expect(res.status).toBe(409);
    expect(await body(res)).toMatchObject({ code: 'version_conflict' });
    expect((await fx.balance(u.accountId)).reserved).toBe(160_000n);
  });

  it('two replaces with the same version: exactly one wins and the reservation matches the book', async () => {
    const u = await createFundedUser(api, '10000.00');
    const o = await body(await place(u.token, limit('buy', 10, 160)));
    const id = o.order_id as string;
    const [a, b] = await Promise.all([
      api.call('POST', `/api/v1/orders/${id}/replace`, {
        token: u.token,
        body: { order: { client_version: 0, price: 162 } },
      }),
      api.call('POST', `/api/v1/orders/${id}/replace`, {
        token: u.token,
        body: { order: { client_version: 0, price: 168 } },
      }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const now = await body(await api.call('GET', `/api/v1/orders/${id}`, { token: u.token }));
    expect(now.lock_version).toBe(1);
    expect((await fx.balance(u.accountId)).reserved).toBe(
      BigInt(Math.round((now.price as number) * 100)) * 10n,
    );
  });

  it('cancel releases exactly what is still reserved; a second cancel is 409', async () => {
    const u = await createFundedUser(api, '10000.00');
    const o = await body(await place(u.token, limit('buy', 10, 160)));
    const id = o.order_id as string;
    const res = await api.call('POST', `/api/v1/orders/${id}/cancel`, {
      token: u.token,
      body: { client_version: 0 },
    });
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({ success: true, status: 'cancelled' });
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
    const again = await api.call('POST', `/api/v1/orders/${id}/cancel`, { token: u.token, body: {} });
    expect(again.status).toBe(409);
    const handle = fx.handle(u.accountId, o.client_order_id as string);
    expect((await handle.result()).status).toBe('cancelled');
    keepHistory('cancel', handle);
  });

  it('DELETE cancels too; replace racing cancel leaves one consistent outcome', async () => {
    const u = await createFundedUser(api, '10000.00');
    const o = await body(await place(u.token, limit('buy', 10, 160)));
    const id = o.order_id as string;
    const [rep, del] = await Promise.all([
      api.call('POST', `/api/v1/orders/${id}/replace`, {
        token: u.token,
        body: { order: { client_version: 0, price: 175 } },
      }),
      api.call('DELETE', `/api/v1/orders/${id}`, { token: u.token }),
    ]);
    expect(del.status).toBe(200);
    expect(await body(del)).toMatchObject({ success: true, message: 'Order cancelled' });
    expect([200, 409]).toContain(rep.status);
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
  });

  it('a cancel whose Content-Type is Application/Json keeps its client_version: a stale one is a 409', async () => {
    const u = await createFundedUser(api, '10000.00');
    const o = await body(await place(u.token, limit('buy', 10, 160)));
    const id = o.order_id as string;
    const res = await api.call('POST', `/api/v1/orders/${id}/cancel`, {
      token: u.token,
      body: { client_version: 5 },
      headers: { 'content-type': 'Application/Json' },
    });
    expect(res.status).toBe(409);
    expect(await body(res)).toMatchObject({ code: 'version_conflict' });
    expect(await body(await api.call('GET', `/api/v1/orders/${id}`, { token: u.token }))).toMatchObject({
      status: 'working',
      lock_version: 0,
    });
    expect((await fx.balance(u.accountId)).reserved).toBe(160_000n);
  });

  it('a replace of the quantity alone past the order-value cap is refused (422) and changes nothing', async () => {
    // Shares enough for the replaced order (from the issuer: the house holds too few), so only the cap
    // stands in its way: 50,000,000 x $228.00 is over $10,000,000,000. At the top of the band: no resting
    // buy of this file crosses it.
    const u = await createFundedUser(api, '0.00');
    await fx.database.db.transaction((tx) =>
      postEntry(tx, {
        kind: 'test_shares',
        reference: `${u.accountId}:${randomUUID()}`,
        memo: 'test fixture: shares from the issuer',
        postings: [
          { accountId: EXTERNAL_ACCOUNT_ID, asset: 'AAPL', bucket: 'available', amount: -50_000_000n },
          { accountId: u.accountId, asset: 'AAPL', bucket: 'available', amount: 50_000_000n },
        ],
      }),
    );
    const o = await body(await place(u.token, limit('sell', 10, 228)));
    const id = o.order_id as string;
    const res = await api.call('POST', `/api/v1/orders/${id}/replace`, {
      token: u.token,
      body: { order: { client_version: 0, quantity: 50_000_000 } },
    });
    expect(res.status).toBe(422);
    expect((await body(res)).errors).toContain('quantity x price must be at most 10000000000 (USD)');
    expect(await body(await api.call('GET', `/api/v1/orders/${id}`, { token: u.token }))).toMatchObject({
      quantity: 10,
      lock_version: 0,
    });
    expect((await fx.balance(u.accountId, 'AAPL')).reserved).toBe(10n);
    expect((await api.call('DELETE', `/api/v1/orders/${id}`, { token: u.token })).status).toBe(200);
  });

  it('cancel racing a fill: exactly one wins and nothing stays reserved', async () => {
    const seller = await createFundedUser(api, '0.00', { TSLA: 10n });
    const buyer = await createFundedUser(api, '5000.00');
    const sell = await body(await place(seller.token, limit('sell', 10, 250, { symbol: 'TSLA' })));
    const [cancel, buy] = await Promise.all([
      api.call('DELETE', `/api/v1/orders/${sell.order_id as string}`, { token: seller.token }),
      place(buyer.token, limit('buy', 10, 250, { symbol: 'TSLA', time_in_force: 'IOC' })),
    ]);
    const b = await body(buy);
    if (cancel.status === 200) {
      expect(b.status).toBe('cancelled');
      expect(await fx.balance(seller.accountId, 'TSLA')).toEqual({ available: 10n, reserved: 0n });
    } else {
      expect(cancel.status).toBe(409);
      expect(b.status).toBe('filled');
      expect(await fx.balance(seller.accountId, 'TSLA')).toEqual({ available: 0n, reserved: 0n });
    }
    expect((await fx.balance(buyer.accountId)).reserved).toBe(0n);
  });
});

describe('reading orders', () => {
  it("another account's order is 403, an unknown one 404; the list filters and paginates", async () => {
    const a = await createFundedUser(api, '10000.00');
    const b = await createFundedUser(api, '10000.00');
    const o1 = await body(await place(a.token, limit('buy', 1, 160)));
    await place(a.token, limit('buy', 1, 161, { symbol: 'MSFT', price: 400 }));
    await place(a.token, limit('buy', 1, 162));
    expect(
      (await api.call('GET', `/api/v1/orders/${o1.order_id as string}`, { token: b.token })).status,
    ).toBe(403);
    expect((await api.call('GET', `/api/v1/orders/${randomUUID()}`, { token: a.token })).status).toBe(404);
    expect((await api.call('GET', '/api/v1/orders/not-a-uuid', { token: a.token })).status).toBe(422);
    const aapl = await body(
      await api.call('GET', '/api/v1/orders?symbol=AAPL&status=working', { token: a.token }),
    );
    expect((aapl.orders as Json[]).map((o) => o.symbol)).toEqual(['AAPL', 'AAPL']);
    const page1 = await body(await api.call('GET', '/api/v1/orders?limit=2', { token: a.token }));
    expect(page1.orders).toHaveLength(2);
    const page2 = await body(
      await api.call('GET', `/api/v1/orders?limit=2&cursor=${page1.next_cursor as string}`, {
        token: a.token,
      }),
    );
    expect(page2.orders).toHaveLength(1);
    const all = [...(page1.orders as Json[]), ...(page2.orders as Json[])].map((o) => o.id);
    expect(new Set(all).size).toBe(3);
    expect((await body(await api.call('GET', '/api/v1/orders', { token: b.token }))).orders).toEqual([]);
    expect((await api.call('GET', '/api/v1/orders?status=bogus', { token: a.token })).status).toBe(422);
  });

  it('paginates orders created within one millisecond without skipping any (the cursor keeps microseconds)', async () => {
    const u = await createFundedUser(api, '10000.00');
    const ids = [
      (await body(await place(u.token, limit('buy', 1, 160)))).order_id as string,
      (await body(await place(u.token, limit('buy', 1, 160)))).order_id as string,
    ];
    // Both in one millisecond, a few microseconds apart: the page boundary falls between them.
    await fx.database.db.execute(
      sql`UPDATE orders SET created_at = CASE id WHEN ${ids[0]}::uuid THEN '2026-03-02T14:30:00.123456Z'::timestamptz
                                               ELSE '2026-03-02T14:30:00.123123Z'::timestamptz END
           WHERE id = ANY(${`{${ids.join(',')}}`}::uuid[])`,
    );
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await body(
        await api.call('GET', `/api/v1/orders?limit=1${cursor ? `&cursor=${cursor}` : ''}`, {
          token: u.token,
        }),
      );
      seen.push(...(page.orders as Json[]).map((o) => o.id as string));
      cursor = page.next_cursor as string | null;
      expect(seen.length).toBeLessThanOrEqual(3);
    }
    expect(seen).toEqual(ids);
  });
});

describe('admission control', () => {
  it('beyond MAX_INFLIGHT_ORDERS sagas in flight the api sheds with a fast 429 and Retry-After', async () => {
    const small = await createTestApi({
      ...fx.env,
      MAX_INFLIGHT_ORDERS: '2',
      MAX_INFLIGHT_ORDERS_PER_ACCOUNT: '2',
    });
    try {
      const u = await createFundedUser(api, '10000.00');
      const results = await Promise.all(
        Array.from({ length: 12 }, () =>
          small.call('POST', '/api/v1/orders', { token: u.token, body: { order: limit('buy', 1, 160) } }),
        ),
      );
      const shed = results.filter((r) => r.status === 429);
      expect(shed.length).toBeGreaterThan(0);
      expect(results.every((r) => r.status === 201 || r.status === 429)).toBe(true);
      for (const r of shed) expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await body(shed[0]!)).toMatchObject({ code: 'too_many_requests' });
      // Shed before anything costly, yet counted: every 429 is in http_requests_total and orders_placed_total.
      const counted = async (
        metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
        labels: Record<string, string>,
      ) =>
        (await metric.get()).values
          .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
          .reduce((n, v) => n + v.value, 0);
      expect(
        await counted(small.deps.metrics.httpRequests, {
          method: 'POST',
          route: '/api/v1/orders',
          status: '429',
        }),
      ).toBe(shed.length);
      expect(await counted(small.deps.metrics.ordersPlaced, { result: 'shed' })).toBe(shed.length);
      // Only admitted orders reserved anything.
      const accepted = results.filter((r) => r.status === 201).length;
      expect((await fx.balance(u.accountId)).reserved).toBe(BigInt(accepted) * 16_000n);
    } finally {
      await small.close();
    }
  });
});

describe('DAY expiry', () => {
  it('a DAY order expires at the session close by a durable timer and releases its reservation', async () => {
    const calendar = closingCalendar();
    const dayApi = await createTestApi(fx.env, undefined, undefined, calendar);
    try {
      const u = await createFundedUser(api, '1000.00');
      calendar.closeSoon(); // the order's session closes 2 s after its placement
      const res = await dayApi.call('POST', '/api/v1/orders', {
        token: u.token,
        body: { order: limit('buy', 2, 160, { time_in_force: 'DAY', client_order_id: 'day-1' }) },
      });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ status: 'working', reserved_amount: 320 });
      const handle = fx.handle(u.accountId, 'day-1');
      expect((await handle.result()).status).toBe('expired');
      keepHistory('expiry', handle);
      expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
    } finally {
      await dayApi.close();
    }
  });
});
