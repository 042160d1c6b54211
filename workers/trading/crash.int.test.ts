/**
 * The trading worker is a real process here, killed with SIGKILL while sagas are mid-flight and then
 * restarted: every saga completes and nothing is reserved twice.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Managed } from '../../devstack/processes.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser } from '../../test/users.js';

let fx: TradingFixture;
let worker: Managed | undefined;

async function startWorker(): Promise<Managed> {
  const { proc } = await fx.workerProcess('worker-trading', 'workers/trading/main.ts', {
    INSTANCE_ID: 'trading-crash-test',
  });
  return proc;
}

beforeAll(async () => {
  // The 30 placements sent at once below are one account's: its share of the admission is all of them.
  fx = await startTradingFixture('trading-kill', {
    trading: false,
    env: { MAX_INFLIGHT_ORDERS_PER_ACCOUNT: '32' },
  });
  worker = await startWorker();
}, 180_000);
afterAll(async () => {
  await worker?.stop('SIGTERM', 10_000);
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

const order = (clientOrderId: string) => ({
  order: {
    symbol: 'AAPL',
    order_type: 'limit',
    direction: 'buy',
    quantity: 1,
    price: 160,
    time_in_force: 'GTC',
    client_order_id: clientOrderId,
  },
});

it(
  'SIGKILL mid-saga: after a restart every saga completes and nothing is reserved twice',
  { timeout: 180_000 },
  async () => {
    const u = await createFundedUser(fx.api, '100000.00');
    // Warm up: the worker has bundled its workflows and serves.
    const warm = await fx.api.call('POST', '/api/v1/orders', { token: u.token, body: order('warm') });
    expect(warm.status).toBe(201);

    const ids = Array.from({ length: 30 }, (_, i) => `kill-${i}`);
    let answered = 0;
    const responses = Promise.all(
      ids.map(async (id) => {
        const res = await fx.api.call('POST', '/api/v1/orders', { token: u.token, body: order(id) });
        answered++;
        return res;
      }),
    );
    // Kill once sagas are mid-flight: their funds reserved and the order recorded pending, not yet in
    // the book (the submit turns it working), and their requests unanswered.
    let midFlight = 0;
    while (midFlight === 0) {
      if (answered === ids.length) throw new Error('every saga finished before one was seen mid-flight');
      const [row] = await fx.database.db.execute<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM orders WHERE account_id = ${u.accountId}::uuid AND status = 'pending'`,
      );
      midFlight = row!.n;
    }
    const unanswered = ids.length - answered;
    worker!.child.kill('SIGKILL');
    expect(midFlight).toBeGreaterThan(0);
    expect(unanswered).toBeGreaterThan(0);
    await worker!.exited;
    worker = await startWorker();
    // Each request answers: ACKed (201), or timed out while the worker was down (504); none is a 5xx error.
    for (const res of await responses) expect([201, 504]).toContain(res.status);

    // Every saga reaches its live state after the restart.
    for (const id of ['warm', ...ids]) {
      await eventually(async () => {
        const state = await fx.saga(u.accountId, id);
        expect(state.status).toBe('working');
      }, 60_000);
    }
    const n = ids.length + 1;
    expect(await fx.balance(u.accountId)).toEqual({
      available: 10_000_000n - BigInt(n) * 16_000n,
      reserved: BigInt(n) * 16_000n,
    });
    const [row] = await fx.database.db.execute<{ orders: number; reserves: number }>(sql`
    SELECT (SELECT count(*)::int FROM orders WHERE account_id = ${u.accountId}::uuid AND status = 'working') AS orders,
           (SELECT count(*)::int FROM journal_entries e JOIN postings p ON p.entry_id = e.id
             WHERE e.kind = 'reserve' AND p.account_id = ${u.accountId}::uuid AND p.bucket = 'reserved') AS reserves`);
    expect(row).toEqual({ orders: n, reserves: n });
  },
);
