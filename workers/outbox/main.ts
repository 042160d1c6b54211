/** Outbox relay process: several may run at once, one of them active, the others standing by (./worker.ts). */
import { NativeConnection } from '@temporalio/worker';
import { applicationName, loadConfig } from '../../lib/config.js';
import { enableIoCounts } from '../../lib/io-counts.js';
import { createLogger } from '../../lib/logger.js';
import { exitWhileStarting, onShutdown } from '../../lib/shutdown.js';
import { installRuntime } from '../../lib/temporal-runtime.js';
import { connectDatabase } from '../../db/client.js';
import { migrateDatabase } from '../../db/migrate.js';
import { processRegistry, serveMetrics } from '../worker-metrics.js';
import { createOutboxWorker } from './worker.js';

const config = loadConfig(process.env);
if (config.IO_COUNTS === 'on') enableIoCounts(); // before any client is built
const logger = createLogger(config.LOG_LEVEL, { service: 'worker-outbox', instance: config.INSTANCE_ID });
// A signal while it starts (migrating, Temporal not answering yet) ends the boot: exit 0 (lib/shutdown.ts).
exitWhileStarting((msg) => logger.info(msg));
installRuntime({
  logger,
  logLevel: config.TEMPORAL_LOG_LEVEL,
  service: 'worker-outbox',
  instance: config.INSTANCE_ID,
});
const registry = processRegistry('worker-outbox', config.INSTANCE_ID);
const metricsServer = await serveMetrics(registry, config.METRICS_PORT);
logger.info('metrics listening', { address: metricsServer.address() });

await migrateDatabase(config.DATABASE_URL, logger); // this code's schema first (docs/runbooks/upgrade.md)
// The relay writes only done, retry and dead marks (no row leases, ADR 0036): its commits need not wait for the WAL flush (ADR 0031).
const database = connectDatabase(config.DATABASE_URL, {
  max: 4,
  appName: applicationName(config, 'outbox'),
  asyncCommit: true,
});
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const outbox = createOutboxWorker(config, {
  connection,
  sql: database.sql,
  logger,
  registry,
  name: 'worker-outbox',
  appName: applicationName(config, 'outbox', 'lease'),
});
// Installed before the relay claims anything: a SIGTERM while it starts still stops it cleanly.
onShutdown(
  async () => {
    await outbox.stop();
    metricsServer.close();
    await Promise.allSettled([database.close(), connection.close()]);
  },
  (msg) => logger.info(msg),
  { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
);
outbox.start();
logger.info('outbox relay running');
