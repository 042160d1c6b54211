/**
 * The one migrator. Creates the database if it is missing, then applies the committed SQL migrations
 * under an advisory lock so that several processes starting at once apply them exactly once. The api
 * and every worker run it at start (a process's code needs its schema); `npm run migrate` and compose's
 * `migrate` run it before them (docs/runbooks/upgrade.md).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import postgres from 'postgres';
import type { Logger } from '../lib/logger.js';

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

/**
 * Apply the migrations not applied yet, each in a transaction of its own: drizzle's `migrate()` applies
 * them all in one, so the locks one takes (an index build's on its table) would be held until the last
 * one commits. The bookkeeping is drizzle's (`drizzle.__drizzle_migrations`: the file's hash, its
 * journal `when`), so either reads the other's. `logger` hears what it waits for and applies. `before`:
 * only the migrations numbered below it (a test's database of an earlier release).
 */
export async function migrateDatabase(
  url: string,
  logger?: Logger,
  before = Infinity,
): Promise<{ applied: number }> {
  await ensureDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  // The lock's session: a client of its own rather than `sql.reserve()`, whose handle makes postgres.js
  // 3.4 throw an uncaught error (the process exits) once that connection has been closed under it.
  const lock = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [free] = await lock<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) AS ok`;
    if (!free?.ok) {
      logger?.info('waiting for another process migrating the database');
      await lock`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    }
    await sql`CREATE SCHEMA IF NOT EXISTS drizzle`;
    await sql`CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations
      (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`;
    const [last] = await sql<{ at: string | null }[]>`
      SELECT max(created_at)::text AS at FROM drizzle.__drizzle_migrations`;
    const journal = JSON.parse(readFileSync(`${MIGRATIONS}/meta/_journal.json`, 'utf8')) as {
      entries: { idx: number; tag: string }[];
    };
    const files = readMigrationFiles({ migrationsFolder: MIGRATIONS }); // in the journal's order
    let applied = 0;
    for (const [i, { idx, tag }] of journal.entries.entries()) {
      const migration = files[i]!;
      if (idx >= before) break;
      if (last?.at != null && Number(last.at) >= migration.folderMillis) continue;
      logger?.info('applying migration', { migration: tag });
      await sql.begin(async (tx) => {
        for (const statement of migration.sql) await tx.unsafe(statement);
        await tx`INSERT INTO drizzle.__drizzle_migrations (hash, created_at)
          VALUES (${migration.hash}, ${migration.folderMillis})`;
      });
      applied++;
    }
    return { applied };
  } finally {
    await lock`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => undefined);
    await Promise.all([lock.end({ timeout: 5 }), sql.end({ timeout: 5 })]);
  }
}
