/**
 * Leases on a role that one process at a time plays: a matching shard's owner (matching/worker.ts), the
 * active outbox relay (outbox/worker.ts). The holder keeps a Postgres advisory lock on a dedicated
 * connection. A standby polls for the lock and takes over within about a second of the holder's death
 * (Postgres releases the lock when the holder's connection closes). The holder pings its connection; if
 * it is lost, the lock is gone too, and `onLost` must stop playing the role at once (the worker then
 * stands by for the lock again).
 */
import { sql as q, type SQL } from 'drizzle-orm';
import postgres from 'postgres';

/** Advisory-lock key of a shard: a fixed namespace in the high bits, the shard number in the low ones. */
export const shardLockKey = (shard: number): bigint => (0x62726b78n << 16n) | BigInt(shard);
/** Advisory-lock key of the active outbox relay: a namespace of its own. */
export const relayLockKey = 0x72656c79n << 16n;

export interface Lease {
  /**
   * A boolean SQL expression, true while this lease's session holds the lock (pg_locks); false at once
   * when the lease is known lost. Evaluated in a settlement transaction's last statement, it keeps an
   * owner that lost the lock from committing after it.
   */
  held(): SQL;
  release(): Promise<void>;
}

/**
 * Wait for the lock `key` (polling every `pollMs`) and hold it; null when `signal` aborts the wait.
 * `appName` names the lock's connection in pg_stat_activity.
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
    onnotice: () => {},
    connection: { application_name: opts.appName },
  });
  const lockKey = key.toString();
  let warned = false;
  for (;;) {
    if (opts.signal?.aborted) {
      await sql.end({ timeout: 1 });
      return null;
    }
    try {
      const [row] = await sql<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${lockKey}::bigint) AS ok`;
      if (row?.ok) break;
    } catch {
      /* Postgres unreachable: keep trying */
    }
    if (!warned) opts.onWaiting?.();
    warned = true;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
  // postgres.js reconnects silently; a new backend pid means a new session that does not hold the lock.
  const [{ pid } = { pid: -1 }] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
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
  // (db/queries/settlement.ts). A bigint advisory key shows in pg_locks as classid (high 32 bits) and
  // objid (low 32 bits).
  const holding = q`EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = ${pid}
    AND objsubid = 1 AND classid::int8 = (${lockKey}::int8 >> 32) AND objid::int8 = (${lockKey}::int8 & 4294967295))`;
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
