/** Matching worker process: competes for its shards, owns their books, settles matches. */
import { NativeConnection } from '@temporalio/worker';
import { applicationName, loadConfig } from '../../lib/config.js';
import { enableIoCounts } from '../../lib/io-counts.js';
import { createLogger } from '../../lib/logger.js';
import { connectDatabase } from '../../db/client.js';
import { migrateDatabase } from '../../db/migrate.js';
import { exitWhileStarting, onShutdown } from '../../lib/shutdown.js';
import { installRuntime } from '../../lib/temporal-runtime.js';
import { createStepMetrics, processRegistry, serveMetrics } from '../worker-metrics.js';
import { createMatchingMetrics } from './metrics.js';
import { startMatchingShards, type MatchingShard } from './worker.js';

const config = loadConfig(process.env);
if (config.IO_COUNTS === 'on') enableIoCounts(); // before any client is built
const logger = createLogger(config.LOG_LEVEL, { service: 'worker-matching', instance: config.INSTANCE_ID });
// A signal while it starts (migrating, Temporal not answering yet) ends the boot: exit 0 (lib/shutdown.ts).
exitWhileStarting((msg) => logger.info(msg));
installRuntime({
  logger,
  logLevel: config.TEMPORAL_LOG_LEVEL,
  sdkMetricsPort: config.SDK_METRICS_PORT,
  service: 'worker-matching',
  instance: config.INSTANCE_ID,
  shutdownSignals: [],
}); // we handle signals: stop shards, release locks

const registry = processRegistry('worker-matching', config.INSTANCE_ID);
const metrics = createMatchingMetrics(registry);
const stepMetrics = createStepMetrics(registry);
// `/books`: the owned shards' books as the engine holds them (operators, and the crash tests, compare them);
// `{}` until the shards start, once Temporal answers (the port is up before that).
let shards: MatchingShard[] = [];
const metricsServer = await serveMetrics(registry, config.METRICS_PORT, '0.0.0.0', {
  '/books': () => Object.assign({}, ...shards.map((s) => s.engine()?.booksSnapshot())) as unknown,
});
logger.info('metrics listening', { address: metricsServer.address() });

await migrateDatabase(config.DATABASE_URL, logger); // this code's schema first (docs/runbooks/upgrade.md)
const database = connectDatabase(config.DATABASE_URL, {
  max: config.DATABASE_POOL_MAX,
  appName: applicationName(config, 'matching'),
});
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
shards = startMatchingShards(config, { connection, db: database.db, logger, metrics, stepMetrics });

// Stop the shards first: each releases its lock, so a standby takes the shard over at once.
onShutdown(
  async () => {
    await Promise.allSettled(shards.map((s) => s.stop()));
    await Promise.allSettled([connection.close(), database.close()]);
    metricsServer.close();
    logger.info('matching worker stopped');
  },
  (msg) => logger.info(msg),
  { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
);
// An owner that loses its lock stops serving that shard and stands by for it again (worker.ts).
