/**
 * The relay's claim (`claimOutboxRows`: the `claim_outbox` function, db/migrations/0013): oldest rows
 * first, up to its limit, without writing to them; the previous batch is marked done by the next claim;
 * a failed row waits for its retry time and counts its failed attempts; and the rows already relayed are
 * not read again by every later claim. `enqueue_events` wakes the relays at commit,
 * except in the statement that records a new order.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../client.js';
import { isolatedEnv } from '../../test/isolated.js';
import { testConfig, testDatabase } from '../../test/helpers.js';
import { eventually } from '../../test/eventually.js';
import { HOUSE_ACCOUNT_ID } from '../accounts.js';
import { EventType } from '../../temporal/events.js';
import { insertPendingOrder } from './orders.js';
import { claimOutboxRows, enqueueEvents, markOutboxFailed } from './outbox.js';

let database: Database;
beforeAll(async () => {
  database = testDatabase(testConfig(await isolatedEnv('outbox-claim')));
});
afterAll(() => database?.close());

/** `n` market updates, each a millisecond younger than the one before; their ids, oldest first. */
async function insert(n: number): Promise<string[]> {
  const rows = await database.sql<{ id: string }[]>`
    INSERT INTO outbox (event_type, payload, created_at)
    SELECT 'market.update', jsonb_build_object('symbol', 'CLAIMTEST'), now() + make_interval(secs => i / 1000.0)
    FROM generate_series(1, ${n}::int) AS i
    ORDER BY i
    RETURNING id`;
  return rows.map((r) => r.id);
}

const claim = (limit: number, done: string[] = []) => claimOutboxRows(database.sql, { limit, done });
const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
const statusOf = async (id: string) =>
  (await database.sql<{ status: string }[]>`SELECT status FROM outbox WHERE id = ${id}::uuid`)[0]!.status;

describe('claim_outbox', () => {
  it('claims the oldest pending rows first, up to its limit; the next claim marks the delivered batch done', async () => {
    const rows = await insert(5);
    const written = async () =>
      (
        await database.sql<
          { xmin: string }[]
        >`SELECT xmin::text FROM outbox WHERE id = ANY(${rows}::uuid[]) ORDER BY created_at`
      ).map((r) => r.xmin);
    const before = await written();
    const first = await claim(3);
    expect(ids(first)).toEqual(rows.slice(0, 3));
    expect(first.every((r) => r.attempts === 1)).toBe(true);
    // The claim wrote nothing to the rows it returned: the same row versions.
    expect(await written()).toEqual(before);
    // Until it is marked done, a row is claimed again (one relay relays at a time: its own next claim
    // marks what it delivered first).
    expect(ids(await claim(10, rows.slice(0, 3)))).toEqual(rows.slice(3));
    expect(await Promise.all(rows.map(statusOf))).toEqual(['done', 'done', 'done', 'pending', 'pending']);
    expect(await claim(10, rows.slice(3))).toEqual([]);
    expect(await Promise.all(rows.map(statusOf))).toEqual(['done', 'done', 'done', 'done', 'done']);
  });

  it('a failed row waits for its retry time, and each claim says which attempt it is', async () => {
    const [row] = await insert(1);
    expect((await claim(10))[0]!.attempts).toBe(1);
    await markOutboxFailed(database.sql, { id: row!, dead: false, error: 'smtp down', backoffSeconds: 60 });
    expect(ids(await claim(10))).toEqual([]);
    await markOutboxFailed(database.sql, { id: row!, dead: false, error: 'smtp down', backoffSeconds: 0 });
    const again = await claim(10);
    expect(ids(again)).toEqual([row]);
    expect(again[0]!.attempts).toBe(3);
    await claim(10, [row!]);
    expect(await statusOf(row!)).toBe('done');
  });

  it('does not read the rows already relayed again on every claim', async () => {
    // 4 000 rows relayed and marked done, no vacuum since: their old entries are still in the index.
    const relayed = await insert(4_000);
    expect(await claim(4_000)).toHaveLength(4_000);
    await claim(10, relayed);
    const pages = async () => {
      const [plan] = await database.sql<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }[]>`
        EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM claim_outbox('{}'::uuid[], 200)`;
      const top = plan!['QUERY PLAN'][0].Plan;
      return top['Shared Hit Blocks']! + top['Shared Read Blocks']!;
    };
    const [{ pages: heapPages }] = await database.sql<[{ pages: number }]>`
      SELECT (pg_relation_size('outbox') / current_setting('block_size')::int)::int AS pages`;
    expect(heapPages).toBeGreaterThan(100);
    const [fresh] = await insert(1);
    // A scan past the relayed rows' entries marks them dead once no transaction that was running when they
    // were marked done still runs, in any database of the server, and the suite's other files run beside
    // this one (a writing transaction held in another database: 77 pages on each claim until it ended,
    // the figure of a CI run that failed here). A scan that read them on every claim would visit nearly
    // every heap page of the table (a bitmap scan did); the index scan reads the index and the fresh
    // row's page.
    await eventually(async () => expect(await pages()).toBeLessThan(heapPages / 2), 30_000);
    expect(await pages()).toBeLessThan(heapPages / 2);
    expect(await statusOf(fresh!)).toBe('pending');
  });
});

describe('enqueue_events', () => {
  it("wakes the relays at commit, except for a new order's events (its settlement wakes them)", async () => {
    const woken: string[] = [];
    const listener = await database.sql.listen('brokerx_outbox', () => void woken.push('notify'));
    const rowsOf = async (symbol: string) =>
      (
        await database.sql<{ event_type: string }[]>`
          SELECT event_type FROM outbox WHERE payload->>'symbol' = ${symbol}`
      ).map((r) => r.event_type);
    const orderId = randomUUID();
    try {
      // The reserve step's statement: the order, its accepted event, no notification.
      await insertPendingOrder(
        database.db,
        {
          id: orderId,
          accountId: HOUSE_ACCOUNT_ID,
          clientOrderId: `quiet-${orderId}`,
          symbol: 'GOOG',
          side: 'buy',
          orderType: 'limit',
          timeInForce: 'GTC',
          selfTradePrevention: 'cancel_newest',
          requestFingerprint: orderId,
          quantity: 1n,
          price: 17000n,
          stopPrice: null,
          reservedAmount: 17000n,
          reservePrice: 17000n,
          workflowId: `quiet-${orderId}`,
        },
        [],
        [
          {
            accountId: HOUSE_ACCOUNT_ID,
            eventType: EventType.OrderAccepted,
            payload: {
              order_id: orderId,
              client_order_id: `quiet-${orderId}`,
              symbol: 'GOOG',
              side: 'buy',
              order_type: 'limit',
              time_in_force: 'GTC',
              quantity: '1',
              price: '17000',
              stop_price: null,
              ts: new Date().toISOString(),
            },
          },
        ],
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await rowsOf('GOOG')).toEqual([EventType.OrderAccepted]);
      expect(woken).toEqual([]);

      // Any other outbox write notifies.
      await enqueueEvents(database.db, [
        {
          accountId: null,
          eventType: EventType.MarketUpdate,
          payload: { symbol: 'WAKETEST', quote: null, depth: null, trades: [], ts: new Date().toISOString() },
        },
      ]);
      await eventually(async () => expect(woken).toEqual(['notify']), 5_000);
      expect(await rowsOf('WAKETEST')).toEqual([EventType.MarketUpdate]);
    } finally {
      await listener.unlisten();
    }
  });
});
