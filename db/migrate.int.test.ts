/**
 * The one migrator: several processes starting at once against an empty database create it once and
 * apply the migrations once (advisory lock), and a later run applies nothing. Each migration commits on
 * its own: an index build waiting for a table's writers holds no lock taken by an earlier migration.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterAll, expect, it } from 'vitest';
import { testConfig } from '../test/helpers.js';
import { MIGRATION_LOCK_KEY, ensureDatabase, migrateDatabase } from './migrate.js';

const base = testConfig().DATABASE_URL;
const url = new URL(base);
url.pathname = `${url.pathname}_mig_${randomBytes(3).toString('hex')}`;
const admin = postgres(base.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });

afterAll(async () => {
  await admin.unsafe(`DROP DATABASE IF EXISTS "${url.pathname.slice(1)}" WITH (FORCE)`);
  await admin.end({ timeout: 5 });
});

it('four migrators racing on an empty database apply every migration exactly once', async () => {
  const results = await Promise.all(Array.from({ length: 4 }, () => migrateDatabase(url.toString())));
  const applied = results.map((r) => r.applied).sort();
  expect(applied.filter((n) => n > 0)).toHaveLength(1);
  expect(applied.filter((n) => n === 0)).toHaveLength(3);
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
    expect(row!.n).toBe(Math.max(...applied));
    const [seed] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM instruments`;
    expect(seed!.n).toBeGreaterThan(0); // the seed ran once: a second run would have failed on the unique symbols
    expect((await migrateDatabase(url.toString())).applied).toBe(0);
  } finally {
    await sql.end({ timeout: 5 });
  }
});

it('a migrator whose lock session is killed while it waits fails cleanly, and the next one migrates', async () => {
  const other = new URL(base);
  other.pathname = `${other.pathname}_mig_${randomBytes(3).toString('hex')}`;
  // Advisory locks are per database: hold the migrators' lock in the database they will migrate.
  await ensureDatabase(other.toString());
  const holder = postgres(other.toString(), { max: 1, onnotice: () => {} });
  try {
    await holder`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    const waiting = migrateDatabase(other.toString()).then(
      () => 'migrated',
      (err: unknown) => err,
    );
    // Its lock session, blocked on the lock this test holds: end it the way a failover or an operator would.
    let pid: number | undefined;
    for (let i = 0; i < 100 && pid === undefined; i++) {
      const rows = await admin<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity WHERE datname = ${other.pathname.slice(1)} AND wait_event_type = 'Lock'`;
      pid = rows[0]?.pid;
      if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(pid).toBeDefined();
    await admin`SELECT pg_terminate_backend(${pid!})`;
    const outcome = await waiting;
    expect(outcome).toBeInstanceOf(Error);
    // The terminated session's error, as Postgres names it or as postgres.js does when the socket closes first.
    expect(['57P01', 'CONNECTION_CLOSED']).toContain((outcome as { code?: string }).code);
    await holder`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    expect((await migrateDatabase(other.toString())).applied).toBeGreaterThan(0);
  } finally {
    await holder.end({ timeout: 5 });
    await admin.unsafe(`DROP DATABASE IF EXISTS "${other.pathname.slice(1)}" WITH (FORCE)`);
  }
});

it('an upgrade whose index build waits for a writer of outbox holds no lock on journal_entries meanwhile', async () => {
  const upgraded = new URL(base);
  upgraded.pathname = `${upgraded.pathname}_mig_${randomBytes(3).toString('hex')}`;
  const name = upgraded.pathname.slice(1);
  await migrateDatabase(upgraded.toString(), undefined, 22); // the release before 0022 and 0023's indexes
  const sql = postgres(upgraded.toString(), { max: 1, onnotice: () => {} });
  const writer = postgres(upgraded.toString(), { max: 1, onnotice: () => {} });
  // A writer's transaction on outbox, open until `commit()`: 0023's index build waits for it.
  let commit = () => {};
  const open = new Promise<void>((opened) => {
    const writing = writer.begin(async (tx) => {
      await tx`INSERT INTO outbox (event_type, payload) VALUES ('market.trade', '{}'::jsonb)`;
      await new Promise<void>((resolve) => {
        commit = resolve;
        opened();
      });
    });
    writing.catch(() => undefined);
  });
  let upgrading: Promise<{ applied: number }> | undefined;
  try {
    await open;
    upgrading = migrateDatabase(upgraded.toString());
    let pid: number | undefined;
    for (let i = 0; i < 200 && pid === undefined; i++) {
      const rows = await admin<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity WHERE datname = ${name} AND wait_event_type = 'Lock'
          AND query LIKE '%outbox_dead_idx%'`;
      pid = rows[0]?.pid;
      if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(pid, 'the migrator waits on its build of outbox_dead_idx').toBeDefined();
    // 0022 has committed: its index is there and its lock on journal_entries went with its transaction.
    const held = await sql`
      SELECT mode FROM pg_locks WHERE pid = ${pid!} AND relation = 'journal_entries'::regclass`;
    expect(held).toEqual([]);
    expect(
      await sql`SELECT 1 FROM pg_indexes WHERE indexname = 'journal_entries_created_at_idx'`,
    ).toHaveLength(1);
    commit();
    expect((await upgrading).applied).toBeGreaterThanOrEqual(3); // 0022, 0023, 0024 and any later
    // drizzle's own migrator reads the bookkeeping as its own: nothing left for it to apply.
    const [count] = await sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
    await migrate(drizzle(sql), {
      migrationsFolder: fileURLToPath(new URL('./migrations', import.meta.url)),
    });
    expect(await sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`).toEqual([count]);
  } finally {
    commit();
    await upgrading?.catch(() => undefined);
    await Promise.all([sql.end({ timeout: 5 }), writer.end({ timeout: 5 })]);
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
});
