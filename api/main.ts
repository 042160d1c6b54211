/** The api process: build dependencies once, serve, drain on SIGTERM. */
import { serve } from '@hono/node-server';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { applicationName, loadConfig } from '../lib/config.js';
import { enableIoCounts, ioCountingInterceptors } from '../lib/io-counts.js';
import { createLogger } from '../lib/logger.js';
import { createMailer } from '../lib/mailer.js';
import { connectRedis } from '../lib/redis.js';
import { serveMetrics } from '../lib/metrics-server.js';
import { exitWhileStarting, onShutdown } from '../lib/shutdown.js';
import { installRuntime } from '../lib/temporal-runtime.js';
import { connectDatabase } from '../db/client.js';
import { migrateDatabase } from '../db/migrate.js';
import { createApp } from './app.js';
import { startDependencyProbe } from './dependencies.js';
import { startHousekeeping } from './housekeeping.js';
import { apiCalendar } from './calendar.js';
import { createApiMetrics, watchCalendar, watchKillSwitches } from './metrics.js';
import { listKillSwitches } from '../db/queries/controls.js';
import type { ApiDeps } from './types.js';
import { createApiFeed } from './ws/server.js';
import { attachUpgrades, createApiCable } from './ws/cable.js';

const config = loadConfig(process.env);
if (config.IO_COUNTS === 'on') enableIoCounts(); // before any client is built
const logger = createLogger(config.LOG_LEVEL, { service: 'api', instance: config.INSTANCE_ID });
// A signal while it starts (migrating, Temporal not answering yet) ends the boot: exit 0 (lib/shutdown.ts).
exitWhileStarting((msg) => logger.info(msg));
installRuntime({ logger, logLevel: config.TEMPORAL_LOG_LEVEL, service: 'api', instance: config.INSTANCE_ID });

await migrateDatabase(config.DATABASE_URL, logger);
const database = connectDatabase(config.DATABASE_URL, {
  max: config.DATABASE_POOL_MAX,
  appName: applicationName(config, 'api'),
});
const redis = connectRedis(config.REDIS_URL, `api-${config.INSTANCE_ID}`);
// The SDK's Rust connection (as the workers use): cheaper per call than the pure-JS gRPC client.
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const temporal = new Client({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  interceptors: ioCountingInterceptors(),
});
const metrics = createApiMetrics(config.INSTANCE_ID);
watchKillSwitches(metrics, () => listKillSwitches(database.db), logger);
watchCalendar(metrics, apiCalendar({ config }), () => new Date());
const mailer = createMailer(config.SMTP_URL, config.MAIL_FROM);

let draining = false;
const deps: ApiDeps = {
  config,
  database,
  redis,
  temporal,
  logger,
  metrics,
  mailer,
  now: () => new Date(),
  draining: () => draining,
};
const app = createApp(deps);
// dependency_up stays current without /ready calls (ApiDependencyDown reads it).
const stopProbe = startDependencyProbe(deps, config.DEPENDENCY_CHECK_INTERVAL_MS);
const stopHousekeeping = startHousekeeping(deps, config.HOUSEKEEPING_INTERVAL_MS);
const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) =>
  logger.info('api listening', { port: info.port }),
);
// Metrics on a port of their own: the public port (and nginx in front of it) never serves /metrics.
const metricsServer = await serveMetrics(metrics.registry, config.API_METRICS_PORT, config.HOST);
logger.info('api metrics listening', { port: config.API_METRICS_PORT });
// The live feed (/ws) shares the http server: upgrades are authenticated before the WebSocket opens.
// /cable serves the seed's ActionCable clients from the same events (api/ws/cable.ts).
const feed = createApiFeed(deps);
const cable = createApiCable(deps);
attachUpgrades(server, feed, cable);

onShutdown(
  async () => {
    draining = true; // /ready answers 503 from now on
    stopProbe();
    const housekeepingStopped = stopHousekeeping(); // the round in progress ends after its batch
    // Feed clients get `reconnect` and a 1012 close and move to another instance, ActionCable clients
    // `disconnect` with reconnect: true; one that does not answer is cut off after the close grace.
    await Promise.all([feed.drain(), cable.drain()]);
    await new Promise((r) => setTimeout(r, config.NODE_ENV === 'production' ? 5000 : 200));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
    // The notices the requests handed to the mailer without awaiting them: close() fails those queued.
    if (!(await mailer.idle())) logger.warn('mails still being sent at shutdown are lost');
    mailer.close();
    await feed.close();
    await cable.close();
    await housekeepingStopped;
    await Promise.allSettled([database.close(), redis.quit(), connection.close()]);
  },
  (msg) => logger.info(msg),
  { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
);
