/**
 * A DAY order never trades after its session's close, through the api and the TradingSaga
 * (docs/adr/0044-day-orders-expire-in-the-shard.md): its session closes two seconds after its placement
 * (test/sessions.ts), and its saga's expiry step is held back on its way to the shard (as a wave of
 * expiries at the close, or a matching outage, would hold it). A crossing order placed after the close
 * does not fill it: the shard expires it first, a client's cancel answers 409 order_closed as for an
 * expired order, and the saga, whose step then comes through, ends expired. A client's cancel that comes
 * first after the close, before anything expired the order, expires it in the shard (its reservation
 * released, one `expired` report) and answers as for an expired order; a replace alike.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../db/audit.js';
import type { MatchingActivities } from '../temporal/activities.js';
import { createTestApi } from '../test/helpers.js';
import { closingCalendar } from '../test/sessions.js';
import { eventually, placeGtc, startTradingFixture, type TradingFixture } from '../test/trading.js';
import { createFundedUser } from '../test/users.js';

/** The saga expiry steps that reached the matching worker, held until `release()`. */
const held: string[] = [];
let release: () => void = () => undefined;
let released: Promise<void>;
/** From now on, the saga expiry steps wait for the next `release()`. */
const hold = () => void (released = new Promise<void>((resolve) => (release = resolve)));
hold();

/** The shard's activities, with the saga's expiry step (a cancel for `expired`) held until released. */
function holdExpiries(a: MatchingActivities): MatchingActivities {
  return {
    ...a,
    cancelOrder: async (args) => {
      if (args.reason === 'expired') {
        held.push(args.orderId);
        await released;
      }
      return a.cancelOrder(args);
    },
  };
}

let fx: TradingFixture;
beforeAll(async () => {
  fx = await startTradingFixture('day-expiry', { wrapMatchingActivities: holdExpiries });
}, 120_000);
afterAll(async () => {
  release();
  if (!fx) return;
  expect(await runAudit(fx.database.db)).toEqual([]);
  await fx.close();
});

type Json = Record<string, unknown>;

/**
 * A DAY sell of 2 shares at 185.00 whose session closes 2 s after its placement, once the close came: its
 * saga's timer fired and its expiry step is on its way (held), and nothing expired it yet.
 */
async function closedDaySell(
  seller: { token: string },
  clientOrderId: string,
  symbol = 'AAPL',
): Promise<string> {
  const calendar = closingCalendar(2000);
  const dayApi = await createTestApi(fx.env, undefined, undefined, calendar);
  let day: Json;
  try {
    calendar.closeSoon(); // the DAY order's session closes 2 s after its placement
    const res = await dayApi.call('POST', '/api/v1/orders', {
      token: seller.token,
      body: {
        order: {
          symbol,
          order_type: 'limit',
          direction: 'sell',
          quantity: 2,
          price: '185.00',
          time_in_force: 'DAY',
          client_order_id: clientOrderId,
        },
      },
    });
    expect(res.status).toBe(201);
    day = (await res.json()) as Json;
  } finally {
    await dayApi.close();
  }
  expect(day).toMatchObject({ status: 'working', reserved_amount: 2 });
  const id = String(day.order_id);
  await eventually(async () => expect(held).toContain(id), 15_000);
  expect(
    await (await fx.api.call('GET', `/api/v1/orders/${id}`, { token: seller.token })).json(),
  ).toMatchObject({ status: 'working' });
  return id;
}

/** The `expired` execution reports written for an order (the feed's), with whether its saga is told. */
const expiredReports = async (id: string) => [
  ...(await fx.database.db.execute<{ notify: boolean }>(sql`
    SELECT (payload->>'notify_saga')::boolean AS notify FROM outbox
    WHERE event_type = 'execution.report' AND payload->>'order_id' = ${id}
      AND payload->>'exec_type' = 'expired'`)),
];

describe('a DAY order whose saga has not expired it yet', () => {
  it('does not trade with an order that crosses it after the close; the saga ends expired', async () => {
    const seller = await createFundedUser(fx.api, '0.00', { AAPL: 2n });
    const buyer = await createFundedUser(fx.api, '1000.00');
    const id = await closedDaySell(seller, 'day-sell');
    const path = `/api/v1/orders/${id}`;

    // A buy at its price, placed in the next session (the fixture's api: a 24-hour session).
    const bought = await placeGtc(fx.api, buyer.token, {
      direction: 'buy',
      quantity: 2,
      price: '185.00',
      client_order_id: 'crossing-buy',
    });
    expect(bought).toMatchObject({ status: 'working', filled_quantity: 0 });

    // The DAY order expired in the shard, its shares given back; a client's cancel is too late.
    expect(await (await fx.api.call('GET', path, { token: seller.token })).json()).toMatchObject({
      status: 'expired',
      filled_quantity: 0,
      reserved_amount: 0,
    });
    expect(await fx.balance(seller.accountId, 'AAPL')).toEqual({ available: 2n, reserved: 0n });
    const cancel = await fx.api.call('DELETE', path, { token: seller.token });
    expect(cancel.status).toBe(409);
    expect(await cancel.json()).toMatchObject({ code: 'order_closed' });

    // The saga's own expiry step comes through and finds the order expired.
    release();
    expect(await fx.handle(seller.accountId, 'day-sell').result()).toMatchObject({
      status: 'expired',
      phase: 'done',
      reservedAmount: '0',
    });
    const timeline = (await (
      await fx.api.call('GET', `${path}/timeline`, { token: seller.token })
    ).json()) as { events: { type: string }[] };
    expect(timeline.events.filter((e) => e.type === 'expired')).toHaveLength(1);

    const withdrawn = await fx.api.call('DELETE', `/api/v1/orders/${String(bought.order_id)}`, {
      token: buyer.token,
    });
    expect(withdrawn.status).toBe(200);
    expect(await fx.balance(buyer.accountId)).toEqual({ available: 100_000n, reserved: 0n });
  });

  it('a client cancel, or a replace, that comes first after the close expires it and answers as for an expired order', async () => {
    hold();
    // In two books, so that neither request finds its order expired by the other's.
    const seller = await createFundedUser(fx.api, '0.00', { AAPL: 2n, AMZN: 2n });
    const ids = [
      await closedDaySell(seller, 'day-cancelled'),
      await closedDaySell(seller, 'day-replaced', 'AMZN'),
    ];
    const [cancelled, replaced] = ids.map((id) => `/api/v1/orders/${id}`) as [string, string];

    const cancel = await fx.api.call('DELETE', cancelled, { token: seller.token });
    expect(cancel.status).toBe(409);
    expect(await cancel.json()).toMatchObject({ code: 'order_closed' });
    const replace = await fx.api.call('POST', `${replaced}/replace`, {
      token: seller.token,
      body: { order: { client_version: 0, quantity: 1 } },
    });
    expect(replace.status).toBe(409);
    expect(await replace.json()).toMatchObject({ code: 'order_closed' });

    // Never "closed" while the row says working: both are expired, their shares given back, each
    // reported expired once, to its saga too (its cancel or replace was refused).
    for (const path of [cancelled, replaced])
      expect(await (await fx.api.call('GET', path, { token: seller.token })).json()).toMatchObject({
        status: 'expired',
        reserved_amount: 0,
      });
    for (const symbol of ['AAPL', 'AMZN'])
      expect(await fx.balance(seller.accountId, symbol)).toEqual({ available: 2n, reserved: 0n });
    for (const id of ids) expect(await expiredReports(id)).toEqual([{ notify: true }]);
    const again = await fx.api.call('DELETE', cancelled, { token: seller.token });
    expect(again.status).toBe(409);

    // The sagas' own expiry steps come through, find the orders expired, and the sagas end as for it.
    release();
    for (const cid of ['day-cancelled', 'day-replaced'])
      expect(await fx.handle(seller.accountId, cid).result()).toMatchObject({
        status: 'expired',
        phase: 'done',
        reservedAmount: '0',
      });
    for (const [i, path] of [cancelled, replaced].entries()) {
      const timeline = (await (
        await fx.api.call('GET', `${path}/timeline`, { token: seller.token })
      ).json()) as { events: { type: string }[] };
      expect(timeline.events.filter((e) => e.type === 'expired')).toHaveLength(1);
      expect(await expiredReports(ids[i]!)).toHaveLength(1);
    }
  });
});
