/**
 * The trading worker is a real process here, killed with SIGKILL while sagas are mid-flight and then
 * restarted: every saga completes and nothing is reserved twice; a saga whose worker died right after its
 * reserve committed validates again (its reservation as recorded) and ends accepted, or refused by the
 * shard (a control changed meanwhile) and rejected with its reservation given back.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runAudit } from '../../db/audit.js';
import type { Managed } from '../../devstack/processes.js';
import { FailureType } from '../../temporal/failures.js';
import { blockedBy, holding } from '../../test/locks.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';

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

/**
 * Place a buy of 1 AAPL at 160.00 and SIGKILL the worker right after its reserve committed, before its
 * first workflow task completed. Deterministically: the test holds the account's USD balance row, so the
 * reserve's statement (sent, waiting for that row) cannot finish; the worker is killed while it waits,
 * then the row is let go and Postgres, which has the statement already, commits it. The order is then
 * pending with its cash reserved and its saga's history holds none of it: the next worker runs the task
 * again from validation. `inWindow` runs while no worker is up (a control changed in the crash window).
 */
async function killedAfterReserve(u: FundedTestUser, clientOrderId: string, inWindow = async () => {}) {
  const lock = await holding(
    fx.database,
    (tx) => tx`SELECT 1 FROM balances WHERE account_id = ${u.accountId}::uuid AND asset = 'USD' FOR UPDATE`,
  );
  const answer = fx.api.call('POST', '/api/v1/orders', { token: u.token, body: order(clientOrderId) });
  await blockedBy(fx.database, lock.pid);
  worker!.child.kill('SIGKILL');
  await worker!.exited;
  lock.release();
  const row = await eventually(async () => {
    const [r] = await fx.database.db.execute<{ id: string; status: string; reserved_amount: string }>(sql`
      SELECT id, status, reserved_amount::text FROM orders
       WHERE account_id = ${u.accountId}::uuid AND client_order_id = ${clientOrderId}`);
    expect(r).toMatchObject({ status: 'pending', reserved_amount: '16000' });
    return r!;
  });
  await inWindow();
  worker = await startWorker();
  return { orderId: row.id, answer: await answer };
}

/** The order's row and the execution reports queued for it. */
async function orderState(orderId: string) {
  const [r] = await fx.database.db.execute<{
    status: string;
    reserved_amount: string;
    reports: { exec_type: string; status: string }[];
  }>(sql`
    SELECT status, reserved_amount::text,
           (SELECT coalesce(json_agg(json_build_object('exec_type', payload->>'exec_type',
              'status', payload->>'status') ORDER BY pos), '[]')
              FROM outbox WHERE event_type = 'execution.report' AND payload->>'order_id' = ${orderId}) AS reports
      FROM orders WHERE id = ${orderId}::uuid`);
  return r!;
}

it(
  'SIGKILL right after the reserve committed: validating again returns the reservation as recorded (max_open_orders 1)',
  { timeout: 180_000 },
  async () => {
    const u = await createFundedUser(fx.api, '1000.00');
    await fx.database.db.execute(
      sql`INSERT INTO risk_limits (account_id, max_open_orders, updated_at) VALUES (${u.accountId}::uuid, 1, now())`,
    );
    const { orderId, answer } = await killedAfterReserve(u, 'reserved-then-killed');
    // Answered after the restart, or timed out while no worker ran (the saga goes on).
    expect([201, 504]).toContain(answer.status);
    const state = await eventually(async () => {
      const s = await fx.saga(u.accountId, 'reserved-then-killed');
      expect(s.status).toBe('working');
      return s;
    }, 60_000);
    expect(state).toMatchObject({ phase: 'live', compensations: [] });
    expect(await orderState(orderId)).toMatchObject({ status: 'working', reserved_amount: '16000' });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n - 16_000n, reserved: 16_000n });
    expect(await runAudit(fx.database.db, { pendingGraceSeconds: 0 })).toEqual([]);
  },
);

it(
  'SIGKILL right after the reserve committed, the account frozen meanwhile: the shard refuses it, reservation given back, the feed told',
  { timeout: 180_000 },
  async () => {
    const u = await createFundedUser(fx.api, '1000.00');
    const { orderId, answer } = await killedAfterReserve(u, 'frozen-while-killed', async () => {
      // The freeze as the control workflow writes it (db/queries/controls.ts `setAccountFrozen`).
      await fx.database.db.execute(
        sql`UPDATE accounts SET status = 'frozen' WHERE id = ${u.accountId}::uuid`,
      );
    });
    expect([422, 504]).toContain(answer.status);
    const state = await fx.handle(u.accountId, 'frozen-while-killed').result();
    // Validation returned the reservation as recorded; the shard, under its control locks, refused the
    // order (submitOrder), and the saga withdrew it (rejected, its reservation released) and released.
    expect(state).toMatchObject({
      status: 'rejected',
      rejectCode: FailureType.AccountFrozen,
      compensations: ['withdrawFromBook', 'releaseReservation'],
    });
    expect(await orderState(orderId)).toEqual({
      status: 'rejected',
      reserved_amount: '0',
      reports: [{ exec_type: 'rejected', status: 'rejected' }],
    });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
    expect(await runAudit(fx.database.db, { pendingGraceSeconds: 0 })).toEqual([]);
  },
);
