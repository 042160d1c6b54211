/**
 * A matching worker of this release started on the database of the release before (migration 0024,
 * `post_entry`'s p_at, not applied; nothing else migrates it: the api and the trading worker here are
 * in process): it applies what its code needs before it serves, so its settlements write instead of
 * failing on the old `post_entry`.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { migrateDatabase } from '../../db/migrate.js';
import type { Managed } from '../../devstack/processes.js';
import { eventually, placeGtc, startTradingFixture, type TradingFixture } from '../../test/trading.js';
import { createFundedUser } from '../../test/users.js';

const url = new URL(inject('env').DATABASE_URL!);
url.pathname = `${url.pathname}_behind_${randomBytes(3).toString('hex')}`;
const admin = postgres(url.toString().replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });
let fx: TradingFixture | undefined;
let matching: Managed | undefined;

/** post_entry's argument lists on the database. */
async function postEntrySignatures(): Promise<string[]> {
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ args: string }[]>`
      SELECT pg_get_function_identity_arguments(oid) AS args FROM pg_proc WHERE proname = 'post_entry'`;
    return rows.map((r) => r.args);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

beforeAll(async () => {
  await migrateDatabase(url.toString(), undefined, 24);
  expect(await postEntrySignatures()).toEqual([
    'p_kind text, p_reference text, p_memo text, p_postings jsonb',
  ]);
  fx = await startTradingFixture('upgrade', {
    matching: false,
    env: { DATABASE_URL: url.toString(), MATCHING_SHARDS: '1' },
  });
}, 120_000);

afterAll(async () => {
  await matching?.stop('SIGTERM', 5000);
  await fx?.close();
  await admin.unsafe(`DROP DATABASE IF EXISTS "${url.pathname.slice(1)}" WITH (FORCE)`);
  await admin.end({ timeout: 5 });
});

describe('a matching worker on the schema of the release before', () => {
  it('migrates before it serves, and its settlements write', { timeout: 120_000 }, async () => {
    const started = await fx!.workerProcess('worker-matching', 'workers/matching/main.ts', {
      MATCHING_SHARDS: '1',
    });
    matching = started.proc;
    // It owns shard 0 once it serves (after its migration).
    await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${started.port}/metrics`)).text();
      expect(text).toMatch(/matching_shard_owned\{[^}]*shard="0"[^}]*\} 1\b/);
    }, 60_000);
    expect(await postEntrySignatures()).toEqual([
      'p_kind text, p_reference text, p_memo text, p_postings jsonb, p_at timestamp with time zone',
    ]);

    const seller = await createFundedUser(fx!.api, '0.00', { AAPL: 5n });
    const buyer = await createFundedUser(fx!.api, '1000.00');
    await placeGtc(fx!.api, seller.token, { direction: 'sell', quantity: 5, price: '190.00' });
    expect(
      (await placeGtc(fx!.api, buyer.token, { direction: 'buy', quantity: 5, price: '190.00' })).status,
    ).toBe('filled');
    expect(await fx!.balance(buyer.accountId, 'AAPL')).toEqual({ available: 5n, reserved: 0n });
    expect(await fx!.imbalances()).toEqual([]);
  });
});
