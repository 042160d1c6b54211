/**
 * The trading worker: runs TradingSaga workflows and the saga's database steps (as local activities), and
 * the MarketControls workflow with its steps (operator controls).
 * `createTradingWorker(config, deps)` is its one setup, called by the process (./main.ts), the test stack
 * (test/stack.ts) and the benchmark baseline (load/baselines/worker.ts).
 */
import type { InjectedSinks, NativeConnection, Worker } from '@temporalio/worker';
import { createControlActivities } from '../../activities/controls.js';
import { createOrderActivities } from '../../activities/orders.js';
import type { Db } from '../../db/client.js';
import type { Config } from '../../lib/config.js';
import type { OrderActivities } from '../../temporal/activities.js';
import { TRADING_TASK_QUEUE, withPrefix } from '../../temporal/contracts.js';
import type { SagaSinks } from '../../workflows/trading-saga.js';
import { buildWorkflowBundle } from './bundle.js';
import { createSandboxWorker, sandboxOptions } from '../sandbox-worker.js';
import { stepMetricsInterceptor, type SagaMetrics } from '../worker-metrics.js';

/** What the trading worker reads from the config; TASK_QUEUE_PREFIX and SANDBOX_* are overridable per caller. */
export type TradingWorkerConfig = Pick<
  Config,
  'TEMPORAL_NAMESPACE' | 'TASK_QUEUE_PREFIX' | 'SANDBOX_WATCHDOG' | 'SANDBOX_STACK_TRACES'
>;

export interface TradingWorkerDeps {
  connection: NativeConnection;
  db: Db;
  metrics: SagaMetrics;
  /** A prebuilt bundle (tests build it once); otherwise the worker bundles workflows/ itself. */
  workflowBundlePath?: string;
  /** Tests wrap the saga's steps to inject failures; production runs them as they are. */
  wrapActivities?: (activities: OrderActivities) => OrderActivities;
}

/** Tuned for the workflow thread being the bottleneck (docs/adr/0006-dev-server-tuning.md). */
export const TRADING_WORKER_TUNING = {
  maxConcurrentWorkflowTaskExecutions: 40,
  // Every order's first workflow task arrives on the non-sticky queue: give it half of 20 pollers.
  maxConcurrentWorkflowTaskPolls: 20,
  nonStickyToStickyPollRatio: 0.5,
  maxConcurrentLocalActivityExecutions: 100,
  maxCachedWorkflows: 2000,
} as const;

export function sagaSinks(metrics: SagaMetrics): InjectedSinks<SagaSinks> {
  return {
    sagaMetrics: {
      started: { fn: () => metrics.started.inc() },
      completed: { fn: (_info, status) => metrics.completed.inc({ status }) },
      compensation: { fn: (_info, step, outcome) => metrics.compensations.inc({ step, outcome }) },
      acked: { fn: (_info, status) => metrics.acked.inc({ status }) },
    },
  };
}

export async function createTradingWorker(
  config: TradingWorkerConfig,
  deps: TradingWorkerDeps,
): Promise<Worker> {
  return createSandboxWorker(
    {
      connection: deps.connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: withPrefix(config.TASK_QUEUE_PREFIX, TRADING_TASK_QUEUE),
      // A prebuilt bundle (tests), else bundle here, quietly (the SDK's own bundling logs every module).
      workflowBundle: deps.workflowBundlePath
        ? { codePath: deps.workflowBundlePath }
        : await buildWorkflowBundle(),
      activities: {
        ...(deps.wrapActivities ?? ((a) => a))(createOrderActivities({ db: deps.db })),
        // The MarketControls workflow's steps (operator controls).
        ...createControlActivities({ db: deps.db }),
      },
      sinks: sagaSinks(deps.metrics),
      interceptors: { activity: [stepMetricsInterceptor(deps.metrics)] },
      ...TRADING_WORKER_TUNING,
      shutdownGraceTime: '10 seconds',
    },
    // The workflow sandbox's debugging aids (both off by default: workers/sandbox-worker.ts).
    sandboxOptions(config),
  );
}
