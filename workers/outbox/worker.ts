/**
 * The outbox worker: the relay with its Redis, SMTP and Temporal clients. `createOutboxWorker(config, deps)`
 * is its one setup, called by the process (./main.ts) and the test stack (test/stack.ts).
 *
 * One relay is active at a time: it holds the relay's lease (workers/lease.ts); another relay process
 * stands by and takes over within about half a second of the active one's death (ADR 0035). Only the
 * active one prunes the outbox (OUTBOX_RETENTION_DAYS, OUTBOX_PRUNE_INTERVAL_SECONDS) and counts the
 * sagas in needs_attention and the dead rows (ATTENTION_INTERVAL_SECONDS): one count in the deployment,
 * not one per process. The rows have no lease of their own (ADR 0036): a relay that lost its lease and
 * runs on for a moment beside the new one may deliver a row twice, which at-least-once delivery allows.
 */
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type postgres from 'postgres';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import { createMailer } from '../../lib/mailer.js';
import { ioCountingInterceptors } from '../../lib/io-counts.js';
import { connectRedis } from '../../lib/redis.js';
import { acquireLease, relayLockKey } from '../lease.js';
import { createOutboxRelay, type Relay } from './relay.js';

/** What the outbox worker reads from the config. */
export type OutboxWorkerConfig = Pick<
  Config,
  | 'TEMPORAL_NAMESPACE'
  | 'REDIS_URL'
  | 'REDIS_PREFIX'
  | 'SMTP_URL'
  | 'MAIL_FROM'
  | 'DATABASE_URL'
  | 'OUTBOX_RETENTION_DAYS'
  | 'OUTBOX_PRUNE_INTERVAL_SECONDS'
  | 'ATTENTION_INTERVAL_SECONDS'
>;

export interface OutboxWorkerDeps {
  /** The SDK's Rust connection (as the workers use): cheaper per call than the pure-JS gRPC client. */
  connection: NativeConnection;
  sql: postgres.Sql;
  logger: Logger;
  registry: Registry;
  /** The Redis connection name. */
  name: string;
  /** The lease connection's name in pg_stat_activity. */
  appName: string;
  pollMs?: number;
  /** How often a standby asks for the lease (default 500 ms). */
  lockPollMs?: number;
}

export interface OutboxWorker {
  relay: Relay;
  /** Stand by for the lease, relay while holding it, and stand by again if it is lost, until `stop`. */
  start(): void;
  /** Whether this worker holds the lease and relays. */
  active(): boolean;
  /**
   * Stops the relay and gives the lease up, then closes its Redis and SMTP connections (not the ones
   * passed in).
   */
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
    retentionDays: config.OUTBOX_RETENTION_DAYS,
    pruneIntervalMs: config.OUTBOX_PRUNE_INTERVAL_SECONDS * 1000,
    attentionIntervalMs: config.ATTENTION_INTERVAL_SECONDS * 1000,
  });
  const activeGauge = new Gauge({
    name: 'outbox_relay_active',
    help: 'Whether this relay holds the lease and relays (1) or stands by (0)',
    registers: [deps.registry],
  });
  const abort = new AbortController();
  let holding = false;
  let loop: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;

  /** One term: wait for the lease, relay until stopped or the lease is lost. */
  const term = async (): Promise<'stopped' | 'lost'> => {
    let onLost!: () => void;
    const lost = new Promise<'lost'>((resolve) => (onLost = () => resolve('lost')));
    const lease = await acquireLease(config.DATABASE_URL, relayLockKey, {
      appName: deps.appName,
      pollMs: deps.lockPollMs,
      signal: abort.signal,
      onWaiting: () => deps.logger.info('another relay is active, standing by'),
      onLost: (err) => {
        deps.logger.error('relay lease lost, standing by again', { err });
        onLost();
      },
    });
    if (!lease) return 'stopped';
    const aborted = new Promise<'stopped'>((resolve) => {
      if (abort.signal.aborted) resolve('stopped');
      abort.signal.addEventListener('abort', () => resolve('stopped'), { once: true });
    });
    try {
      await relay.start();
      holding = true;
      activeGauge.set(1);
      deps.logger.info('relay active');
      return await Promise.race([lost, aborted]);
    } finally {
      holding = false;
      activeGauge.set(0);
      await relay.stop();
      await lease.release();
    }
  };

  // Every relay process reports the backlog, active or standing by: the lag alerts then fire also when
  // no relay holds the lease.
  let lag: NodeJS.Timeout | undefined;
  const measureLag = () =>
    relay.measureLag().catch((err: unknown) => deps.logger.debug('outbox backlog not measured', { err }));

  return {
    relay,
    start() {
      lag ??= setInterval(measureLag, 1000);
      loop ??= (async () => {
        while (!abort.signal.aborted) {
          const ended = await term().catch((err: unknown) => {
            deps.logger.error('relay term failed, standing by again', { err });
            return 'lost' as const;
          });
          if (ended === 'stopped') return;
          await new Promise((r) => setTimeout(r, deps.lockPollMs ?? 500));
        }
      })();
    },
    active: () => holding,
    stop() {
      stopped ??= (async () => {
        abort.abort();
        clearInterval(lag);
        await loop;
        mailer.close();
        await Promise.allSettled([redis.quit()]);
      })();
      return stopped;
    },
  };
}
