/**
 * Trading sessions through the api and the TradingSaga, with injected calendars (lib/sessions.ts,
 * test/sessions.ts): a DAY order expires at the close of its session (one that closes seconds after the
 * order was placed) by the saga's
 * durable timer while a GTC order stays; outside the session limit orders are taken for the next
 * session (they rest at once, ADR 0020) and market, IOC and FOK orders get 422 market_closed; the
 * clock names the next open and close.
 */
import { describe, expect, it } from 'vitest';
import { fixedSessions, type SessionCalendar } from '../../lib/sessions.js';
import { createTestApi, type TestApi } from '../../test/helpers.js';
import { closingCalendar } from '../../test/sessions.js';
import { failedActivities } from '../../test/histories.js';
import { auditedTradingFixture, eventually, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';

let fx: TradingFixture;

auditedTradingFixture('sessions', (f) => (fx = f));

type Json = Record<string, unknown>;

/** An api on the fixture's stack whose trading calendar is `calendar` (and its config `env` over the fixture's). */
async function withCalendar<T>(
  calendar: SessionCalendar,
  run: (api: TestApi) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const api = await createTestApi({ ...fx.env, ...env }, undefined, undefined, calendar);
  try {
    return await run(api);
  } finally {
    await api.close();
  }
}

const order = (extra: Json) => ({
  symbol: 'TSLA',
  direction: 'buy',
  quantity: 1,
  order_type: 'limit',
  price: '200.00',
  ...extra,
});
const place = async (api: TestApi, u: FundedTestUser, o: Json) => {
  const res = await api.call('POST', '/api/v1/orders', { token: u.token, body: { order: o } });
  return { status: res.status, json: (await res.json()) as Json };
};

describe('trading sessions', () => {
  it('a DAY order expires at its session close by the saga timer; a GTC order stays', async () => {
    const u = await createFundedUser(fx.api, '1000.00');
    const calendar = closingCalendar();
    await withCalendar(calendar, async (api) => {
      const gtc = await place(api, u, order({ time_in_force: 'GTC', client_order_id: 'session-gtc' }));
      calendar.closeSoon(); // the DAY order's session closes 2 s after its placement
      const day = await place(api, u, order({ time_in_force: 'DAY', client_order_id: 'session-day' }));
      expect([day.status, gtc.status]).toEqual([201, 201]);
      // Both working and reserved when placed.
      expect([day.json, gtc.json]).toEqual([
        expect.objectContaining({ status: 'working', reserved_amount: 200 }),
        expect.objectContaining({ status: 'working', reserved_amount: 200 }),
      ]);
      const state = await fx.handle(u.accountId, 'session-day').result();
      expect(state.status).toBe('expired');
      expect(await fx.saga(u.accountId, 'session-gtc')).toMatchObject({ status: 'working' });
      expect(await fx.balance(u.accountId)).toEqual({ available: 80_000n, reserved: 20_000n });
      await fx.api.call('DELETE', `/api/v1/orders/${String(gtc.json.order_id)}`, { token: u.token });
    });
  });

  it('a DAY order whose close falls in a matching outage longer than the schedule-to-close expires once a shard answers', async () => {
    const u = await createFundedUser(fx.api, '1000.00');
    const calendar = closingCalendar(3000);
    // The sagas of this api give up a matching step after 4 s without a shard owner (instead of 2 minutes).
    const short = { MATCHING_START_TO_CLOSE_MS: '1000', MATCHING_SCHEDULE_TO_CLOSE_MS: '4000' };
    const placed = await withCalendar(
      calendar,
      async (api) => {
        calendar.closeSoon(); // the order's session closes 3 s after its placement
        return place(api, u, order({ time_in_force: 'DAY', client_order_id: 'outage-day' }));
      },
      short,
    );
    expect(placed.json).toMatchObject({ status: 'working', reserved_amount: 200 });
    const handle = fx.handle(u.accountId, 'outage-day');
    const orderPath = `/api/v1/orders/${String(placed.json.order_id)}`;

    await fx.stack.stopShards();
    try {
      // The expiry's step ran out of its schedule-to-close with no shard serving: the saga lives on.
      await eventually(async () => expect(await failedActivities(handle)).toContain('cancelOrder'), 20_000);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      const row = await fx.api.call('GET', orderPath, { token: u.token });
      expect(await row.json()).toMatchObject({ status: 'working', reserved_amount: 200 });
    } finally {
      await fx.stack.startShards();
    }

    // A shard serves again (its book rebuilt with the order): the expiry goes through.
    expect(await handle.result()).toMatchObject({ status: 'expired', reservedAmount: '0' });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
    const row = await fx.api.call('GET', orderPath, { token: u.token });
    expect(await row.json()).toMatchObject({ status: 'expired', filled_quantity: 0, reserved_amount: 0 });
    // Out of the book: a sell at its price after the close finds nothing to trade with.
    const seller = await createFundedUser(fx.api, '0.00', { TSLA: 1n });
    const sell = await place(fx.api, seller, order({ direction: 'sell', time_in_force: 'IOC' }));
    expect(sell.json).toMatchObject({ status: 'cancelled', filled_quantity: 0 });
    expect(await fx.balance(u.accountId, 'TSLA')).toEqual({ available: 0n, reserved: 0n });
  });

  it('outside the session: limit orders are taken for the next session, market, IOC and FOK are refused', async () => {
    const opens = new Date(Date.now() + 3_600_000);
    const next = { open: opens, close: new Date(opens.getTime() + 6.5 * 3_600_000) };
    await withCalendar(fixedSessions([next]), async (api) => {
      const u = await createFundedUser(fx.api, '1000.00');
      for (const o of [
        order({ order_type: 'market', price: undefined }),
        order({ time_in_force: 'IOC' }),
        order({ time_in_force: 'FOK' }),
      ]) {
        const res = await place(api, u, o);
        expect(res.status).toBe(422);
        expect(res.json).toMatchObject({ code: 'market_closed', next_open: opens.toISOString() });
      }
      expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });

      const day = await place(api, u, order({ time_in_force: 'DAY' }));
      const gtc = await place(api, u, order({ time_in_force: 'GTC' }));
      const byDefault = await place(api, u, order({}));
      expect([day.json.status, gtc.json.status, byDefault.json]).toEqual([
        'working',
        'working',
        expect.objectContaining({ status: 'working', time_in_force: 'DAY' }),
      ]);
      for (const o of [day, gtc, byDefault])
        await fx.api.call('DELETE', `/api/v1/orders/${String(o.json.order_id)}`, { token: u.token });

      const clock = await api.call('GET', '/api/v1/clock');
      expect(clock.status).toBe(200);
      expect(await clock.json()).toMatchObject({
        is_open: false,
        next_open: opens.toISOString(),
        next_close: next.close.toISOString(),
      });
    });
  });

  it('the clock of the configured 24-hour calendar is always open', async () => {
    const res = await fx.api.call('GET', '/api/v1/clock');
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ is_open: true });
    expect(Date.parse(body.next_close as string)).toBeGreaterThan(Date.parse(body.timestamp as string));
  });
});
