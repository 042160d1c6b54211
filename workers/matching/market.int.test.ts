/**
 * The shards' market data publisher (./market.ts) against Redis: an update drops the symbol's REST cache
 * and reaches the symbol's channel. Its connection then goes through a TCP proxy that the test cuts: the
 * updates that fail meanwhile are sent again once the connection is back, each symbol's newest only.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../devstack/processes.js';
import type { Config } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { connectRedis, removeRedisKeys } from '../../lib/redis.js';
import { marketCacheKeys, marketChannel } from '../../lib/redis-keys.js';
import type { MarketUpdatePayload } from '../../temporal/events.js';
import { eventually } from '../../test/eventually.js';
import { testConfig } from '../../test/helpers.js';
import { isolatedEnv } from '../../test/isolated.js';
import { createMarketPublisher } from './market.js';
import { createMatchingMetrics } from './metrics.js';

let config: Config;
beforeAll(async () => {
  config = testConfig(await isolatedEnv('market-publisher'));
});
afterAll(async () => {
  if (config) await removeRedisKeys(config.REDIS_URL, config.REDIS_PREFIX);
});

/** A TCP proxy to `target` on a port of its own that the test can cut (`cut`) and restore (`restore`). */
async function proxy(target: URL): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const restore = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port || 6379), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      }).listen(port, '127.0.0.1', resolve);
    });
  const cut = async () => {
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      for (const s of sockets) s.destroy();
      sockets.clear();
    });
  };
  await restore();
  return { port, cut, restore };
}

const update = (symbol: string, askQty: number): MarketUpdatePayload => ({
  symbol,
  quote: { bid: null, ask: { price: 25_000, qty: askQty } },
  depth: { bids: [], asks: [{ price: 25_000, qty: askQty, orders: 1 }] },
  trades: [],
  ts: new Date().toISOString(),
});

describe('the market data publisher', () => {
  it('drops the REST cache and publishes; after an outage, sends the newest failed update of each symbol again', async () => {
    const prefix = config.REDIS_PREFIX;
    const line = await proxy(new URL(config.REDIS_URL));
    const conn = connectRedis(`redis://127.0.0.1:${line.port}/0`, 'test-market-publisher');
    const metrics = createMatchingMetrics(new Registry());
    const publisher = createMarketPublisher({
      redis: conn,
      prefix,
      logger: createLogger('error'),
      metrics,
      retryMs: 200,
    });
    const sub = connectRedis(config.REDIS_URL, 'test-market-sub');
    const admin = connectRedis(config.REDIS_URL, 'test-market-admin');
    const received: { symbol: string; event_type: string; event_id: string; quote: unknown }[] = [];
    sub.on('message', (_c: string, m: string) => void received.push(JSON.parse(m) as (typeof received)[0]));
    const failures = async () =>
      (await metrics.marketUpdates.get()).values.find((v) => v.labels.outcome === 'failed')?.value ?? 0;
    try {
      await sub.subscribe(marketChannel(prefix, 'TSLA'), marketChannel(prefix, 'GOOG'));
      await admin.set(marketCacheKeys(prefix, 'TSLA')[0], 'stale');
      publisher.publish(update('TSLA', 1));
      await eventually(async () => expect(received).toHaveLength(1));
      expect(received[0]).toMatchObject({
        symbol: 'TSLA',
        event_type: 'market.update',
        quote: { ask: { qty: 1 } },
      });
      expect(received[0]!.event_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await admin.exists(marketCacheKeys(prefix, 'TSLA')[0])).toBe(0);

      // Cut off: three updates fail (and fail again at each retry); GOOG's first is replaced by its second.
      await line.cut();
      publisher.publish(update('TSLA', 2));
      publisher.publish(update('GOOG', 3));
      publisher.publish(update('GOOG', 4));
      await eventually(async () => expect(await failures()).toBeGreaterThanOrEqual(3), 15_000);
      expect(received).toHaveLength(1);

      await line.restore();
      await eventually(async () => expect(received).toHaveLength(3), 15_000);
      expect(Object.fromEntries(received.slice(1).map((m) => [m.symbol, m.quote]))).toEqual({
        TSLA: { bid: null, ask: { price: 25_000, qty: 2 } },
        GOOG: { bid: null, ask: { price: 25_000, qty: 4 } },
      });
      // Sent once each: nothing is left to send again.
      await new Promise((r) => setTimeout(r, 600));
      expect(received).toHaveLength(3);
    } finally {
      publisher.stop();
      conn.disconnect();
      sub.disconnect();
      admin.disconnect();
      await line.cut();
    }
  }, 60_000);
});
