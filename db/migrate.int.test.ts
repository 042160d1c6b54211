/**
 * The one migrator: several processes starting at once against an empty database create it once and
 * apply the migrations once (advisory lock), and a later run applies nothing.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, expect, it } from 'vitest';
import { testConfig } from '../test/helpers.js';
import { migrateDatabase } from './migrate.js';

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
