/**
 * The relay's claim (`claimOutboxRows`: the `claim_outbox` function, db/migrations/0016): rows in insert
 * order, up to its limit, without writing to them, also the rows of one transaction in a heap with free
 * space here and there, and an account's rows of transactions that committed in another order than they
 * started; the previous batch is marked done by the next claim; a failed row waits for its retry time,
 * counts its failed attempts and keeps that it was published, and a row already done is not put back; and
 * the rows already relayed are not read again by every later claim. `enqueue_events` wakes the relays at
 * commit, except in the statement that records a new order.
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
import { claimOutboxRows, enqueueEvents, markOutboxFailed, outboxJson } from './outbox.js';

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
  it('claims the pending rows in insert order, up to its limit; the next claim marks the delivered batch done', async () => {
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

  it('a failed row waits for its retry time, and each claim says which attempt it is and whether one published it', async () => {
    const [row] = await insert(1);
    const first = await claim(10);
    expect(first[0]).toMatchObject({ attempts: 1, published: false });
    const failed = (backoffSeconds: number, published: boolean) =>
      markOutboxFailed(database.sql, {
        id: row!,
        dead: false,
        error: 'smtp down',
        backoffSeconds,
        published,
      });
    await failed(60, true);
    expect(ids(await claim(10))).toEqual([]);
    // An attempt that did not publish (it skipped the publish) keeps what an earlier one did.
    await failed(0, false);
    const again = await claim(10);
    expect(ids(again)).toEqual([row]);
    expect(again[0]).toMatchObject({ attempts: 3, published: true });
    await claim(10, [row!]);
    expect(await statusOf(row!)).toBe('done');
  });

  it('a failure reported for a row already done leaves it done', async () => {
    // A relay that lost its lease unawares reports its failure after the relay that took over delivered
    // the row and marked it done.
    const [row] = await insert(1);
    await claim(10);
    await claim(10, [row!]);
    const attempts = async () =>
      (await database.sql<{ attempts: number }[]>`SELECT attempts FROM outbox WHERE id = ${row!}::uuid`)[0]!
        .attempts;
    for (const dead of [false, true])
      await markOutboxFailed(database.sql, {
        id: row!,
        dead,
        error: 'late',
        backoffSeconds: 0,
        published: false,
      });
    expect(await statusOf(row!)).toBe('done');
    expect(await attempts()).toBe(0);
  });

  it("returns one transaction's rows in insert order, also when the heap has free space here and there", async () => {
    // An empty outbox (this file's database is its own): the heap holds only what follows.
    await database.sql`TRUNCATE outbox`;
    // One connection, as the shard writes on its own: its inserts go on where its last ones went.
    const conn = await database.sql.reserve();
    try {
      // Churn as relayed rows leave it, and later traffic walking the free space forward: rows deleted
      // and vacuumed between live ones, then later rows written and deleted again.
      const pad = (tag: string, n: number) => conn`
        INSERT INTO outbox (event_type, payload, status)
        SELECT 'market.update', jsonb_build_object('symbol', ${tag}::text, 'pad', repeat(md5(i::text), 40)), 'done'
        FROM generate_series(1, ${n}::int) AS i`;
      await pad('CHURN1', 2000);
      await conn`
        DELETE FROM outbox WHERE id IN (
          SELECT id FROM (SELECT id, row_number() OVER (ORDER BY pos) AS n FROM outbox WHERE payload->>'symbol' = 'CHURN1') r
          WHERE n % 3 <> 0)`;
      await conn`VACUUM outbox`;
      await pad('CHURN2', 1200);
      await conn`DELETE FROM outbox WHERE payload->>'symbol' = 'CHURN2'`;
      await conn`VACUUM outbox`;
      // As the shard's group commit writes a batch's market data: one transaction, each row the book
      // after one more operation (no account, so no account_seq: all the rows' claim keys tie but pos).
      const ts = new Date().toISOString();
      const events = outboxJson(
        Array.from({ length: 64 }, (_, op) => ({
          accountId: null,
          eventType: EventType.MarketUpdate,
          payload: { symbol: 'TIETEST', quote: null, depth: null, trades: [], ts, op, pad: 'x'.repeat(1280) },
        })),
      );
      await conn`SELECT enqueue_events(${events}::jsonb)`;
    } finally {
      conn.release();
    }
    const claimed = await claim(200);
    expect(claimed.map((r) => (r.payload as { op?: number }).op)).toEqual(
      Array.from({ length: 64 }, (_, op) => op),
    );
    await claim(0, ids(claimed));
  });

  it("returns an account's rows in sequence order when a transaction that started later committed first", async () => {
    await database.sql`UPDATE outbox SET status = 'done' WHERE status = 'pending'`;
    const accepted = (clientOrderId: string) =>
      outboxJson([
        {
          accountId: HOUSE_ACCOUNT_ID,
          eventType: EventType.OrderAccepted,
          payload: {
            order_id: randomUUID(),
            client_order_id: clientOrderId,
            symbol: 'SEQTEST',
            side: 'buy',
            order_type: 'limit',
            time_in_force: 'GTC',
            quantity: '1',
            price: '17000',
            stop_price: null,
            ts: new Date().toISOString(),
          },
        },
      ]);
    await database.sql.begin(async (early) => {
      // Its rows' created_at is its start, now.
      await early`SELECT now()`;
      // Another transaction, started later, enqueues the account's next event and commits first.
      await database.sql`SELECT enqueue_events(${accepted('later-start')}::jsonb)`;
      await early`SELECT enqueue_events(${accepted('earlier-start')}::jsonb)`;
    });
    const claimed = await claim(10);
    expect(claimed.map((r) => (r.payload as { client_order_id: string }).client_order_id)).toEqual([
      'later-start',
      'earlier-start',
    ]);
    expect(Number(claimed[0]!.account_seq) + 1).toBe(Number(claimed[1]!.account_seq));
    await claim(0, ids(claimed));
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
