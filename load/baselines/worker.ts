/**
 * The baseline worker process of `npm run bench`: `tsx load/baselines/worker.ts` with TEMPORAL_ADDRESS,
 * DATABASE_URL (never queried) and BASELINE_QUEUE set. It runs
 * - the trading worker itself (workers/trading/worker.ts: the TradingSaga, its tuning, sinks and step
 *   metrics) on `<queue>-trading`, with the empty steps of ./activities.ts;
 * - an empty matching shard on `<queue>-matching`, sized like the real one;
 * - the single no-op activity workflow on `<queue>-activity`, with the trading worker's tuning.
 */
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { connectDatabase } from '../../db/client.js';
import { loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { installRuntime } from '../../lib/temporal-runtime.js';
import { TRADING_TASK_QUEUE } from '../../temporal/contracts.js';
import { MATCHING_WORKER_TUNING } from '../../workers/matching/worker.js';
import { createSandboxWorker, sandboxOptions } from '../../workers/sandbox-worker.js';
import { createTradingWorker, TRADING_WORKER_TUNING } from '../../workers/trading/worker.js';
import { createSagaMetrics, processRegistry } from '../../workers/worker-metrics.js';
import { baselineActivities, noopMatchingActivities, noopOrderActivities } from './activities.js';

const config = loadConfig(process.env);
const queue = process.env.BASELINE_QUEUE ?? 'bench-noop';
// The same SDK metrics as the trading worker (SDK_METRICS_PORT), to compare workflow task timings.
installRuntime({
  logger: createLogger(config.LOG_LEVEL, { service: 'baseline', instance: 'baseline-1' }),
  logLevel: config.TEMPORAL_LOG_LEVEL,
  sdkMetricsPort: config.SDK_METRICS_PORT,
  service: 'baseline',
  instance: 'baseline-1',
  shutdownSignals: ['SIGINT', 'SIGTERM'],
});
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const database = connectDatabase(config.DATABASE_URL, { max: 1, appName: 'baseline' });
const sandbox = sandboxOptions(config);

const trading = await createTradingWorker(
  { ...config, TASK_QUEUE_PREFIX: `${queue}-` },
  {
    connection,
    db: database.db,
    metrics: createSagaMetrics(processRegistry('baseline', 'baseline-1')),
    wrapActivities: () => noopOrderActivities,
  },
);
const matching = await Worker.create({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: `${queue}-matching`,
  activities: noopMatchingActivities,
  ...MATCHING_WORKER_TUNING,
});
const noop = () => undefined;
const activity = await createSandboxWorker(
  {
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: `${queue}-activity`,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
      logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop },
    }),
    activities: baselineActivities,
    ...TRADING_WORKER_TUNING,
  },
  sandbox,
);
console.log(`baseline worker ready: ${trading.options.taskQueue} (${TRADING_TASK_QUEUE} with empty steps)`);
await Promise.all([trading.run(), matching.run(), activity.run()]);
await Promise.allSettled([connection.close(), database.close()]);
