/**
 * The matching worker's shards in process, against the run's Postgres and Temporal: every shard the
 * process competes for is reported in `matching_shard_owned` from the start, 0 while another session
 * holds its lock (standing by), 1 once taken over, 0 again once stopped. The standbys' 0 is what
 * `MatchingShardWithoutOwner` (ops/prometheus/alerts.yml) sees once the owner's series is gone.
 */
import { NativeConnection } from '@temporalio/worker';
import postgres from 'postgres';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database } from '../../db/client.js';
import type { Config } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { testConfig } from '../../test/helpers.js';
import { isolatedEnv } from '../../test/isolated.js';
import { shardLockKey } from '../lease.js';
import { createStepMetrics } from '../worker-metrics.js';
import { createMatchingMetrics } from './metrics.js';
import { startMatchingShards } from './worker.js';

let config: Config;
let database: Database;
let connection: NativeConnection;

beforeAll(async () => {
  config = {
    ...testConfig(await isolatedEnv('matching-worker')),
    MATCHING_SHARDS: 2,
    MATCHING_SHARD_IDS: '',
  };
  database = connectDatabase(config.DATABASE_URL, { max: 4, appName: 'matching-worker-test' });
  connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
});

afterAll(async () => {
  await connection?.close();
  await database?.close();
});

/** matching_shard_owned by shard, as the registry exports it. */
async function owned(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('matching_shard_owned')!.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.shard), v.value]));
}

describe('matching_shard_owned', () => {
  it('is 0 for a shard the process stands by for, from the start, 1 once it owns it, 0 once stopped', async () => {
    // Another session holds shard 1's lock: this process owns shard 0 and stands by for shard 1.
    const other = postgres(config.DATABASE_URL, { max: 1, onnotice: () => {} });
    await other`SELECT pg_advisory_lock(${shardLockKey(1).toString()}::bigint)`;
    const registry = new Registry();
    const shards = startMatchingShards(config, {
      connection,
      db: database.db,
      logger: createLogger('error'),
      metrics: createMatchingMetrics(registry),
      stepMetrics: createStepMetrics(registry),
      lockPollMs: 50,
    });
    try {
      expect(await owned(registry)).toEqual({ '0': 0, '1': 0 });
      expect(await shards[0]!.ready).not.toBeNull();
      expect(await owned(registry)).toEqual({ '0': 1, '1': 0 });
      await other`SELECT pg_advisory_unlock(${shardLockKey(1).toString()}::bigint)`;
      expect(await shards[1]!.ready).not.toBeNull();
      expect(await owned(registry)).toEqual({ '0': 1, '1': 1 });
    } finally {
      await Promise.all(shards.map((s) => s.stop()));
      await other.end({ timeout: 2 });
    }
    expect(await owned(registry)).toEqual({ '0': 0, '1': 0 });
  });
});
