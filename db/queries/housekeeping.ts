/**
 * The lock behind the api's housekeeping (api/housekeeping.ts): every api instance runs it, and each of
 * its batches is a transaction that first tries a per-task advisory lock. An instance that finds the lock
 * taken leaves the work to the instance holding it, so two never delete the same rows at once.
 */
import { sql } from 'drizzle-orm';
import type { Db, DbOrTx } from '../client.js';

/** Run `fn` in a transaction holding the lock of `task`; undefined, without running it, when it is taken. */
export async function withHousekeepingLock<T>(
  db: Db,
  task: string,
  fn: (tx: DbOrTx) => Promise<T>,
): Promise<T | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await tx.execute<{ ok: boolean }>(
      sql`SELECT pg_try_advisory_xact_lock(hashtextextended(${`brokerx:housekeeping:${task}`}, 0)) AS ok`,
    );
    return row?.ok ? fn(tx) : undefined;
  });
}
