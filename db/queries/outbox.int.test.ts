/**
 * The relay's claim (`claimOutboxRows`: the `claim_outbox` function, db/migrations/0010): oldest rows
 * first, up to its limit; a leased row is not claimed again until its lease runs out; rows another claim
 * holds are skipped; the previous batch is marked done only while it is still under its lease; and the
 * rows already relayed are not read again by every later claim.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../client.js';
import { isolatedEnv } from '../../test/isolated.js';
import { testConfig, testDatabase } from '../../test/helpers.js';
import { claimOutboxRows } from './outbox.js';

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

const claim = (limit: number, done: string[] = [], leaseSeconds = 30) =>
  claimOutboxRows(database.sql, { limit, leaseSeconds, done });
const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
const statusOf = async (id: string) =>
  (await database.sql<{ status: string }[]>`SELECT status FROM outbox WHERE id = ${id}::uuid`)[0]!.status;

describe('claim_outbox', () => {
  it('claims the oldest pending rows first, up to its limit, and not again while they are leased', async () => {
    const rows = await insert(5);
    const first = await claim(3);
    expect(ids(first)).toEqual(rows.slice(0, 3));
    expect(first.every((r) => r.attempts === 1)).toBe(true);
    expect(ids(await claim(10))).toEqual(rows.slice(3));
    expect(await claim(10)).toEqual([]);
    // The next claim marks a delivered batch done; the rest stays pending under its lease.
    expect(await claim(10, rows.slice(0, 3))).toEqual([]);
    expect(await Promise.all(rows.map(statusOf))).toEqual(['done', 'done', 'done', 'pending', 'pending']);
    await claim(10, rows.slice(3));
  });

  it('skips the rows that another claim holds', async () => {
    const rows = await insert(4);
    await database.sql.begin(async (tx) => {
      const held = await tx<{ id: string }[]>`SELECT * FROM claim_outbox('{}'::uuid[], 30, 2)`;
      expect(ids(held)).toEqual(rows.slice(0, 2));
      // Another connection, while those two are locked by the open transaction: the next two.
      expect(ids(await claim(10))).toEqual(rows.slice(2));
    });
    await claim(10, rows);
  });

  it('marks done only rows still under their lease: a row whose lease ran out is claimed again', async () => {
    const [row] = await insert(1);
    expect(ids(await claim(10, [], 0))).toEqual([row]);
    const again = await claim(10, [row!]);
    expect(ids(again)).toEqual([row]);
    expect(again[0]!.attempts).toBe(2);
    expect(await statusOf(row!)).toBe('pending');
    await claim(10, [row!]);
    expect(await statusOf(row!)).toBe('done');
  });

  it('does not read the rows already relayed again on every claim', async () => {
    // 3 000 rows relayed and marked done, no vacuum since: their old entries are still in the index.
    const relayed = await insert(3_000);
    expect(await claim(3_000)).toHaveLength(3_000);
    await claim(10, relayed);
    const pages = async () => {
      const [plan] = await database.sql<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }[]>`
        EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM claim_outbox('{}'::uuid[], 30, 200)`;
      const top = plan!['QUERY PLAN'][0].Plan;
      return top['Shared Hit Blocks']! + top['Shared Read Blocks']!;
    };
    await pages(); // the first scan past them marks their entries dead
    const [fresh] = await insert(1);
    const touched = await pages();
    // A scan that read the relayed rows again would visit nearly every heap page of the table (a bitmap
    // scan did: 126 of 135 pages here); the index scan reads the index and the fresh row's page.
    const [{ pages: heapPages }] = await database.sql<[{ pages: number }]>`
      SELECT (pg_relation_size('outbox') / current_setting('block_size')::int)::int AS pages`;
    expect(heapPages).toBeGreaterThan(100);
    expect(touched).toBeLessThan(heapPages / 2);
    expect(await statusOf(fresh!)).toBe('pending');
  });
});
