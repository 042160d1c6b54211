/**
 * The baseline worker process, tuned like the trading worker (workers/trading/worker.ts) so the
 * comparison is fair: `tsx load/baselines/worker.ts` with TEMPORAL_ADDRESS and BASELINE_QUEUE set.
 * It also serves `<queue>-remote`, standing in for a matching shard.
 */
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createSandboxWorker } from '../../workers/sandbox-worker.js';
import { loadConfig } from '../../lib/config.js';
import { installRuntime } from '../../workers/worker-metrics.js';
import { baselineActivities } from './activities.js';

const config = loadConfig(process.env);
const queue = process.env.BASELINE_QUEUE ?? 'bench-noop';
// The same SDK metrics as the trading worker (SDK_METRICS_PORT), to compare workflow task timings.
installRuntime({
  sdkMetricsPort: config.SDK_METRICS_PORT,
  service: 'baseline',
  instance: 'baseline-1',
  shutdownSignals: ['SIGINT', 'SIGTERM'],
});
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const noop = () => undefined;
const bundle = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
  logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop },
});
const main = await createSandboxWorker(
  {
    connection,
    taskQueue: queue,
    workflowBundle: bundle,
    activities: baselineActivities,
    maxConcurrentWorkflowTaskExecutions: 40,
    maxConcurrentWorkflowTaskPolls: 20,
    nonStickyToStickyPollRatio: 0.5,
    maxConcurrentLocalActivityExecutions: 100,
    maxCachedWorkflows: 2000,
  },
  config.SANDBOX_WATCHDOG === 'on',
);
const remote = await Worker.create({
  connection,
  taskQueue: `${queue}-remote`,
  activities: baselineActivities,
  maxConcurrentActivityTaskExecutions: 50,
});
console.log('baseline worker ready');
await Promise.all([main.run(), remote.run()]);
await connection.close();
