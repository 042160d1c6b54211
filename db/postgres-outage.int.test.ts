/**
 * Postgres refusing connections for a while (stopped, restarting), through a proxy of this file's own:
 * a pool (db/client.ts) and a lease connection (workers/lease.ts) connect again as soon as it is back.
 * Each failed connect lengthens the wait before the next one (postgres.js's backoff), so an outage here
 * is a count of refused connects, as many as a long outage makes; once they were refused, Postgres must
 * answer within a bound far below what postgres.js's default backoff has grown to by then (10 to 20 s)
 * and far above a connect (milliseconds).
 */
import { randomInt } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { timed } from '../api/dependencies.js';
import { startTcpProxy, type TcpProxy } from '../test/faults.js';
import { acquireLease } from '../workers/lease.js';
import { connectDatabase } from './client.js';

/** Connects refused in a row: postgres.js's default backoff then waits 10 to 20 s before the next. */
const REFUSED = 7;
/** How soon Postgres answers once back (reconnectBackoff: within a second plus the connect). */
const BACK_WITHIN_MS = 5000;

/** Each test's own proxy: a client of an earlier test still connecting takes none of its refusals. */
let proxy: TcpProxy;

beforeEach(async () => {
  proxy = await startTcpProxy(inject('env').DATABASE_URL!);
});

afterEach(async () => {
  await proxy.close();
});

describe('Postgres back after an outage', () => {
  it('a pool answers the next query', async () => {
    const database = connectDatabase(proxy.url, { max: 1, appName: 'pg-outage-test' });
    try {
      await database.sql`SELECT 1`;
      let refused = false;
      void proxy.outage(REFUSED).then(() => (refused = true));
      // Every query meanwhile fails (a 503 in the api): on its cut connection, or after a refused connect.
      while (!refused) await expect(database.sql`SELECT 1`).rejects.toThrow();
      // What the api's /ready checks.
      expect(await timed(() => database.sql`SELECT 1`, BACK_WITHIN_MS)).toMatchObject({ ok: true });
    } finally {
      await database.close();
    }
  });

  it('a lease waiting for its lock takes it', async () => {
    const refused = proxy.outage(REFUSED);
    const standby = new AbortController();
    const lease = acquireLease(proxy.url, BigInt(randomInt(2 ** 47)), {
      appName: 'pg-outage-test-lease',
      pollMs: 50,
      signal: standby.signal,
      onLost: () => undefined,
    });
    try {
      await refused;
      expect(await timed(() => lease, BACK_WITHIN_MS)).toMatchObject({ ok: true });
    } finally {
      standby.abort();
      await (await lease)?.release();
    }
  });
});
