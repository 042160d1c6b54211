/**
 * Stop and stop-limit orders through the api, the TradingSaga and a matching shard: a stop that
 * triggers at placement, one triggered later by another client's trade (its saga hears of it), a
 * stop-limit that triggers and then rests, replace and cancel of an untriggered stop with its
 * reservation adjusted and released (the timeline's received and replaced steps carry the stop price),
 * and the 4xx for bad stop input; the shard's stop metrics count each (docs/metrics.md). Each test
 * trades its own symbol; the ledger auditor finds nothing at the end. The two trigger paths' sagas join
 * the replay corpus (`npm run histories:record`).
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { TestApi } from '../../test/helpers.js';
import { keepHistory } from '../../test/histories.js';
import { eventually, auditedTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';

let fx: TradingFixture;
let api: TestApi;

auditedTradingFixture('stop-orders', (f) => {
  fx = f;
  api = f.api;
});

type Json = Record<string, unknown> & { errors?: string[] };
const body = async (res: Response) => (await res.json()) as Json;

const place = async (u: FundedTestUser, order: Record<string, unknown>, status = 201) => {
  const res = await api.call('POST', '/api/v1/orders', { token: u.token, body: { order } });
  const json = await body(res);
  expect(res.status, JSON.stringify(json)).toBe(status);
  return json;
};
const limit = (symbol: string, direction: 'buy' | 'sell', quantity: number, price: string) => ({
  symbol,
  order_type: 'limit',
  direction,
  quantity,
  price,
  time_in_force: 'GTC',
});
const stopOrder = (
  symbol: string,
  direction: 'buy' | 'sell',
  quantity: number,
  stopPrice: string,
  extra: Record<string, unknown> = {},
) => ({ symbol, order_type: 'stop', direction, quantity, stop_price: stopPrice, ...extra });
const get = async (u: FundedTestUser, id: unknown) =>
  body(await api.call('GET', `/api/v1/orders/${String(id)}`, { token: u.token }));
/** One step of the order's timeline (GET /api/v1/orders/{id}/timeline), the first of its type. */
const timelineStep = async (u: FundedTestUser, id: unknown, type: string) => {
  const res = await api.call('GET', `/api/v1/orders/${String(id)}/timeline`, { token: u.token });
  expect(res.status).toBe(200);
  return ((await body(res)).events as Json[]).find((e) => e.type === type);
};

/** One share of `symbol` trades at `price` between two new clients: the book's last price. */
async function printTrade(symbol: string, price: string): Promise<void> {
  const seller = await createFundedUser(api, '0.00', { [symbol]: 1n });
  const buyer = await createFundedUser(api, '1000.00');
  await place(seller, limit(symbol, 'sell', 1, price));
  expect(await place(buyer, limit(symbol, 'buy', 1, price))).toMatchObject({ status: 'filled' });
}

/** The execution reports the outbox holds for an order, oldest first. */
async function execTypes(orderId: unknown): Promise<string[]> {
  const rows = await fx.database.db.execute<{ exec: string }>(
    sql`SELECT payload->>'exec_type' AS exec FROM outbox
         WHERE event_type = 'execution.report' AND payload->>'order_id' = ${String(orderId)}
         ORDER BY account_seq`,
  );
  return rows.map((r) => r.exec);
}

/** The shard's stop metrics of one symbol (the in-process shard's registry, as its /metrics serves it). */
async function stopMetrics(symbol: string) {
  const value = async (name: string) => {
    const m = await fx.stack.registry.getSingleMetric(name)?.get();
    return (m?.values ?? []).filter((v) => v.labels.symbol === symbol).reduce((n, v) => n + v.value, 0);
  };
  return {
    accepted: await value('matching_stops_accepted_total'),
    triggered: await value('matching_stops_triggered_total'),
    pending: await value('matching_stops_pending'),
  };
}

async function depth(symbol: string) {
  const res = await api.call('GET', `/api/v1/market/${symbol}`);
  return (await body(res)).depth as { bids: { price: number }[]; asks: { price: number }[] };
}

describe('stop orders', () => {
  it('a buy stop whose stop price the last trade already met triggers at placement and trades', async () => {
    await printTrade('TSLA', '250.00');
    const maker = await createFundedUser(api, '0.00', { TSLA: 2n });
    await place(maker, limit('TSLA', 'sell', 2, '251.00'));
    const trader = await createFundedUser(api, '1000.00');
    const stop = await place(trader, stopOrder('TSLA', 'buy', 2, '249.00'));
    expect(stop).toMatchObject({
      order_type: 'stop',
      status: 'filled',
      stop_price: 249,
      price: null,
      filled_quantity: 2,
      average_price: 251,
      time_in_force: 'DAY',
      reserved_amount: 0,
    });
    expect(typeof stop.triggered_at).toBe('string');
    expect(await execTypes(stop.order_id)).toEqual(['triggered', 'fill']);
    expect(await stopMetrics('TSLA')).toEqual({ accepted: 1, triggered: 1, pending: 0 });
    // The collar reserved at placement was given back, less what the shares cost.
    expect(await fx.balance(trader.accountId)).toEqual({ available: 100_000n - 50_200n, reserved: 0n });
    expect(await fx.balance(trader.accountId, 'TSLA')).toEqual({ available: 2n, reserved: 0n });
  });

  it('a sell stop waits outside the book until another client trade meets it, and its saga hears of it', async () => {
    await printTrade('AMZN', '185.00');
    const bidder = await createFundedUser(api, '1000.00');
    const bid = await place(bidder, limit('AMZN', 'buy', 1, '183.00'));
    const trader = await createFundedUser(api, '0.00', { AMZN: 1n });
    const stop = await place(
      trader,
      stopOrder('AMZN', 'sell', 1, '184.00', { time_in_force: 'GTC', client_order_id: 'amzn-stop' }),
    );
    expect(stop).toMatchObject({
      status: 'pending_trigger',
      stop_price: 184,
      triggered_at: null,
      reserved_amount: 1,
      reserved_asset: 'AMZN',
    });
    expect((await depth('AMZN')).asks).toEqual([]);
    expect(await fx.saga(trader.accountId, 'amzn-stop')).toMatchObject({ status: 'pending_trigger' });
    expect(await stopMetrics('AMZN')).toEqual({ accepted: 1, triggered: 0, pending: 1 });

    // Two other clients trade at 184.00: the stop triggers and sells into the 183.00 bid.
    await printTrade('AMZN', '184.00');
    await eventually(async () =>
      expect(await get(trader, stop.order_id)).toMatchObject({
        status: 'filled',
        filled_quantity: 1,
        average_price: 183,
        reserved_amount: 0,
      }),
    );
    expect(typeof (await get(trader, stop.order_id)).triggered_at).toBe('string');
    expect(await get(bidder, bid.order_id)).toMatchObject({ status: 'filled' });
    expect(await execTypes(stop.order_id)).toEqual(['new', 'triggered', 'fill']);
    expect(await stopMetrics('AMZN')).toEqual({ accepted: 1, triggered: 1, pending: 0 });
    const handle = fx.handle(trader.accountId, 'amzn-stop');
    expect(await handle.result()).toMatchObject({ status: 'filled', filledQuantity: '1' });
    keepHistory('stop-trigger', handle);
    expect(await fx.balance(trader.accountId)).toEqual({ available: 18_300n, reserved: 0n });
  });

  it('a stop-limit triggers, finds nothing at its limit and rests in the book', async () => {
    await printTrade('MSFT', '420.00');
    const trader = await createFundedUser(api, '2000.00');
    const stop = await place(
      trader,
      stopOrder('MSFT', 'buy', 3, '421.00', {
        order_type: 'stop_limit',
        price: '421.50',
        time_in_force: 'GTC',
        client_order_id: 'msft-stop-limit',
      }),
    );
    expect(stop).toMatchObject({ status: 'pending_trigger', stop_price: 421, price: 421.5 });
    expect(await fx.balance(trader.accountId)).toEqual({
      available: 200_000n - 126_450n,
      reserved: 126_450n,
    });
    expect((await depth('MSFT')).bids).toEqual([]);

    await printTrade('MSFT', '421.00');
    await eventually(async () =>
      expect(await get(trader, stop.order_id)).toMatchObject({ status: 'working', filled_quantity: 0 }),
    );
    expect(typeof (await get(trader, stop.order_id)).triggered_at).toBe('string');
    expect((await depth('MSFT')).bids).toEqual([expect.objectContaining({ price: 421.5, quantity: 3 })]);
    await eventually(async () =>
      expect(await fx.saga(trader.accountId, 'msft-stop-limit')).toMatchObject({ status: 'working' }),
    );
    expect(await fx.balance(trader.accountId)).toEqual({
      available: 200_000n - 126_450n,
      reserved: 126_450n,
    });

    // A trade at its limit fills it as any resting order.
    const seller = await createFundedUser(api, '0.00', { MSFT: 3n });
    expect(await place(seller, limit('MSFT', 'sell', 3, '421.50'))).toMatchObject({ status: 'filled' });
    await eventually(async () =>
      expect(await get(trader, stop.order_id)).toMatchObject({ status: 'filled', reserved_amount: 0 }),
    );
    const handle = fx.handle(trader.accountId, 'msft-stop-limit');
    expect(await handle.result()).toMatchObject({ status: 'filled', filledQuantity: '3' });
    keepHistory('stop-limit-trigger', handle);
  });

  it('an untriggered stop is replaced (stop price, quantity) and cancelled, its reservation adjusted then released', async () => {
    const trader = await createFundedUser(api, '2000.00');
    // GOOG has not traded: nothing meets the stop. A stop buy reserves at the collar (170.00 + 20%).
    const stop = await place(trader, stopOrder('GOOG', 'buy', 2, '175.00'));
    expect(stop).toMatchObject({ status: 'pending_trigger', lock_version: 0 });
    expect(await stopMetrics('GOOG')).toEqual({ accepted: 1, triggered: 0, pending: 1 });
    expect(await fx.balance(trader.accountId)).toEqual({ available: 200_000n - 40_800n, reserved: 40_800n });

    const replace = (order: Record<string, unknown>) =>
      api.call('POST', `/api/v1/orders/${String(stop.order_id)}/replace`, {
        token: trader.token,
        body: { order },
      });
    const res = await replace({ client_version: 0, quantity: 3, stop_price: '176.00' });
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({
      status: 'pending_trigger',
      quantity: 3,
      stop_price: 176,
      lock_version: 1,
      reserved_amount: 612,
    });
    expect(await fx.balance(trader.accountId)).toEqual({ available: 200_000n - 61_200n, reserved: 61_200n });
    // A stop (market) has no limit price to change.
    const priced = await replace({ client_version: 1, price: '176.00' });
    expect(priced.status).toBe(422);
    expect((await body(priced)).errors?.join(' ')).toMatch(/no limit price/);

    const cancel = await api.call('DELETE', `/api/v1/orders/${String(stop.order_id)}`, {
      token: trader.token,
    });
    expect(cancel.status).toBe(200);
    expect(await body(cancel)).toMatchObject({ status: 'cancelled' });
    expect(await get(trader, stop.order_id)).toMatchObject({ status: 'cancelled', reserved_amount: 0 });
    expect(await fx.balance(trader.accountId)).toEqual({ available: 200_000n, reserved: 0n });
    expect(await execTypes(stop.order_id)).toEqual(['new', 'replaced', 'canceled']);
    expect(await stopMetrics('GOOG')).toEqual({ accepted: 1, triggered: 0, pending: 0 });
    // The timeline's received and replaced steps carry the stop price beside quantity and price.
    expect(await timelineStep(trader, stop.order_id, 'received')).toMatchObject({
      order_type: 'stop',
      quantity: '2',
      price: null,
      stop_price: '175.00',
    });
    expect(await timelineStep(trader, stop.order_id, 'replaced')).toMatchObject({
      quantity: '3',
      price: null,
      stop_price: '176.00',
      lock_version: 1,
    });
  });

  it('a sell stop-limit is replaced with a lower limit and a stop the last trade meets: it triggers and rests', async () => {
    await printTrade('AAPL', '190.00');
    const trader = await createFundedUser(api, '0.00', { AAPL: 2n });
    const stop = await place(
      trader,
      stopOrder('AAPL', 'sell', 2, '185.00', {
        order_type: 'stop_limit',
        price: '186.00',
        time_in_force: 'GTC',
      }),
    );
    expect(stop).toMatchObject({ status: 'pending_trigger', reserved_amount: 2 });
    const res = await api.call('POST', `/api/v1/orders/${String(stop.order_id)}/replace`, {
      token: trader.token,
      body: { order: { client_version: 0, stop_price: '190.00', price: '195.00' } },
    });
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({ status: 'working', stop_price: 190, price: 195 });
    expect((await depth('AAPL')).asks).toEqual([expect.objectContaining({ price: 195, quantity: 2 })]);
    expect(await stopMetrics('AAPL')).toEqual({ accepted: 1, triggered: 1, pending: 0 });
    const again = await api.call('POST', `/api/v1/orders/${String(stop.order_id)}/replace`, {
      token: trader.token,
      body: { order: { client_version: 1, stop_price: '189.00' } },
    });
    expect(again.status).toBe(422);
    expect((await body(again)).errors?.join(' ')).toMatch(/before the order triggers/);
    expect(await timelineStep(trader, stop.order_id, 'received')).toMatchObject({
      order_type: 'stop_limit',
      price: '186.00',
      stop_price: '185.00',
    });
    expect(await timelineStep(trader, stop.order_id, 'replaced')).toMatchObject({
      quantity: '2',
      price: '195.00',
      stop_price: '190.00',
    });
    await api.call('DELETE', `/api/v1/orders/${String(stop.order_id)}`, { token: trader.token });
    expect(await fx.balance(trader.accountId, 'AAPL')).toEqual({ available: 2n, reserved: 0n });
  });
});

describe('bad stop input is a 4xx problem and places nothing', () => {
  const stop = (extra: Record<string, unknown>) => ({
    symbol: 'GOOG',
    order_type: 'stop',
    direction: 'buy',
    quantity: 1,
    stop_price: '171.00',
    ...extra,
  });

  it.each([
    ['a stop without stop_price', stop({ stop_price: undefined }), /stop_price: is required for stop orders/],
    [
      'a stop-limit without price',
      stop({ order_type: 'stop_limit' }),
      /price: is required for stop_limit orders/,
    ],
    ['a stop with a price', stop({ price: '171.00' }), /price: must be omitted for stop orders/],
    [
      'a limit order with a stop price',
      stop({ order_type: 'limit', price: '171.00' }),
      /stop_price: must be omitted/,
    ],
    ['a stop price of zero', stop({ stop_price: '0.00' }), /stop_price: must be positive/],
  ])('%s', async (_, order, message) => {
    const u = await createFundedUser(api, '1000.00');
    const res = await api.call('POST', '/api/v1/orders', { token: u.token, body: { order } });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    const json = await body(res);
    expect(json).toMatchObject({ code: 'validation_failed' });
    expect(json.errors?.join(' ')).toMatch(message);
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
  });

  it('a stop price off the tick, and an IOC stop, are refused by the saga before anything is reserved', async () => {
    await fx.database.db.execute(sql`UPDATE instruments SET tick_size = 5 WHERE symbol = 'GOOG'`);
    try {
      const u = await createFundedUser(api, '1000.00');
      for (const [order, message] of [
        [stop({ stop_price: '171.03' }), /Stop price is not a multiple of the tick size/],
        [stop({ time_in_force: 'IOC' }), /DAY or GTC/],
      ] as const) {
        const res = await api.call('POST', '/api/v1/orders', { token: u.token, body: { order } });
        expect(res.status).toBe(422);
        expect((await body(res)).errors?.join(' ')).toMatch(message);
      }
      expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
      // Nothing was reserved and released again: no reserve entry, no order recorded.
      const [written] = await fx.database.db.execute<{ reserves: number; orders: number }>(sql`
        SELECT (SELECT count(DISTINCT e.id)::int FROM journal_entries e JOIN postings p ON p.entry_id = e.id
                 WHERE e.kind = 'reserve' AND p.account_id = ${u.accountId}::uuid) AS reserves,
               (SELECT count(*)::int FROM orders WHERE account_id = ${u.accountId}::uuid) AS orders`);
      expect(written).toEqual({ reserves: 0, orders: 0 });
    } finally {
      await fx.database.db.execute(sql`UPDATE instruments SET tick_size = 1 WHERE symbol = 'GOOG'`);
    }
  });
});
