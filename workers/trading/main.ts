/** Trading worker process: TradingSaga workflows and their local activities. Graceful on SIGTERM (lib/shutdown.ts). */
import { NativeConnection } from '@temporalio/worker';
import { applicationName, loadConfig } from '../../lib/config.js';
import { enableIoCounts } from '../../lib/io-counts.js';
import { createLogger } from '../../lib/logger.js';
import { exitWhileStarting, onShutdown } from '../../lib/shutdown.js';
import { connectDatabase } from '../../db/client.js';
import { migrateDatabase } from '../../db/migrate.js';
import { installRuntime } from '../../lib/temporal-runtime.js';
import { createSagaMetrics, processRegistry, serveMetrics } from '../worker-metrics.js';
import { createTradingWorker } from './worker.js';

const config = loadConfig(process.env);
if (config.IO_COUNTS === 'on') enableIoCounts(); // before any client is built
const logger = createLogger(config.LOG_LEVEL, { service: 'worker-trading', instance: config.INSTANCE_ID });
// A signal while it starts (migrating, Temporal not answering, bundling workflows) ends the boot: exit 0.
exitWhileStarting((msg) => logger.info(msg));
installRuntime({
  logger,
  logLevel: config.TEMPORAL_LOG_LEVEL,
  sdkMetricsPort: config.SDK_METRICS_PORT,
  service: 'worker-trading',
  instance: config.INSTANCE_ID,
});

const registry = processRegistry('worker-trading', config.INSTANCE_ID);
const metrics = createSagaMetrics(registry);
const metricsServer = await serveMetrics(registry, config.METRICS_PORT);
logger.info('metrics listening', { address: metricsServer.address() });

await migrateDatabase(config.DATABASE_URL, logger); // this code's schema first (docs/runbooks/upgrade.md)
const database = connectDatabase(config.DATABASE_URL, {
  max: config.DATABASE_POOL_MAX,
  appName: applicationName(config, 'trading'),
});
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const worker = await createTradingWorker(config, { connection, db: database.db, metrics });
const running = worker.run(); // returns after shutdown() once in-flight tasks finish
// As the other processes: exit when done, or after SHUTDOWN_TIMEOUT_MS when Postgres or Temporal hangs.
onShutdown(
  async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await Promise.allSettled([connection.close(), database.close()]);
    metricsServer.close();
    logger.info('trading worker stopped');
  },
  (msg) => logger.info(msg),
  { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
);
logger.info('trading worker running', { taskQueue: worker.options.taskQueue });
await running; // a worker that fails on its own ends the process with its error
