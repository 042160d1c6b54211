/**
 * A matching shard: wait for the shard's lock (standby) and for the previous owner's batches that may
 * still commit (workers/lease.ts), rebuild its books from Postgres, then serve the shard's task queue.
 * Losing the lock stops serving immediately; the shard then stands by again, in the same process.
 * `startMatchingShards(config, deps)` is the matching worker's one setup, called by the process
 * (./main.ts) and the test stack (test/stack.ts); the benchmark baseline sizes its empty shard with
 * MATCHING_WORKER_TUNING.
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createMatchingActivities } from '../../activities/matching.js';
import type { Db } from '../../db/client.js';
import { applicationName, type Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { MatchingActivities } from '../../temporal/activities.js';
import { matchingTaskQueue, withPrefix } from '../../temporal/contracts.js';
import type { MatchingMetrics } from './metrics.js';
import { stepMetricsInterceptor, type StepMetrics } from '../worker-metrics.js';
import { acquireLease, shardLockKey } from '../lease.js';
import { ShardEngine } from '../../shard/index.js';

/** What the matching worker reads from the config. */
export type MatchingWorkerConfig = Pick<
  Config,
  | 'TEMPORAL_NAMESPACE'
  | 'TASK_QUEUE_PREFIX'
  | 'DATABASE_URL'
  | 'MATCHING_SHARDS'
  | 'MATCHING_SHARD_IDS'
  | 'DATABASE_APPLICATION_PREFIX'
  | 'INSTANCE_ID'
>;

export interface MatchingWorkerDeps {
  connection: NativeConnection;
  db: Db;
  logger: Logger;
  metrics: MatchingMetrics;
  lockPollMs?: number;
  /** The service part of the lock connections' application_name (default `matching`): see applicationName. */
  appService?: string;
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
      appName: applicationName(config, deps.appService ?? 'matching', `shard-${shard}`),
    }),
  );
}

interface MatchingShardDeps extends MatchingWorkerDeps {
  namespace: string;
  taskQueuePrefix: string;
  databaseUrl: string;
  shard: number;
  shardCount: number;
  /** application_name of the shard lock's own connection. */
  appName: string;
}

export interface MatchingShard {
  /** Resolves once the shard is first owned and serving (or null if stopped while waiting). */
  ready: Promise<ShardEngine | null>;
  /** The engine while this process owns the shard and serves it; null while standing by. */
  engine(): ShardEngine | null;
  /** How many times this process lost the shard's lock (and went back to standing by). */
  losses(): number;
  /** Resolves when the shard was stopped on request. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Own, serve, and on losing the lock (its connection terminated, Postgres restarted) stop serving at
 * once, then stand by again: the shard is taken back here, or by another process's standby, whichever
 * gets the lock first. A lost owner never keeps its in-memory books: the next term rebuilds them.
 */
function startMatchingShard(deps: MatchingShardDeps): MatchingShard {
  const { shard, logger, metrics } = deps;
  const abort = new AbortController();
  /** Resolves (with no worker) once the shard is stopped. */
  const stopped = new Promise<undefined>((resolve) =>
    abort.signal.addEventListener('abort', () => resolve(undefined), { once: true }),
  );
  let worker: Worker | undefined;
  let current: ShardEngine | null = null;
  let losses = 0;
  let resolveReady!: (e: ShardEngine | null) => void;
  const ready = new Promise<ShardEngine | null>((r) => (resolveReady = r));
  // 0 from the start, while standing by: every process competing for the shard reports it, so that
  // `max by (shard)` is 0 once the owner's series is gone (MatchingShardWithoutOwner, ops/prometheus).
  metrics.shardOwned.set({ shard: String(shard) }, 0);

  /** One term of ownership: wait for the lock, rebuild, serve until stopped or the lock is lost. */
  const term = async (): Promise<'stopped' | 'lost'> => {
    let lost = false;
    const lease = await acquireLease(deps.databaseUrl, shardLockKey(shard), {
      pollMs: deps.lockPollMs,
      signal: abort.signal,
      appName: deps.appName,
      onWaiting: () => logger.info('shard owned elsewhere, standing by', { shard }),
      onLost: (err) => {
        lost = true;
        current = null;
        metrics.shardOwned.set({ shard: String(shard) }, 0);
        logger.error('shard lock lost, stopping the shard and standing by again', { shard, err });
        if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      },
    });
    if (!lease) return 'stopped';
    try {
      metrics.shardOwned.set({ shard: String(shard) }, 1);
      const engine = new ShardEngine({
        db: deps.db,
        shard,
        shardCount: deps.shardCount,
        logger,
        metrics,
        fence: () => lease.held(),
      });
      await engine.rebuildAll();
      if (abort.signal.aborted) return 'stopped';
      const creating = Worker.create({
        connection: deps.connection,
        namespace: deps.namespace,
        taskQueue: withPrefix(deps.taskQueuePrefix, matchingTaskQueue(shard)),
        activities: (deps.wrapActivities ?? ((a) => a))(createMatchingActivities(engine)),
        interceptors: { activity: [stepMetricsInterceptor(deps.stepMetrics)] },
        ...MATCHING_WORKER_TUNING,
        shutdownGraceTime: '5 seconds',
      });
      // A created worker is always run and shut down, never dropped: the next term registers another on
      // the same task queue, and a worker that never ran would stay registered with the SDK's runtime.
      const retire = async (w: Worker) => {
        const running = w.run();
        w.shutdown();
        await running;
      };
      // Stopped while Temporal has not answered the creation (slow or gone): the lease goes now (a
      // standby takes the shard over), not once Temporal answers; the worker is retired if it comes.
      worker = await Promise.race([creating, stopped]);
      if (!worker) {
        void creating.then(retire).catch(() => undefined);
        return 'stopped';
      }
      if (abort.signal.aborted || lost) {
        await retire(worker);
        return abort.signal.aborted ? 'stopped' : 'lost';
      }
      const running = worker.run();
      logger.info('shard owned, books rebuilt, serving', { shard, taskQueue: worker.options.taskQueue });
      current = engine;
      resolveReady(engine);
      await running;
      return lost ? 'lost' : 'stopped';
    } catch (err) {
      // Rebuilding or creating the worker failed (Postgres or Temporal gone): give the shard up and retry.
      if (abort.signal.aborted) return 'stopped';
      logger.error('shard failed to start serving, standing by again', { shard, err });
      return 'lost';
    } finally {
      current = null;
      worker = undefined;
      metrics.shardOwned.set({ shard: String(shard) }, 0);
      await lease.release();
    }
  };

  const done = (async () => {
    try {
      const attempt = () =>
        term().catch((err: unknown) => {
          logger.error('shard lock attempt failed, standing by again', { shard, err });
          return 'lost' as const;
        });
      while ((await attempt()) === 'lost' && !abort.signal.aborted) {
        losses++;
        await new Promise((r) => setTimeout(r, deps.lockPollMs ?? 500));
      }
    } finally {
      resolveReady(null);
    }
  })();

  return {
    ready,
    engine: () => current,
    losses: () => losses,
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
    if (!Number.isInteger(n) || n < 0 || n >= count)
      throw new Error(`invalid shard id "${s}" (MATCHING_SHARDS=${count})`);
    return n;
  });
}
