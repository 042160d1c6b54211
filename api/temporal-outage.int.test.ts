/**
 * Temporal going away, on a dev server of this file's own (never the run's shared one):
 * - killed: the supervisor (`superviseDevServer`, as `npm start` runs it) restarts it on its SQLite
 *   file; the saga that was resting survives, and the in-process workers carry on by themselves;
 * - stopped: every order route answers 503 problem+json with Retry-After, nothing is reserved or
 *   written for the refused order; once it is back, the same client_order_id is placed, and the
 *   auditor finds nothing.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOrderByClientId } from '../db/queries/orders.js';
import { runAudit, formatFinding } from '../db/audit.js';
import { expectUnavailable, startPrivateTemporal, type PrivateTemporal } from '../test/faults.js';
import { testConfig } from '../test/helpers.js';
import { eventually, startTradingFixture, type TradingFixture } from '../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../test/users.js';

let temporal: PrivateTemporal;
let fx: TradingFixture;
let buyer: FundedTestUser;
let seller: FundedTestUser;

const order = (direction: 'buy' | 'sell', quantity: number, clientOrderId: string) => ({
  order: {
    symbol: 'AAPL',
    order_type: 'limit',
    direction,
    quantity,
    price: '160.00',
    time_in_force: 'GTC',
    client_order_id: clientOrderId,
  },
});
const place = (u: FundedTestUser, body: ReturnType<typeof order>) =>
  fx.api.call('POST', '/api/v1/orders', { token: u.token, body });

beforeAll(async () => {
  temporal = await startPrivateTemporal(join(testConfig().BROKERX_TOOLS_DIR, 'temporal'));
  fx = await startTradingFixture('tempout', { env: { TEMPORAL_ADDRESS: temporal.address } });
  [buyer, seller] = await Promise.all([
    createFundedUser(fx.api, '10000.00'),
    createFundedUser(fx.api, '0', { AAPL: 50n }),
  ]);
}, 180_000);

afterAll(async () => {
  await fx?.close();
  await temporal?.close();
});

describe('the dev server killed', () => {
  it('is restarted on its file: a resting saga survives and the workers carry on', async () => {
    const resting = await place(buyer, order('buy', 10, 'before-kill'));
    expect(resting.status).toBe(201);
    const server = temporal.server()!;
    server.current().child.kill('SIGKILL');
    await eventually(async () => expect(server.restarts()).toBe(1), 20_000);

    // The sell crosses the buy that rested before the kill: its saga hears of the fill.
    const sell = await eventually(async () => {
      const res = await place(seller, order('sell', 10, 'after-kill'));
      expect(res.status).toBe(201);
      return (await res.json()) as { status: string };
    }, 60_000);
    expect(sell.status).toBe('filled');
    await eventually(
      async () => expect((await fx.saga(buyer.accountId, 'before-kill')).status).toBe('filled'),
      30_000,
    );
  }, 120_000);
});

describe('the dev server stopped', () => {
  it('answers 503 with Retry-After on every order route, changes nothing, and recovers', async () => {
    const resting = (await (await place(buyer, order('buy', 5, 'rests-during-outage'))).json()) as {
      order_id: string;
    };
    const cashBefore = await fx.balance(buyer.accountId);
    await temporal.stop();

    await expectUnavailable(await place(buyer, order('buy', 3, 'during-outage')));
    await expectUnavailable(
      await fx.api.call('POST', `/api/v1/orders/${resting.order_id}/cancel`, {
        token: buyer.token,
        body: { client_version: 0 },
      }),
    );
    await expectUnavailable(
      await fx.api.call('DELETE', `/api/v1/orders/${resting.order_id}`, { token: buyer.token }),
    );
    await expectUnavailable(
      await fx.api.call('POST', `/api/v1/orders/${resting.order_id}/replace`, {
        token: buyer.token,
        body: { order: { client_version: 0, quantity: 4 } },
      }),
    );
    await expectUnavailable(await fx.api.call('DELETE', '/api/v1/orders', { token: buyer.token }));
    // Nothing half done: no order row, no reservation for the refused order; the resting one untouched.
    expect(await getOrderByClientId(fx.database.db, buyer.accountId, 'during-outage')).toBeUndefined();
    expect(await fx.balance(buyer.accountId)).toEqual(cashBefore);
    const untouched = await fx.api.call('GET', `/api/v1/orders/${resting.order_id}`, { token: buyer.token });
    expect(untouched.status).toBe(200);
    expect(await untouched.json()).toMatchObject({ status: 'working', quantity: 5, lock_version: 0 });

    await temporal.start();
    const retried = await eventually(async () => {
      const res = await place(buyer, order('buy', 3, 'during-outage'));
      expect(res.status).toBe(201);
      return res;
    }, 60_000);
    expect(retried.status).toBe(201);
    const cancelled = await eventually(async () => {
      const res = await fx.api.call('DELETE', `/api/v1/orders/${resting.order_id}`, { token: buyer.token });
      expect(res.status).toBe(200);
      return (await res.json()) as { status: string };
    }, 30_000);
    expect(cancelled.status).toBe('cancelled');
    await eventually(
      async () =>
        expect((await runAudit(fx.database.db, { pendingGraceSeconds: 0 })).map(formatFinding)).toEqual([]),
      30_000,
    );
  }, 180_000);
});
