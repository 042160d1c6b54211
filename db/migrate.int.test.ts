/**
 * The one migrator: several processes starting at once against an empty database create it once and
 * apply the migrations once (advisory lock), and a later run applies nothing.
 */
import { randomBytes } from 'node:crypto';
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
