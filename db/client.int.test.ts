/**
 * drizzle's statements run as named prepared statements (docs/adr/0015-prepared-statements.md): a second
 * execution of the same query, inside a transaction and inside a savepoint too, finds its statement
 * already prepared on the connection instead of parsing it again. Statements built once (`prebuilt`,
 * docs/adr/0029-prebuilt-statements.md) run with their values and their rows map as drizzle maps them.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, expect, it } from 'vitest';
import { testConfig } from '../test/helpers.js';
import { connectDatabase, prebuilt, rowMapper } from './client.js';
import { instruments } from './schema.js';
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

it('runs a prebuilt statement with its values, in and out of transactions, and maps rows as drizzle does', async () => {
  const echo = prebuilt<{ symbol: string; n: string | null }, { symbol: string; n: bigint | null }>(
    sql`SELECT ${sql.placeholder('symbol')}::text AS symbol, ${sql.placeholder('n')}::bigint AS n`,
  );
  expect(await echo(database.db, { symbol: 'AAPL', n: '12' })).toEqual([{ symbol: 'AAPL', n: 12n }]);
  await database.db.transaction(async (tx) => {
    expect(await echo(tx, { symbol: 'MSFT', n: null })).toEqual([{ symbol: 'MSFT', n: null }]);
    await tx.transaction(async (sp) => expect(await echo(sp, { symbol: 'X', n: '1' })).toHaveLength(1));
  });
  await expect(echo(database.db, { symbol: 'AAPL' } as never)).rejects.toThrow('no value for n');

  const byDrizzle = await database.db.select().from(instruments).where(eq(instruments.symbol, 'AAPL'));
  const raw = await prebuilt(sql`SELECT * FROM instruments WHERE symbol = 'AAPL'`)(database.db, {});
  expect(raw.map(rowMapper(instruments))).toEqual(byDrizzle);
});

it('commits without waiting for the WAL flush only on a connection that asks to (the outbox relay)', async () => {
  const relay = connectDatabase(testConfig().DATABASE_URL, {
    max: 1,
    appName: 'test-async-commit',
    asyncCommit: true,
  });
  try {
    const setting = async (s: typeof relay.sql) =>
      (await s<{ synchronous_commit: string }[]>`SHOW synchronous_commit`)[0]!.synchronous_commit;
    expect(await setting(relay.sql)).toBe('off');
    expect(await setting(database.sql)).toBe('on');
  } finally {
    await relay.close();
  }
});
