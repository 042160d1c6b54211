/**
 * MarketFeed on the test Postgres and Redis: a resync sends a subscriber only what changed since its
 * snapshot.
 */
import { afterAll, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis.js';
import { testConfig, testDatabase } from '../../test/helpers.js';
import { postgresHistory } from './history.js';
import { createRedisHub } from './hub.js';
import { MarketFeed, type MarketSubscriber } from './market.js';

const config = testConfig();
const database = testDatabase(config);
const redis = connectRedis(config.REDIS_URL, 'test-market-feed');
const hub = createRedisHub(redis, createLogger('silent'), 'test-market-feed');
afterAll(async () => {
  await hub.close();
  redis.disconnect();
  await database.close();
});

it('a resync of a book unchanged since the subscribe snapshot sends nothing', async () => {
  const feed = new MarketFeed(
    hub,
    postgresHistory(database),
    (symbol) => `${config.REDIS_PREFIX}market-test:${symbol}`,
    { frames: () => undefined, delivered: () => undefined },
    createLogger('silent'),
    () => new Date(),
  );
  const frames: string[] = [];
  const sub: MarketSubscriber = {
    closing: false,
    sendShared: (frame) => frames.push(frame.payload.toString()) > 0,
  };
  // A symbol of this test only: its book (empty) stays as it is.
  const symbol = `RV${process.pid}`;
  for (const channel of ['quotes', 'depth'] as const) await feed.subscribe(sub, channel, symbol);
  expect(frames.map((f) => (JSON.parse(f) as { type: string }).type)).toEqual(['quote', 'depth']);
  await feed.resync();
  expect(frames).toHaveLength(2);
});
