/**
 * The one migrator. Creates the database if it is missing, then applies the committed SQL migrations
 * under an advisory lock so that several processes starting at once apply them exactly once.
 */
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

const MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));
/** Arbitrary constant: "brokerx migrate". */
export const MIGRATION_LOCK_KEY = 0x62726b78;

export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`Refusing to create database with name "${name}"`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (rows.length === 0) {
      try {
        await sql.unsafe(`CREATE DATABASE "${name}"`);
      } catch (err) {
        // Another process created it between our check and our CREATE.
        if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505')
          throw err;
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Drop every database on the server of `url` whose name starts with `namePrefix` (a test run's, a
 * benchmark's or a cluster's scratch databases), forcing their connections out.
 */
export async function dropDatabasesNamed(url: string, namePrefix: string): Promise<void> {
  if (!/^[A-Za-z0-9_]+$/.test(namePrefix))
    throw new Error(`Refusing to drop databases named "${namePrefix}*"`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    const like = `${namePrefix.replace(/_/g, '\\_')}%`;
    const dbs = await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${like}`;
    for (const { datname } of dbs) await sql.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function migrateDatabase(url: string): Promise<{ applied: number }> {
  await ensureDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  // The lock's session: a client of its own rather than `sql.reserve()`, whose handle makes postgres.js
  // 3.4 throw an uncaught error (the process exits) once that connection has been closed under it.
  const lock = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await lock`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    const before = await countApplied(sql);
    await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS });
    const after = await countApplied(sql);
    return { applied: after - before };
  } finally {
    await lock`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => undefined);
    await Promise.all([lock.end({ timeout: 5 }), sql.end({ timeout: 5 })]);
  }
}

async function countApplied(sql: postgres.Sql): Promise<number> {
  const rows = await sql<{ n: string }[]>`
    SELECT count(*)::text AS n FROM information_schema.tables
    WHERE table_schema = 'drizzle' AND table_name = '__drizzle_migrations'`;
  if (rows[0]?.n === '0') return 0;
  const [row] = await sql<{ n: string }[]>`SELECT count(*)::text AS n FROM drizzle.__drizzle_migrations`;
  return Number(row?.n ?? 0);
}
