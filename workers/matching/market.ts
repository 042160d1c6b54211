/**
 * The shards' market data to Redis (docs/adr/0040-market-data-from-the-shard.md): each update drops the
 * symbol's REST cache (api/routes/market.ts) and goes to its channel, in the order given (one connection:
 * ioredis sends its commands in order). An update is a whole book, so only a symbol's newest one matters:
 * when its publish fails, that update is kept and sent again when the connection is back (or after
 * `retryMs`, when it failed on a live connection), unless a newer update of the symbol was handed over
 * since.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';
import { marketCacheKeys, marketChannel } from '../../lib/redis-keys.js';
import type { MarketUpdatePayload, PublishedMarketEvent } from '../../temporal/events.js';
import type { MatchingMetrics } from './metrics.js';

export interface MarketPublisher {
  publish: (update: MarketUpdatePayload) => void;
  stop: () => void;
}

export function createMarketPublisher(deps: {
  redis: Redis;
  prefix: string;
  logger: Logger;
  metrics: MatchingMetrics;
  retryMs?: number;
}): MarketPublisher {
  const { redis, prefix, logger, metrics } = deps;
  /** Each symbol's newest update handed over, and those of them whose publish failed. */
  const newest = new Map<string, MarketUpdatePayload>();
  const failed = new Map<string, MarketUpdatePayload>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const retry = () => {
    clearTimeout(timer);
    timer = undefined;
    // While the connection is down, 'ready' retries: nothing piles up in the client's offline queue.
    if (redis.status !== 'ready') return;
    for (const update of [...failed.values()]) publish(update);
  };
  const scheduleRetry = () => {
    if (!stopped && !timer) timer = setTimeout(retry, deps.retryMs ?? 1000).unref();
  };

  function publish(update: MarketUpdatePayload): void {
    const { symbol } = update;
    newest.set(symbol, update);
    failed.delete(symbol);
    const event: PublishedMarketEvent = { ...update, event_id: randomUUID(), event_type: 'market.update' };
    redis
      .pipeline()
      .del(...marketCacheKeys(prefix, symbol))
      .publish(marketChannel(prefix, symbol), JSON.stringify(event))
      .exec()
      .then((results) => {
        const err = results?.find(([e]) => e)?.[0];
        if (err) throw err;
        metrics.marketUpdates.inc({ outcome: 'published' });
      })
      .catch((err: unknown) => {
        metrics.marketUpdates.inc({ outcome: 'failed' });
        if (newest.get(symbol) !== update) return; // a newer update is on its way
        if (failed.size === 0) logger.warn('market data not published, retrying', { symbol, err });
        failed.set(symbol, update);
        scheduleRetry();
      });
  }

  const onReady = () => {
    if (failed.size > 0 && !stopped) retry();
  };
  redis.on('ready', onReady);

  return {
    publish,
    stop() {
      stopped = true;
      clearTimeout(timer);
      redis.off('ready', onReady);
    },
  };
}
