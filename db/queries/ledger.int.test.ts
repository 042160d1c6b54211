/**
 * `post_entry` takes the sequence rows of its accounts before their balance rows (db/migrations/0015), so
 * a transaction that enqueued an account's event and then posts an entry for it (a settlement batch
 * whose earlier operation produced the event) and one that posts an entry for the account and then
 * enqueues its event (a reserve) wait for each other in turn instead of deadlocking.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../client.js';
import { isolatedEnv } from '../../test/isolated.js';
import { testConfig, testDatabase } from '../../test/helpers.js';
import { eventually } from '../../test/eventually.js';
import { CASH_ASSET, EXTERNAL_ACCOUNT_ID } from '../accounts.js';

let database: Database;
beforeAll(async () => {
  database = testDatabase(testConfig(await isolatedEnv('ledger-locks')));
});
afterAll(() => database?.close());

const postings = (...rows: [account: string, bucket: string, amount: number][]) =>
  JSON.stringify(
    rows.map(([account_id, bucket, amount]) => ({ account_id, asset: CASH_ASSET, bucket, amount })),
  );
const event = (accountId: string) =>
  JSON.stringify([{ account_id: accountId, event_type: 'test.event', payload: {} }]);

describe('post_entry and enqueue_events in one transaction', () => {
  it('an event enqueued first and an entry posted first for the same account do not deadlock', async () => {
    const account = (
      await database.sql<{ id: string }[]>`
        INSERT INTO accounts (kind, name) VALUES ('client', 'lock order') RETURNING id`
    )[0]!.id;
    // Funded, and with a sequence row (its first event).
    await database.sql`SELECT post_entry('deposit', ${randomUUID()}, NULL, ${postings(
      [account, 'available', 1000],
      [EXTERNAL_ACCOUNT_ID, 'available', -1000],
    )}::jsonb)`;
    await database.sql`SELECT enqueue_events(${event(account)}::jsonb, false)`;

    const settlement = await database.sql.reserve();
    const reserve = await database.sql.reserve();
    try {
      const pid = (await reserve<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
      // The settlement's earlier operation: an event for the account, its sequence row now held.
      await settlement`BEGIN`;
      await settlement`SELECT enqueue_events(${event(account)}::jsonb, false)`;
      // The reserve: an entry for the account, then its events, in one transaction.
      const reserved = (async () => {
        await reserve`BEGIN`;
        await reserve`SELECT post_entry('reserve', ${randomUUID()}, NULL, ${postings(
          [account, 'available', -10],
          [account, 'reserved', 10],
        )}::jsonb)`;
        await reserve`SELECT enqueue_events(${event(account)}::jsonb, false)`;
        await reserve`COMMIT`;
      })().then(
        () => 'committed',
        (err: unknown) => err,
      );
      await eventually(async () => {
        const [row] = await database.sql<{ wait_event_type: string | null }[]>`
          SELECT wait_event_type FROM pg_stat_activity WHERE pid = ${pid}`;
        expect(row?.wait_event_type).toBe('Lock');
      });
      // The settlement's later operation: an entry for the same account. With the balance row taken by
      // the reserve before the sequence row, this waited for the reserve while the reserve waited for
      // it, until Postgres broke the deadlock a second later by failing one of them.
      await settlement`SELECT post_entry('trade', ${randomUUID()}, NULL, ${postings(
        [account, 'available', 5],
        [EXTERNAL_ACCOUNT_ID, 'available', -5],
      )}::jsonb)`;
      await settlement`COMMIT`;
      expect(await reserved).toBe('committed');
    } finally {
      settlement.release();
      reserve.release();
    }
    const [balance] = await database.sql<{ available: string; reserved: string }[]>`
      SELECT available::text, reserved::text FROM balances WHERE account_id = ${account}::uuid AND asset = ${CASH_ASSET}`;
    expect(balance).toEqual({ available: '995', reserved: '10' });
    const seqs = await database.sql<{ account_seq: string }[]>`
      SELECT account_seq::text FROM outbox WHERE account_id = ${account}::uuid ORDER BY account_seq`;
    expect(seqs.map((r) => r.account_seq)).toEqual(['1', '2', '3']);
  });
});
