/**
 * Fixed interleavings against the real Postgres: another transaction holds a row lock until released, and
 * a test waits until a given backend is the one a statement waits for (a lock wait), so that it starts the
 * next step at a known point of the one before.
 */
import type { TransactionSql } from 'postgres';
import type { Database } from '../db/client.js';
import { eventually } from './eventually.js';

/** The backend blocked by backend `pid` (a lock wait), once there is one. */
export const blockedBy = (database: Database, pid: number) =>
  eventually(async () => {
    const [row] = await database.sql<{ pid: number }[]>`
      SELECT pid FROM pg_stat_activity WHERE ${pid}::int = ANY(pg_blocking_pids(pid))`;
    if (!row) throw new Error(`nothing waits for backend ${pid}`);
    return row.pid;
  });

/**
 * Another transaction that has run `take` and holds what it took until `release()`, then rolls back;
 * `pid` is its backend.
 */
export async function holding(database: Database, take: (tx: TransactionSql) => Promise<unknown>) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const pid = await new Promise<number>((held, failed) => {
    database.sql
      .begin(async (tx) => {
        const [row] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        await take(tx);
        held(row!.pid);
        await released;
        throw new Error('rolled back');
      })
      .catch(failed); // once held, only the rollback itself, which settles nothing
  });
  return { pid, release };
}
