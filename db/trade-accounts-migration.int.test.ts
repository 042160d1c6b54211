/**
 * Migration 0018 on a database that already has trades: it gives each trade its two orders' accounts.
 * The database is migrated up to the migration before it, a trade is recorded as the settlement recorded
 * them then, and the migrator applies the rest.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterAll, expect, it } from 'vitest';
import { testConfig } from '../test/helpers.js';
import { ensureDatabase, migrateDatabase } from './migrate.js';

const base = testConfig().DATABASE_URL;
const url = new URL(base);
url.pathname = `${url.pathname}_tam_${randomBytes(3).toString('hex')}`;
const admin = postgres(base.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });
const before = mkdtempSync(join(tmpdir(), 'brokerx-migrations-'));

afterAll(async () => {
  rmSync(before, { recursive: true, force: true });
  await admin.unsafe(`DROP DATABASE IF EXISTS "${url.pathname.slice(1)}" WITH (FORCE)`);
  await admin.end({ timeout: 5 });
});

it('migration 0018 gives the trades recorded before it their orders’ accounts', async () => {
  // The committed migrations before 0018.
  const folder = fileURLToPath(new URL('./migrations', import.meta.url));
  cpSync(folder, before, { recursive: true });
  const journalFile = join(before, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { idx: number }[] };
  journal.entries = journal.entries.filter((e) => e.idx < 18);
  writeFileSync(journalFile, JSON.stringify(journal));
  await ensureDatabase(url.toString());
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await migrate(drizzle(sql), { migrationsFolder: before });
    const [buyer, seller] = ['a2000000-0000-0000-0000-00000000000b', 'a2000000-0000-0000-0000-00000000000c'];
    await sql`INSERT INTO accounts (id, kind, name) VALUES (${buyer}, 'client', 'buyer'), (${seller}, 'client', 'seller')`;
    const [buy, sell] = ['b2000000-0000-0000-0000-000000000001', 'b2000000-0000-0000-0000-000000000002'];
    await sql`
      INSERT INTO orders (id, account_id, client_order_id, symbol, side, order_type, time_in_force, quantity,
                          price, reserve_price, status, filled_quantity, workflow_id)
      VALUES (${buy}, ${buyer}, 'b', 'AAPL', 'buy', 'limit', 'GTC', 10, 100, 100, 'filled', 10, 'b'),
             (${sell}, ${seller}, 's', 'AAPL', 'sell', 'limit', 'GTC', 10, 100, 100, 'filled', 10, 's')`;
    await sql`
      INSERT INTO trades (id, symbol, buy_order_id, sell_order_id, maker_order_id, price, quantity)
      VALUES (gen_random_uuid(), 'AAPL', ${buy}, ${sell}, ${sell}, 100, 10)`;

    await migrateDatabase(url.toString());
    expect(await sql`SELECT buy_account_id::text, sell_account_id::text FROM trades`).toEqual([
      { buy_account_id: buyer, sell_account_id: seller },
    ]);
  } finally {
    await sql.end({ timeout: 5 });
  }
});
