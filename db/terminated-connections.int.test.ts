/**
 * Postgres connections terminated under the processes (pg_terminate_backend, as a failover, a restart
 * or an operator does), only this file's own: found by the application_name prefix of its config.
 * Requests in flight get 503 with Retry-After, never a 500; every pool reconnects by itself; the
 * matching shard that lost its lock connection takes the lock back and serves again; the books audit
 * clean afterwards.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectUnavailable, terminateConnections } from '../test/faults.js';
import { eventually, startTradingFixture, type TradingFixture } from '../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../test/users.js';
import { formatFinding, runAudit } from './audit.js';

const prefix = `bxfault-${randomBytes(3).toString('hex')}-`;
let fx: TradingFixture;
let buyer: FundedTestUser;
let seller: FundedTestUser;
let n = 0;

const place = (u: FundedTestUser, direction: 'buy' | 'sell', quantity: number) =>
  fx.api.call('POST', '/api/v1/orders', {
    token: u.token,
    body: {
      order: {
        symbol: 'AAPL',
        order_type: 'limit',
        direction,
        quantity,
        price: '160.00',
        time_in_force: 'GTC',
        client_order_id: `pg-${++n}`,
      },
    },
  });

beforeAll(async () => {
  fx = await startTradingFixture('pgterm', { env: { DATABASE_APPLICATION_PREFIX: prefix } });
  [buyer, seller] = await Promise.all([
    createFundedUser(fx.api, '100000.00'),
    createFundedUser(fx.api, '0', { AAPL: 500n }),
  ]);
  expect((await place(buyer, 'buy', 10)).status).toBe(201);
}, 180_000);

afterAll(async () => {
  await fx?.close();
});

const ownConnections = async () => {
  const rows = await fx.database.db.execute<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE starts_with(application_name, ${prefix})`,
  );
  return rows[0]?.n ?? 0;
};

describe('connections terminated', () => {
  it('are only this stack’s, named by the prefix (api pool, workers pool, shard lock)', async () => {
    const names = await fx.database.db.execute<{ application_name: string }>(
      sql`SELECT DISTINCT application_name FROM pg_stat_activity WHERE starts_with(application_name, ${prefix}) ORDER BY 1`,
    );
    expect(names.map((r) => r.application_name.slice(prefix.length))).toEqual(
      expect.arrayContaining([expect.stringMatching(/-shard-0$/)]),
    );
  });

  it('never answer 500 while connections die under requests, and serve again by themselves', async () => {
    const statuses: number[] = [];
    const unavailable: Response[] = [];
    const burst = async () => {
      const res = await fx.api.call('GET', '/api/v1/orders', { token: buyer.token });
      statuses.push(res.status);
      if (res.status === 503) unavailable.push(res);
    };
    // A round can find none of the stack's connections open yet (the pools reconnect when a query needs
    // one, and the burst's requests may not have reached Postgres): count what the rounds terminated.
    let terminated = 0;
    for (let round = 0; round < 5; round++) {
      const inFlight = Array.from({ length: 20 }, burst);
      terminated += await terminateConnections(fx.config.DATABASE_URL, prefix);
      await Promise.all(inFlight);
    }
    expect(terminated).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    for (const res of unavailable) await expectUnavailable(res);
    await eventually(
      async () =>
        expect((await fx.api.call('GET', '/api/v1/portfolio', { token: buyer.token })).status).toBe(200),
      10_000,
    );
  }, 60_000);

  it('the matching shard that lost its lock takes it back and settles again', async () => {
    const shard = fx.stack.shards[0]!;
    // The test before also killed the lock's connection: the shard may still be taking it back, and a
    // standby holds no lock to lose. Start from a serving shard.
    await eventually(async () => expect(shard.engine()).not.toBeNull(), 120_000);
    const before = shard.losses();
    await terminateConnections(fx.config.DATABASE_URL, prefix);
    await eventually(async () => expect(shard.losses()).toBeGreaterThan(before), 10_000);
    // The lost term's Temporal worker must finish shutting down (its long polls return) before the
    // shard serves again: on a loaded machine that can take longer than a minute.
    await eventually(async () => expect(shard.engine()).not.toBeNull(), 120_000);
    // The rebuilt book still holds the buy that rested before: a sell fills it.
    const sell = await eventually(async () => {
      const res = await place(seller, 'sell', 10);
      expect(res.status).toBe(201);
      return (await res.json()) as { status: string };
    }, 30_000);
    expect(sell.status).toBe('filled');
    expect(await ownConnections()).toBeGreaterThan(0);
    await eventually(
      async () =>
        expect((await runAudit(fx.database.db, { pendingGraceSeconds: 0 })).map(formatFinding)).toEqual([]),
      30_000,
    );
  }, 360_000);
});
