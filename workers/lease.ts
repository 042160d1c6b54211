/**
 * Leases on a role that one process at a time plays: a matching shard's owner (matching/worker.ts), the
 * active outbox relay (outbox/worker.ts). The holder keeps a Postgres advisory lock on a dedicated
 * connection. A standby polls for the lock and takes over within about a second of the holder's death
 * (Postgres releases the lock when the holder's connection closes). The holder pings its connection; if
 * it is lost, the lock is gone too, and `onLost` must stop playing the role at once (the worker then
 * stands by for the lock again). A new holder first waits for the transactions of earlier holders that
 * found their lease held (`held()`) and have not ended (docs/adr/0042-fence-holds-until-commit.md).
 */
import { sql as q, type SQL } from 'drizzle-orm';
import postgres from 'postgres';
import { reconnectBackoff } from '../db/client.js';

/** Advisory-lock key of a shard: a fixed namespace in the high bits, the shard number in the low ones. */
export const shardLockKey = (shard: number): bigint => (0x62726b78n << 16n) | BigInt(shard);
/** Advisory-lock key of the active outbox relay: a namespace of its own. */
export const relayLockKey = 0x72656c79n << 16n;

export interface Lease {
  /**
   * A boolean SQL expression, true while this lease's session holds the lock (pg_locks); false at once
   * when the lease is known lost. It first takes the lease's gate shared until its transaction ends
   * (`lease_held`, migration 0017), and the next holder waits for that gate before it starts: a
   * transaction that found the lease held ends (commits or not) before the next holder reads anything.
   * Evaluated in a settlement batch's last statement, it keeps an owner that lost the lock from
   * committing behind the new owner's rebuilt books.
   */
  held(): SQL;
  release(): Promise<void>;
}

/**
 * Wait for the lock `key` (polling every `pollMs`) and hold it, then for every transaction of an earlier
 * holder that found its lease held and has not ended (a settlement batch that passed its fence: it may
 * still commit); null when `signal` aborts the wait for the lock. `appName` names the lock's connection
 * in pg_stat_activity.
 */
export async function acquireLease(
  databaseUrl: string,
  key: bigint,
  opts: {
    appName: string;
    pollMs?: number;
    signal?: AbortSignal;
    onLost: (err: unknown) => void;
    onWaiting?: () => void;
  },
): Promise<Lease | null> {
  // fetch_types off: only scalar queries here, and a terminated connection must not fail it unhandled (db/client.ts).
  const sql = postgres(databaseUrl, {
    max: 1,
    idle_timeout: 0,
    fetch_types: false,
    backoff: reconnectBackoff,
    onnotice: () => {},
    connection: { application_name: opts.appName },
  });
  const lockKey = key.toString();
  let warned = false;
  // postgres.js reconnects silently; a new backend pid means a new session that does not hold the lock.
  let pid: number;
  for (;;) {
    if (opts.signal?.aborted) {
      await sql.end({ timeout: 1 });
      return null;
    }
    try {
      const [row] = await sql<{ ok: boolean; pid: number }[]>`
        SELECT pg_try_advisory_lock(${lockKey}::bigint) AS ok, pg_backend_pid() AS pid`;
      if (row?.ok) {
        pid = row.pid;
        break;
      }
    } catch {
      /* Postgres unreachable: keep trying */
    }
    if (!warned) opts.onWaiting?.();
    warned = true;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
  try {
    await sql`SELECT lease_drain(${lockKey}::bigint)`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw err;
  }
  let released = false;
  const lost = (err: unknown) => {
    if (released) return;
    released = true;
    clearInterval(ping);
    void sql.end({ timeout: 1 }).catch(() => undefined);
    opts.onLost(err);
  };
  const ping = setInterval(() => {
    sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`.then(
      ([row]) => row?.pid !== pid && lost(new Error('lock connection was replaced')),
      lost,
    );
  }, opts.pollMs ?? 500);
  // One object each, for the life of the lease: a settlement's statement is built once per check
  // (db/queries/settlement.ts).
  const holding = q`lease_held(${pid}, ${lockKey}::int8)`;
  const notHolding = q`false`;
  return {
    held: () => (released ? notHolding : holding),
    async release() {
      if (released) return;
      released = true;
      clearInterval(ping);
      await sql`SELECT pg_advisory_unlock(${lockKey}::bigint)`.catch(() => undefined);
      await sql.end({ timeout: 2 });
    },
  };
}
