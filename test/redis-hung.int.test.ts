/**
 * Redis hung (SIGSTOP of a `redis-server` of this file's own: its connections stay open and nothing is
 * answered, as a partition or a stalled host looks), under a running stack. Every Redis command fails
 * after the connection's command timeout (lib/redis.ts), so nothing waits for Redis to come back (ADR
 * 0017): authenticated requests and login answer 503 problem+json, market data is served from Postgres,
 * and the relay fails its batch (rows pending for their retry) instead of waiting on its publish.
 */
import type { Command } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { marketCacheKeys } from '../lib/redis-keys.js';
import { expectUnavailable, startPrivateRedis, type PrivateRedis } from './faults.js';
import { eventually, placeGtc, startTradingFixture, type TradingFixture } from './trading.js';
import { createFundedUser, TEST_PASSWORD } from './users.js';

let redis: PrivateRedis;
let fx: TradingFixture;
/** The commands on AAPL's market cache key that the api sent to Redis, */
let cacheCommands: Command[] = [];
/** and those of them that have their reply or error. */
const settled = new WeakSet<Command>();

beforeAll(async () => {
  redis = await startPrivateRedis();
  fx = await startTradingFixture('redishung', { env: { REDIS_URL: redis.url } });
  const api = fx.api.deps.redis;
  const [key] = marketCacheKeys(fx.config.REDIS_PREFIX, 'AAPL');
  const send = api.sendCommand.bind(api);
  api.sendCommand = (command, stream) => {
    if (command.args[0] === key) {
      cacheCommands.push(command);
      const done = () => void settled.add(command);
      command.promise.then(done, done);
    }
    return send(command, stream);
  };
}, 180_000);

afterAll(async () => {
  // Killed first: nothing closing below waits on a server that does not answer.
  await redis?.close();
  await fx?.close();
});

it('a hung Redis: 503 for authenticated requests and login, market data from Postgres, the relay retries', async () => {
  const seller = await createFundedUser(fx.api, '0.00', { AAPL: 5n });
  const buyer = await createFundedUser(fx.api, '5000.00');
  // The relay stopped: the fill's rows wait for the batch run below.
  await fx.stack.relay.stop();
  await placeGtc(fx.api, seller.token, { direction: 'sell', quantity: 5, price: '180.00' });
  await placeGtc(fx.api, buyer.token, { direction: 'buy', quantity: 5, price: '180.00' });
  const fills = await eventually(async () => {
    const rows = await fx.database.sql<{ id: string }[]>`
      SELECT id FROM outbox WHERE event_type = 'execution.report' AND payload->>'fill_id' IS NOT NULL
        AND status = 'pending'`;
    expect(rows).toHaveLength(2);
    return rows.map((r) => r.id);
  });

  redis.freeze();
  await expectUnavailable(await fx.api.call('GET', '/api/v1/orders', { token: buyer.token }));
  await expectUnavailable(
    await fx.api.call('POST', '/api/v1/auth/login', {
      body: { email: buyer.email, password: TEST_PASSWORD },
    }),
  );
  cacheCommands = [];
  const market = await fx.api.call('GET', '/api/v1/market/AAPL');
  expect(market.status, await market.clone().text()).toBe(200);
  expect(await market.json()).toMatchObject({ symbol: 'AAPL', success: true });
  // Its cache read failed (a miss), and the answer did not wait for its cache write.
  expect(cacheCommands.map((c) => c.name)).toEqual(['get', 'set']);
  expect(settled.has(cacheCommands[1]!)).toBe(false);

  // The batch's publish fails instead of waiting: its rows go back to pending, not published, not dead.
  expect(await fx.stack.relay.processBatch()).toBeGreaterThanOrEqual(2);
  expect(
    await fx.database.sql<{ status: string; attempts: number; published: boolean; last_error: string }[]>`
      SELECT status, attempts, published, last_error FROM outbox WHERE id = ANY(${fills}::uuid[])`,
  ).toEqual([
    { status: 'pending', attempts: 1, published: false, last_error: 'Command timed out' },
    { status: 'pending', attempts: 1, published: false, last_error: 'Command timed out' },
  ]);
});

it('a Redis that is gone: market data from Postgres without asking it', async () => {
  await redis.stop();
  await eventually(async () => expect(fx.api.deps.redis.status).not.toBe('ready'));
  cacheCommands = [];
  const market = await fx.api.call('GET', '/api/v1/market/AAPL');
  expect(market.status, await market.clone().text()).toBe(200);
  expect(cacheCommands).toEqual([]);
});
