/**
 * The matching worker as real processes: an owner and a standby compete for shard 0. The owner is
 * killed with SIGKILL 6 times in the middle of a stream of crossing orders, some of them still
 * unanswered; each time the standby takes over, every order of the stream is answered, the new owner's
 * book is the one Postgres holds, no fill is lost or duplicated, and the ledger stays balanced.
 */
import { sql } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Managed } from '../../devstack/processes.js';
import { createLogger } from '../../lib/logger.js';
import { ShardEngine } from '../../shard/index.js';
import { startToCloseTimeouts } from '../../test/histories.js';
import { eventually, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type TestUser } from '../../test/users.js';
import { createMatchingMetrics } from './metrics.js';

interface MatchingProc {
  proc: Managed;
  port: number;
}

let fx: TradingFixture;
/** Every matching process started, the killed ones too (they answer nothing, so own nothing). */
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

const alive = (p: MatchingProc) => p.proc.child.exitCode === null && p.proc.child.signalCode === null;

/** The one process of all those started that says it owns shard 0. */
async function owner(): Promise<MatchingProc> {
  return eventually(async () => {
    const owning: MatchingProc[] = [];
    for (const p of procs) if (await owns(p)) owning.push(p);
    expect(owning).toHaveLength(1);
    return owning[0]!;
  }, 30_000);
}

/** The books of shard 0 rebuilt from Postgres, as /books serves them. */
async function booksInPostgres(): Promise<unknown> {
  const engine = new ShardEngine({
    db: fx.database.db,
    shard: 0,
    shardCount: 1,
    logger: createLogger('error'),
    metrics: createMatchingMetrics(new Registry()),
  });
  await engine.rebuildAll();
  return JSON.parse(JSON.stringify(engine.booksSnapshot())) as unknown;
}

/** The sagas' matching start-to-close here (10 s in production): each kill waits it out once. */
const START_TO_CLOSE_MS = 3000;

beforeAll(async () => {
  // An order whose submit the killed owner had taken waits for its activity's start-to-close timeout
  // and the takeover: the api waits for its ACK longer than that, so every order answers 201.
  fx = await startTradingFixture('matching-kill', {
    matching: false,
    env: {
      MATCHING_SHARDS: '1',
      ORDER_ACK_TIMEOUT_MS: '60000',
      MATCHING_START_TO_CLOSE_MS: String(START_TO_CLOSE_MS),
    },
  });
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
    '6 kills in the middle of a stream of crossing orders: the standby takes over with the book Postgres holds, no fill lost or duplicated',
    { timeout: 400_000 }, // each kill waits out the killed owner's submits (START_TO_CLOSE_MS)
    async () => {
      const buyer: TestUser = await createFundedUser(fx.api, '1000000.00');
      const seller: TestUser = await createFundedUser(fx.api, '0.00', { AAPL: 5000n });
      let n = 0;
      /**
       * `total` orders, `lanes` of them unanswered at once: resting sells at a few prices, buys that cross
       * some of them (fills, partial fills and a book that stays non-empty). `enough` resolves once
       * `threshold` orders were answered; the other lanes' orders are then still unanswered.
       */
      const stream = (total: number, lanes: number, threshold: number) => {
        let sent = 0;
        let answered = 0;
        let reached!: () => void;
        const enough = new Promise<void>((r) => (reached = r));
        const lane = async () => {
          const statuses: number[] = [];
          while (sent < total) {
            const k = n++;
            sent++;
            const i = k >> 1;
            const body = k % 2 === 0 ? order('sell', 3, 189 + (i % 3)) : order('buy', 2, 188 + (i % 4));
            const token = k % 2 === 0 ? seller.token : buyer.token;
            statuses.push((await fx.api.call('POST', '/api/v1/orders', { token, body })).status);
            if (++answered === threshold) reached();
          }
          return statuses;
        };
        const done = Promise.all(Array.from({ length: lanes }, lane)).then((s) => s.flat());
        return { done, enough, unanswered: () => sent - answered };
      };

      for (let kill = 0; kill < 6; kill++) {
        const victim = await owner();
        const [standby, ...others] = procs.filter((p) => p !== victim && alive(p));
        expect(others).toEqual([]);
        const orders = stream(24, 4, 8);
        await orders.enough;
        // Orders went through the owner, and others (the other lanes') are still unanswered.
        const unanswered = orders.unanswered();
        victim.proc.child.kill('SIGKILL');
        expect(unanswered).toBeGreaterThan(0);
        await victim.proc.exited;
        const next = await owner();
        expect(victim.proc.child.signalCode).toBe('SIGKILL');
        expect(next).toBe(standby);
        // The unanswered orders are served by the new owner, once it rebuilt its books.
        expect(await orders.done).toEqual(Array.from({ length: 24 }, () => 201));
        expect(await books(next)).toEqual(await booksInPostgres());
        await startMatching(); // a new standby
      }
      expect(await stream(6, 6, 6).done).toEqual(Array.from({ length: 6 }, () => 201));

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
      // The sagas gave their submits the api's start-to-close, not the production 10 s.
      const [placed] = await db.execute<{ client_order_id: string }>(
        sql`SELECT client_order_id FROM orders WHERE account_id = ${buyer.accountId} LIMIT 1`,
      );
      expect(await startToCloseTimeouts(fx.handle(buyer.accountId, placed!.client_order_id))).toEqual([
        ['submitOrder', START_TO_CLOSE_MS],
      ]);
    },
  );
});
