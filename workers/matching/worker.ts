/**
 * A matching shard: wait for the shard's lock (standby), rebuild its books from Postgres, then serve
 * the shard's task queue. Losing the lock stops the shard immediately. `startMatchingShards(config, deps)`
 * is the matching worker's one setup, called by the process (./main.ts) and the test stack
 * (test/stack.ts); the benchmark baseline sizes its empty shard with MATCHING_WORKER_TUNING.
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createMatchingActivities } from '../../activities/matching.js';
import type { Db } from '../../db/client.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { MatchingActivities } from '../../temporal/activities.js';
import { matchingTaskQueue, withPrefix } from '../../temporal/contracts.js';
import type { MatchingMetrics } from './metrics.js';
import { stepMetricsInterceptor, type StepMetrics } from '../worker-metrics.js';
import { acquireShard } from './ownership.js';
import { ShardEngine } from '../../shard/index.js';

/** What the matching worker reads from the config. */
export type MatchingWorkerConfig = Pick<
  Config,
  'TEMPORAL_NAMESPACE' | 'TASK_QUEUE_PREFIX' | 'DATABASE_URL' | 'MATCHING_SHARDS' | 'MATCHING_SHARD_IDS'
>;

export interface MatchingWorkerDeps {
  connection: NativeConnection;
  db: Db;
  logger: Logger;
  metrics: MatchingMetrics;
  lockPollMs?: number;
  /** Saga step counters (saga_steps_total for submit, replace, cancel). */
  stepMetrics: StepMetrics;
  /** Tests wrap the shard's activities to inject failures. */
  wrapActivities?: (activities: MatchingActivities) => MatchingActivities;
}

/** One shard's activity worker, sized for the engine's batching (the benchmark baseline's empty shard too). */
export const MATCHING_WORKER_TUNING = { maxConcurrentActivityTaskExecutions: 50 } as const;

/** Every shard this process competes for (MATCHING_SHARD_IDS, or all MATCHING_SHARDS). */
export function startMatchingShards(config: MatchingWorkerConfig, deps: MatchingWorkerDeps): MatchingShard[] {
  return shardIds(config.MATCHING_SHARD_IDS, config.MATCHING_SHARDS).map((shard) =>
    startMatchingShard({
      ...deps,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueuePrefix: config.TASK_QUEUE_PREFIX,
      databaseUrl: config.DATABASE_URL,
      shard,
      shardCount: config.MATCHING_SHARDS,
    }),
  );
}

interface MatchingShardDeps extends MatchingWorkerDeps {
  namespace: string;
  taskQueuePrefix: string;
  databaseUrl: string;
  shard: number;
  shardCount: number;
}

export interface MatchingShard {
  /** Resolves once the shard is owned and serving (or null if stopped while waiting). */
  ready: Promise<ShardEngine | null>;
  /** Resolves when the shard stops: 'stopped' on request, 'lost' when the lock was lost. */
  done: Promise<'stopped' | 'lost'>;
  stop(): Promise<void>;
}

function startMatchingShard(deps: MatchingShardDeps): MatchingShard {
  const { shard, logger, metrics } = deps;
  const abort = new AbortController();
  let worker: Worker | undefined;
  let lost = false;
  let resolveReady!: (e: ShardEngine | null) => void;
  const ready = new Promise<ShardEngine | null>((r) => (resolveReady = r));

  const done = (async (): Promise<'stopped' | 'lost'> => {
    const lease = await acquireShard(deps.databaseUrl, shard, {
      pollMs: deps.lockPollMs,
      signal: abort.signal,
      onWaiting: () => logger.info('shard owned elsewhere, standing by', { shard }),
      onLost: (err) => {
        lost = true;
        metrics.shardOwned.set({ shard: String(shard) }, 0);
        logger.error('shard lock lost, stopping the shard', { shard, err });
        if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      },
    });
    if (!lease) {
      resolveReady(null);
      return 'stopped';
    }
    try {
      metrics.shardOwned.set({ shard: String(shard) }, 1);
      const engine = new ShardEngine({ db: deps.db, shard, shardCount: deps.shardCount, logger, metrics });
      await engine.rebuildAll();
      worker = await Worker.create({
        connection: deps.connection,
        namespace: deps.namespace,
        taskQueue: withPrefix(deps.taskQueuePrefix, matchingTaskQueue(shard)),
        activities: (deps.wrapActivities ?? ((a) => a))(createMatchingActivities(engine)),
        interceptors: { activity: [stepMetricsInterceptor(deps.stepMetrics)] },
        ...MATCHING_WORKER_TUNING,
        shutdownGraceTime: '5 seconds',
      });
      logger.info('shard owned, books rebuilt, serving', { shard, taskQueue: worker.options.taskQueue });
      if (abort.signal.aborted) {
        resolveReady(null);
        return 'stopped';
      }
      resolveReady(engine);
      await worker.run();
      return lost ? 'lost' : 'stopped';
    } finally {
      metrics.shardOwned.set({ shard: String(shard) }, 0);
      await lease.release();
      resolveReady(null);
    }
  })();

  return {
    ready,
    done,
    async stop() {
      abort.abort();
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
    },
  };
}

/** Shards this process competes for: MATCHING_SHARD_IDS ("0,2") or all of them. */
export function shardIds(spec: string, count: number): number[] {
  if (!spec.trim()) return Array.from({ length: count }, (_, i) => i);
  return spec.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0 || n >= count) throw new Error(`invalid shard id "${s}" (MATCHING_SHARDS=${count})`);
    return n;
  });
}
