/**
 * The workers of one integration test file, in process: trading worker (prebuilt workflow bundle),
 * every matching shard, and the outbox relay, all on the run's isolated task queues and database.
 */
import { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { inject } from 'vitest';
import { applicationName, type Config } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { createMailer } from '../lib/mailer.js';
import { connectRedis } from '../lib/redis.js';
import { connectDatabase } from '../db/client.js';
import { createTradingWorker } from '../workers/trading/worker.js';
import { createSagaMetrics } from '../workers/worker-metrics.js';
import { createMatchingMetrics } from '../workers/matching/metrics.js';
import { startMatchingShard, type MatchingShard } from '../workers/matching/worker.js';
import { createOutboxRelay, type Relay } from '../workers/outbox/relay.js';
import type { ShardEngine } from '../workers/matching/shard-engine.js';
import type { MatchingActivities, OrderActivities } from '../temporal/activities.js';

export interface TestStack {
  trading: Worker;
  shards: MatchingShard[];
  engines: ShardEngine[];
  relay: Relay;
  registry: Registry;
  stop(): Promise<void>;
}

export interface TestStackOptions {
  relay?: boolean;
  trading?: boolean;
  /** false: no in-process matching shards (a test runs them as processes). */
  matching?: boolean;
  wrapOrderActivities?: (a: OrderActivities) => OrderActivities;
  wrapMatchingActivities?: (a: MatchingActivities) => MatchingActivities;
}

export async function startTestStack(config: Config, opts: TestStackOptions = {}): Promise<TestStack> {
  const logger = createLogger('warn', { test: true });
  const registry = new Registry();
  const sagaMetrics = createSagaMetrics(registry);
  const database = connectDatabase(config.DATABASE_URL, { max: 10, appName: applicationName(config, 'test', 'stack') });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const trading = await createTradingWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueuePrefix: config.TASK_QUEUE_PREFIX,
    db: database.db,
    metrics: sagaMetrics,
    workflowBundlePath: inject('workflowBundlePath'),
    wrapActivities: opts.wrapOrderActivities,
  });
  const tradingRun = opts.trading === false ? Promise.resolve() : trading.run();
  const matchingMetrics = createMatchingMetrics(registry);
  const shards = Array.from({ length: opts.matching === false ? 0 : config.MATCHING_SHARDS }, (_, shard) =>
    startMatchingShard({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueuePrefix: config.TASK_QUEUE_PREFIX,
      db: database.db,
      databaseUrl: config.DATABASE_URL,
      shard,
      shardCount: config.MATCHING_SHARDS,
      logger,
      metrics: matchingMetrics,
      lockPollMs: 200,
      appName: applicationName(config, 'test', `shard-${shard}`),
      stepMetrics: sagaMetrics,
      wrapActivities: opts.wrapMatchingActivities,
    }),
  );
  const engines = (await Promise.all(shards.map((s) => s.ready))).filter((e): e is ShardEngine => e !== null);
  const redis = connectRedis(config.REDIS_URL, 'test-relay');
  const mailer = createMailer(config.SMTP_URL, config.MAIL_FROM);
  const relay = createOutboxRelay({
    sql: database.sql,
    redis,
    temporal: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }),
    mailer,
    logger,
    registry,
    redisPrefix: config.REDIS_PREFIX,
    pollMs: 200,
  });
  if (opts.relay !== false) await relay.start();
  return {
    trading,
    shards,
    engines,
    relay,
    registry,
    async stop() {
      await relay.stop();
      await Promise.all(shards.map((s) => s.stop()));
      if (trading.getState() === 'RUNNING') trading.shutdown();
      await tradingRun;
      mailer.close();
      await Promise.allSettled([redis.quit(), connection.close(), database.close()]);
    },
  };
}
