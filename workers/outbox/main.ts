/** Outbox relay process: several may run at once (rows are claimed with SKIP LOCKED and a lease). */
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { applicationName, loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { createMailer } from '../../lib/mailer.js';
import { connectRedis } from '../../lib/redis.js';
import { onShutdown } from '../../lib/shutdown.js';
import { connectDatabase } from '../../db/client.js';
import { createWorkerRegistry, serveMetrics } from '../worker-metrics.js';
import { createOutboxRelay } from './relay.js';

const config = loadConfig(process.env);
const logger = createLogger(config.LOG_LEVEL, { service: 'worker-outbox', instance: config.INSTANCE_ID });
const registry = createWorkerRegistry('worker-outbox', config.INSTANCE_ID);
const metricsServer = await serveMetrics(registry, config.METRICS_PORT);
logger.info('metrics listening', { address: metricsServer.address() });

const database = connectDatabase(config.DATABASE_URL, { max: 4, appName: applicationName(config, 'outbox') });
const redis = connectRedis(config.REDIS_URL, 'worker-outbox');
// The SDK's Rust connection (as the workers use): cheaper per call than the pure-JS gRPC client.
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
const mailer = createMailer(config.SMTP_URL, config.MAIL_FROM);

const relay = createOutboxRelay({ sql: database.sql, redis, temporal, mailer, logger, registry, redisPrefix: config.REDIS_PREFIX });
await relay.start();
logger.info('outbox relay running');

onShutdown(
  async () => {
    await relay.stop();
    mailer.close();
    metricsServer.close();
    await Promise.allSettled([database.close(), redis.quit(), connection.close()]);
  },
  (msg) => logger.info(msg),
);
