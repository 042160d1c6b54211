/** Trading worker process: TradingSaga workflows and their local activities. Graceful on SIGTERM. */
import { NativeConnection } from '@temporalio/worker';
import { applicationName, loadConfig } from '../../lib/config.js';
import { enableIoCounts } from '../../lib/io-counts.js';
import { createLogger } from '../../lib/logger.js';
import { connectDatabase } from '../../db/client.js';
import { installRuntime } from '../../lib/temporal-runtime.js';
import { createSagaMetrics, processRegistry, serveMetrics } from '../worker-metrics.js';
import { createTradingWorker } from './worker.js';

const config = loadConfig(process.env);
if (config.IO_COUNTS === 'on') enableIoCounts(); // before any client is built
const logger = createLogger(config.LOG_LEVEL, { service: 'worker-trading', instance: config.INSTANCE_ID });
installRuntime({
  logger,
  logLevel: config.TEMPORAL_LOG_LEVEL,
  sdkMetricsPort: config.SDK_METRICS_PORT,
  service: 'worker-trading',
  instance: config.INSTANCE_ID,
  shutdownSignals: ['SIGINT', 'SIGTERM'],
});

const registry = processRegistry('worker-trading', config.INSTANCE_ID);
const metrics = createSagaMetrics(registry);
const metricsServer = await serveMetrics(registry, config.METRICS_PORT);
logger.info('metrics listening', { address: metricsServer.address() });

const database = connectDatabase(config.DATABASE_URL, {
  max: config.DATABASE_POOL_MAX,
  appName: applicationName(config, 'trading'),
});
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const worker = await createTradingWorker(config, { connection, db: database.db, metrics });
logger.info('trading worker running', { taskQueue: worker.options.taskQueue });
await worker.run(); // returns after SIGTERM once in-flight tasks finish
await Promise.allSettled([connection.close(), database.close()]);
metricsServer.close();
logger.info('trading worker stopped');
