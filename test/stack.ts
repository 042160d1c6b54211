/**
 * The workers of one integration test file, in process: trading worker (prebuilt workflow bundle),
 * every matching shard, and the outbox relay, all on the run's isolated task queues and database.
 * `stopShards()` and `startShards()` make a matching outage (the books rebuilt from Postgres on restart).
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { inject } from 'vitest';
import { applicationName, type Config } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { connectDatabase } from '../db/client.js';
import { eventually } from './eventually.js';
import { createTradingWorker } from '../workers/trading/worker.js';
import { createSagaMetrics } from '../workers/worker-metrics.js';
import { createMatchingMetrics, type MatchingMetrics } from '../workers/matching/metrics.js';
import { startMatchingShards, type MatchingShard } from '../workers/matching/worker.js';
import type { Relay } from '../workers/outbox/relay.js';
import { createOutboxWorker } from '../workers/outbox/worker.js';
import type { ShardEngine } from '../shard/index.js';
import type { MatchingActivities, OrderActivities } from '../temporal/activities.js';

export interface TestStack {
  trading: Worker;
  shards: MatchingShard[];
  engines: ShardEngine[];
  relay: Relay;
  registry: Registry;
  /** Stop every matching shard: no worker polls their task queues until `startShards()`. */
  stopShards(): Promise<void>;
  /** Start them again (new shards and engines in `shards` and `engines`), once they serve. */
  startShards(): Promise<void>;
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
  const logger = createLogger(config.LOG_LEVEL, { service: 'test-stack' });
  const registry = new Registry();
  const sagaMetrics = createSagaMetrics(registry);
  const database = connectDatabase(config.DATABASE_URL, {
    max: 10,
    appName: applicationName(config, 'test', 'stack'),
  });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const trading = await createTradingWorker(config, {
    connection,
    db: database.db,
    metrics: sagaMetrics,
    workflowBundlePath: inject('workflowBundlePath'),
    wrapActivities: opts.wrapOrderActivities,
  });
  const tradingRun = opts.trading === false ? Promise.resolve() : trading.run();
  let matchingMetrics: MatchingMetrics | undefined;
  const newShards = () =>
    startMatchingShards(
      { ...config, MATCHING_SHARD_IDS: '' },
      {
        connection,
        db: database.db,
        logger,
        metrics: (matchingMetrics ??= createMatchingMetrics(registry)),
        lockPollMs: 200,
        stepMetrics: sagaMetrics,
        wrapActivities: opts.wrapMatchingActivities,
      },
    );
  const serving = async (started: MatchingShard[]) =>
    (await Promise.all(started.map((s) => s.ready))).filter((e): e is ShardEngine => e !== null);
  const shards = opts.matching === false ? [] : newShards();
  const engines = await serving(shards);
  const stopShards = async () => void (await Promise.all(shards.map((s) => s.stop())));
  const outbox = createOutboxWorker(config, {
    connection,
    sql: database.sql,
    logger,
    registry,
    name: 'test-relay',
    appName: applicationName(config, 'test', 'relay-lease'),
    pollMs: 200,
    lockPollMs: 200,
  });
  const relay = outbox.relay;
  if (opts.relay !== false) {
    outbox.start();
    // Alone on the run's database, the relay takes the lease at once.
    await eventually(async () => {
      if (!outbox.active()) throw new Error('the test relay did not take the lease');
    });
  }
  return {
    trading,
    shards,
    engines,
    relay,
    registry,
    stopShards,
    async startShards() {
      shards.splice(0, shards.length, ...newShards());
      engines.splice(0, engines.length, ...(await serving(shards)));
    },
    async stop() {
      await outbox.stop();
      await stopShards();
      if (trading.getState() === 'RUNNING') trading.shutdown();
      await tradingRun;
      await Promise.allSettled([connection.close(), database.close()]);
    },
  };
}
