/**
 * The outbox worker: the relay with its Redis, SMTP and Temporal clients. `createOutboxWorker(config, deps)`
 * is its one setup, called by the process (./main.ts) and the test stack (test/stack.ts).
 */
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type postgres from 'postgres';
import type { Registry } from 'prom-client';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { createMailer } from '../../lib/mailer.js';
import { ioCountingInterceptors } from '../../lib/io-counts.js';
import { connectRedis } from '../../lib/redis.js';
import { createOutboxRelay, type Relay } from './relay.js';

/** What the outbox worker reads from the config. */
export type OutboxWorkerConfig = Pick<
  Config,
  'TEMPORAL_NAMESPACE' | 'REDIS_URL' | 'REDIS_PREFIX' | 'SMTP_URL' | 'MAIL_FROM'
>;

export interface OutboxWorkerDeps {
  /** The SDK's Rust connection (as the workers use): cheaper per call than the pure-JS gRPC client. */
  connection: NativeConnection;
  sql: postgres.Sql;
  logger: Logger;
  registry: Registry;
  /** The Redis connection name. */
  name: string;
  pollMs?: number;
}

export interface OutboxWorker {
  relay: Relay;
  /** Stops the relay, then closes its Redis and SMTP connections (not the ones passed in). */
  stop(): Promise<void>;
}

export function createOutboxWorker(config: OutboxWorkerConfig, deps: OutboxWorkerDeps): OutboxWorker {
  const redis = connectRedis(config.REDIS_URL, deps.name);
  const mailer = createMailer(config.SMTP_URL, config.MAIL_FROM);
  const relay = createOutboxRelay({
    sql: deps.sql,
    redis,
    temporal: new Client({
      connection: deps.connection,
      namespace: config.TEMPORAL_NAMESPACE,
      interceptors: ioCountingInterceptors(),
    }),
    mailer,
    logger: deps.logger,
    registry: deps.registry,
    redisPrefix: config.REDIS_PREFIX,
    pollMs: deps.pollMs,
  });
  return {
    relay,
    async stop() {
      await relay.stop();
      mailer.close();
      await Promise.allSettled([redis.quit()]);
    },
  };
}
