/**
 * An account with a long history (thousands of orders and trades, nearly all of them finished and old):
 * its risk usage and its executions pages read index ranges of the account, not its history. Asserted on
 * the plans that the functions' own statements get (auto_explain prints them as EXPLAIN (FORMAT JSON)
 * does), in a database of the file's own, analyzed after the seed.
 */
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodesOf, planRecorder, type PlanNode } from '../../test/plans.js';
import type { Db } from '../client.js';
import { orderFacts } from './controls.js';
import { listExecutions } from './executions.js';

const A = 'a1000000-0000-0000-0000-00000000000a';
const B = 'a1000000-0000-0000-0000-00000000000b';
/** Orders per account; trade g pairs A's order g with B's order g + 1, executed g x 5 minutes before t0. */
const N = 5_000;
const t0 = new Date();

let client: postgres.Sql;
let db: Db;
/** The plans of the statements run since the last `planOf`. */
let plans: PlanNode[];

/** What `run` returns, and the plan of the one statement it ran. */
async function planOf<T>(run: () => Promise<T>): Promise<{ result: T; plan: PlanNode }> {
  plans.length = 0;
  const result = await run();
  expect(plans).toHaveLength(1);
  return { result, plan: plans[0]! };
}

beforeAll(async () => {
  const recorder = await planRecorder('history');
  ({ client, db, plans } = recorder);
  await client`INSERT INTO accounts (id, kind, name) VALUES (${A}, 'client', 'A'), (${B}, 'client', 'B')`;
  await client`INSERT INTO risk_limits (account_id, max_open_orders, updated_at) VALUES (${A}, 1000, now())`;
  // Orders g of each account: buys for even g; open (working) for g = 1 and 0 modulo 100, filled else.
  await client`
    INSERT INTO orders (id, account_id, client_order_id, symbol, side, order_type, time_in_force, quantity,
                        price, reserve_price, status, filled_quantity, workflow_id)
    SELECT md5(a::text || g)::uuid, a, 'h' || g, 'AAPL', CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END,
           'limit', 'GTC', 10, 100, 100, CASE WHEN g % 100 IN (0, 1) THEN 'working' ELSE 'filled' END,
           CASE WHEN g % 100 IN (0, 1) THEN 0 ELSE 10 END, 'h' || a::text || g
      FROM generate_series(1, ${N}) g, unnest(${[A, B]}::uuid[]) a`;
  const order = (account: string, g: string) => `md5('${account}' || ${g})::uuid`;
  await client.unsafe(
    `
    INSERT INTO trades (id, symbol, buy_order_id, sell_order_id, buy_account_id, sell_account_id, maker_order_id,
                        price, quantity, executed_at)
    SELECT gen_random_uuid(), 'AAPL', CASE WHEN g % 2 = 0 THEN ${order(A, 'g')} ELSE ${order(B, 'g + 1')} END,
           CASE WHEN g % 2 = 0 THEN ${order(B, 'g + 1')} ELSE ${order(A, 'g')} END,
           CASE WHEN g % 2 = 0 THEN '${A}'::uuid ELSE '${B}'::uuid END,
           CASE WHEN g % 2 = 0 THEN '${B}'::uuid ELSE '${A}'::uuid END,
           ${order(B, 'g + 1')}, 100, 10, $1::timestamptz - g * interval '5 minutes'
      FROM generate_series(1, ${N - 1}) g
    UNION ALL -- and one trade between two orders of A, at t0
    SELECT gen_random_uuid(), 'AAPL', ${order(A, '2')}, ${order(A, '3')}, '${A}', '${A}', ${order(A, '3')},
           100, 10, $1::timestamptz`,
    [t0.toISOString()],
  );
  await client`ANALYZE orders`;
  await client`ANALYZE trades`;
  await recorder.explain();
}, 60_000);

afterAll(() => client?.end({ timeout: 5 }));

describe('an account with a long history', () => {
  it('reads its risk usage from index ranges of its open orders and of its trades since a time', async () => {
    const since = new Date(t0.getTime() - 62.5 * 60_000); // trades 1 to 12, and the one at t0
    const { result, plan } = await planOf(() => orderFacts(db, { symbol: 'AAPL', accountId: A, since }));
    expect(result.usage).toEqual({
      openOrders: 100,
      position: 0n,
      openBuys: 500n,
      // 12 trades of 1 000 cents, and the trade between two of its orders, once per side
      dailyNotional: 14_000n,
    });
    const nodes = nodesOf(plan);
    const history = (n: PlanNode) => /^(orders|trades)$/.test(n['Relation Name'] ?? '');
    expect(nodes.filter((n) => history(n) && n['Node Type'] === 'Seq Scan')).toEqual([]);
    const indexes = nodes.map((n) => n['Index Name']).filter((n) => n && /^(orders|trades)_/.test(n));
    // Index ranges of the account, and the validated order's own row by its primary key (`recorded`).
    expect(new Set(indexes)).toEqual(
      new Set([
        'orders_account_open_idx',
        'orders_pkey',
        'trades_buy_account_idx',
        'trades_sell_account_idx',
      ]),
    );
  });

  it('reads each page of its executions as two index ranges from the cursor on, merged without a sort', async () => {
    const first = await planOf(() => listExecutions(db, { accountId: A, limit: 50 }));
    const last = first.result.at(-1)!;
    const second = await planOf(() =>
      listExecutions(db, {
        accountId: A,
        limit: 50,
        after: { executedAtMicros: last.executedAtMicros, tradeId: last.tradeId, orderId: last.orderId },
      }),
    );
    // The trade between two orders of A is two executions, then one per trade, newest first, no repeats.
    const rows = [...first.result, ...second.result];
    expect(rows.slice(0, 2).map((r) => r.side)).toEqual(expect.arrayContaining(['buy', 'sell']));
    expect(rows.slice(0, 2).map((r) => r.tradeId)).toEqual([rows[0]!.tradeId, rows[0]!.tradeId]);
    expect(rows.map((r) => r.executedAt.getTime())).toEqual([
      t0.getTime(),
      t0.getTime(),
      ...Array.from({ length: 98 }, (_, i) => t0.getTime() - (i + 1) * 300_000),
    ]);
    for (const { plan } of [first, second]) {
      const nodes = nodesOf(plan);
      expect(nodes.map((n) => n['Node Type']).filter((t) => /Seq Scan|Sort/.test(t))).toEqual([]);
      expect(
        nodes.filter((n) => n['Relation Name']).map((n) => [n['Relation Name'], n['Index Name']]),
      ).toEqual([
        ['trades', 'trades_buy_account_idx'],
        ['trades', 'trades_sell_account_idx'],
      ]);
    }
  });
});
