/**
 * drizzle's statements run as named prepared statements (docs/adr/0015-prepared-statements.md): a second
 * execution of the same query, inside a transaction and inside a savepoint too, finds its statement
 * already prepared on the connection instead of parsing it again.
 */
import { sql } from 'drizzle-orm';
import { afterAll, expect, it } from 'vitest';
import { testConfig } from '../test/helpers.js';
import { connectDatabase } from './client.js';
import { getInstrument } from './queries/orders.js';

const database = connectDatabase(testConfig().DATABASE_URL, { max: 1, appName: 'test-prepared' });
afterAll(() => database.close());

/** The session's prepared statements that read the instruments table (one connection: max 1). */
async function preparedReads(): Promise<number> {
  const [row] = await database.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_prepared_statements
    WHERE statement LIKE 'select %' AND statement LIKE '%from "instruments"%' AND from_sql = false`;
  return row!.n;
}

it('prepares a drizzle query once per connection and reuses it, in and out of transactions', async () => {
  const before = await preparedReads();
  expect(await getInstrument(database.db, 'AAPL')).toMatchObject({ symbol: 'AAPL' });
  expect(await preparedReads()).toBe(before + 1);
  await getInstrument(database.db, 'MSFT');
  await database.db.transaction(async (tx) => {
    await getInstrument(tx, 'AAPL');
    await tx.transaction((sp) => getInstrument(sp, 'AAPL'));
    await tx.execute(sql`SELECT 1`);
  });
  expect(await preparedReads()).toBe(before + 1);
});
