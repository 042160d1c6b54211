/**
 * The one place that reads the environment. Every process calls `loadConfig(process.env)` once at
 * start and passes the result down; nothing else touches `process.env`.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  MATCHING_SCHEDULE_TO_CLOSE_MS_DEFAULT,
  MATCHING_START_TO_CLOSE_MS_DEFAULT,
} from '../temporal/contracts.js';
import { LOG_LEVELS } from './logger.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from './shutdown.js';

/**
 * How long the done account events stay in the outbox unless OUTBOX_RETENTION_DAYS says otherwise: as far
 * back as a resuming feed client reads them (api/ws/history.ts) and the auditor checks them (db/audit.ts).
 */
export const OUTBOX_RETENTION_DAYS_DEFAULT = 7;

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** The Temporal SDK's own log lines (its TypeScript side and its core), written through our logger. */
  TEMPORAL_LOG_LEVEL: z.enum(LOG_LEVELS).default('warn'),
  /** LOG_LEVEL of the integration tests' api, workers and processes (test/global-setup.ts); quiet unless debugging. */
  TEST_LOG_LEVEL: z.enum(LOG_LEVELS).default('silent'),
  INSTANCE_ID: z.string().min(1).default('api-1'),
  HOST: z.string().default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Where clients reach the api and the page; links in mails start with it (a trailing '/' is dropped). */
  PUBLIC_URL: z
    .url()
    .default('http://localhost:3000')
    .transform((url) => url.replace(/\/+$/, '')),
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/brokerx'),
  /**
   * Connections of each process's main pool. Few, as Postgres runs no more statements at once than it has
   * cores, and each costs more CPU the more backends run beside it; past the pool, postgres.js pipelines
   * the statements on the open connections (docs/adr/0038-small-connection-pools.md).
   */
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(4),
  /**
   * Prefix of every Postgres connection's application_name (brokerx-api-api-1, brokerx-matching-...):
   * operators (and the fault tests) find or terminate one stack's connections by it in pg_stat_activity.
   */
  DATABASE_APPLICATION_PREFIX: z.string().max(40).default('brokerx-'),
  REDIS_URL: z.url().default('redis://127.0.0.1:6379/0'),
  /** Prefix for every Redis key and channel, so several stacks can share one Redis. */
  REDIS_PREFIX: z.string().default('brokerx:'),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Prefix put before every task queue name (`withPrefix`); tests use it to isolate runs. */
  TASK_QUEUE_PREFIX: z.string().default(''),
  SMTP_URL: z.url().default('smtp://127.0.0.1:1025'),
  MAIL_FROM: z.string().default('BrokerX <no-reply@brokerx.local>'),
  MAILPIT_URL: z.url().default('http://127.0.0.1:8025'),
  TEMPORAL_UI_URL: z.url().default('http://127.0.0.1:8233'),
  /** Matching shards: symbols map to `shard = fnv1a(symbol) % MATCHING_SHARDS`. */
  MATCHING_SHARDS: z.coerce.number().int().min(1).max(256).default(1),
  /** Which shards this matching worker competes for (comma list); empty = all. */
  MATCHING_SHARD_IDS: z.string().default(''),
  /**
   * Days the done account events stay in the outbox (docs/adr/0043-outbox-retention.md): a feed client
   * resumes from that far back at most, and `npm run audit` checks the outbox within them. The active
   * relay deletes older ones, and the done market data at once, every OUTBOX_PRUNE_INTERVAL_SECONDS.
   */
  OUTBOX_RETENTION_DAYS: z.coerce.number().int().min(1).default(OUTBOX_RETENTION_DAYS_DEFAULT),
  OUTBOX_PRUNE_INTERVAL_SECONDS: z.coerce.number().positive().default(60),
  /**
   * How often the active relay counts what waits for an operator, for the alerts on it: the sagas parked
   * in needs_attention (one count from Temporal's visibility) and the dead outbox rows.
   */
  ATTENTION_INTERVAL_SECONDS: z.coerce.number().positive().default(30),
  /** Port of the api's /metrics (not served on the public PORT); 0 = pick a free one. */
  API_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9463),
  /** Port of a worker's own /metrics endpoint (0 = pick a free one). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** Port of a worker's Temporal SDK metrics (Prometheus, from the SDK core); 0 = off. */
  SDK_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** The workflow sandbox's debugging aids (workers/sandbox-worker.ts): Node's per-call vm watchdog, */
  SANDBOX_WATCHDOG: z.enum(['on', 'off']).default('off'),
  /** and the per-promise stack capture behind the stack trace query. Both off by default. */
  SANDBOX_STACK_TRACES: z.enum(['on', 'off']).default('off'),
  /**
   * Count this process's I/O (Postgres statements, Temporal client calls, Redis commands, mails) and serve
   * the totals on its /metrics as `app_io_operations` (lib/io-counts.ts): the benchmarks' per-order
   * figures. Off by default; off, nothing is wrapped.
   */
  IO_COUNTS: z.enum(['on', 'off']).default('off'),
  /**
   * How long a process may take to stop after SIGTERM before it logs `shutdown timed out` and exits 1
   * (lib/shutdown.ts): below compose's stop_grace_period (20 s). Tests shorten it.
   */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(DEFAULT_SHUTDOWN_TIMEOUT_MS),
  /** JWT access-token lifetime and refresh-token lifetime, in seconds. */
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).default(900),
  REFRESH_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(14 * 24 * 3600),
  /**
   * Idle timeout of a session (ADR 0008): a refresh token not used for this long is refused (401) and its
   * session ended. The refresh-token lifetime above stays the absolute limit. Must exceed the access-token
   * lifetime, since a client that is in use refreshes about once per access token.
   */
  REFRESH_IDLE_TIMEOUT_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(30 * 60),
  /** How long a re-authentication (POST /api/v1/auth/reauthenticate) lets its session change the second factor. */
  REAUTH_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(30)
    .max(3600)
    .default(5 * 60),
  /**
   * Secret from which the key that encrypts JWT signing keys at rest (signing_keys.private_jwk) is derived.
   * The default is for local development only: the api refuses it when NODE_ENV=production.
   */
  SIGNING_KEY_SECRET: z.string().min(32).default('dev-only-brokerx-signing-key-secret-change-me'),
  /** A new signing key takes over after this many days (0 = never rotate automatically). */
  SIGNING_KEY_ROTATION_DAYS: z.coerce.number().int().min(0).default(30),
  /** Reverse proxies in front of the api that append to X-Forwarded-For (0 = use the socket address only). */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(5).default(0),
  /** Lifetime of an email verification link, in seconds. */
  VERIFICATION_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(24 * 3600),
  /**
   * How long after its confirmation a mailed authenticator reset removes the app (ADR 0008): the owner's
   * time to notice and cancel. Tests shorten it.
   */
  MFA_RESET_DELAY_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(72 * 3600),
  /**
   * How often the api deletes expired idempotency keys and the refresh tokens of long-ended sessions
   * (api/housekeeping.ts).
   */
  HOUSEKEEPING_INTERVAL_MS: z.coerce.number().int().min(100).default(300_000),
  /** How long an Idempotency-Key is remembered (deposits, withdrawals, replaces, cancels), in seconds. */
  IDEMPOTENCY_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(24 * 3600),
  /**
   * The trading calendar (lib/sessions.ts): `nyse` (09:30-16:00 New York on exchange days; market, IOC
   * and FOK orders refused outside it) or `24h`, always open (simulator, demos, tests; `npm start`
   * defaults to it). DAY orders expire at the close of their session.
   */
  TRADING_CALENDAR: z.enum(['nyse', '24h']).default('nyse'),
  /** The 24-hour calendar's daily session close (when DAY orders expire), HH:MM (or HH:MM:SS, which tests use) in UTC. */
  SESSION_CLOSE_UTC: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'must be HH:MM or HH:MM:SS (UTC)')
    .default('21:00'),
  /** How often the api checks Postgres, Redis and Temporal for the `dependency_up` gauge. */
  DEPENDENCY_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
  /**
   * How long the api waits for a placed order's saga to acknowledge before answering 504 (the order goes on;
   * the client queries it later).
   */
  ORDER_ACK_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  /**
   * Start-to-close timeout of the matching activities of the sagas this api starts: how long a step that
   * a dead shard owner had taken waits before its retry. At most their schedule-to-close.
   */
  MATCHING_START_TO_CLOSE_MS: z.coerce.number().int().min(1000).default(MATCHING_START_TO_CLOSE_MS_DEFAULT),
  /**
   * Their schedule-to-close timeout: how long a step waits for a shard owner, all attempts together,
   * before it fails (a placement then compensates; a DAY order's expiry tries again).
   */
  MATCHING_SCHEDULE_TO_CLOSE_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(MATCHING_SCHEDULE_TO_CLOSE_MS_DEFAULT),
  /** Maximum number of sagas the api admits at once before answering 429. */
  MAX_INFLIGHT_ORDERS: z.coerce.number().int().min(1).default(32),
  /**
   * Of those, the most one account may have (a 429 beyond, while other accounts are admitted); and the
   * most replaces and cancels one account may have in flight, a cancel-all counting as one
   * (docs/adr/0045-per-account-admission.md). At most MAX_INFLIGHT_ORDERS; unset, its default is
   * lowered to MAX_INFLIGHT_ORDERS when that is smaller.
   */
  MAX_INFLIGHT_ORDERS_PER_ACCOUNT: z.coerce.number().int().min(1).default(8),
  ALLOWED_ORIGINS: z.string().default('http://localhost:3000'),
  /** Live feed (/ws): largest client frame, in bytes; bigger frames close that socket with 1009. */
  WS_MAX_PAYLOAD_BYTES: z.coerce
    .number()
    .int()
    .min(256)
    .max(1024 * 1024)
    .default(4096),
  /** Server ping interval; a socket that has not answered the previous ping is terminated. */
  WS_HEARTBEAT_SECONDS: z.coerce.number().positive().default(30),
  /** A socket whose unsent bytes exceed this is a slow consumer and is closed (1013). */
  WS_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** Client messages per second per socket (token bucket) and the burst above it; a flood closes with 1008. */
  WS_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(20),
  WS_RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(40),
  /** Sockets per api process, and per account on one process. */
  WS_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(10_000),
  WS_MAX_CONNECTIONS_PER_ACCOUNT: z.coerce.number().int().min(1).default(20),
  /** How often the feed compares each live account stream with Postgres to catch events pub/sub lost. */
  WS_SWEEP_SECONDS: z.coerce.number().positive().default(5),
  /** `npm run start:cluster`: added to every port of docker-compose.yml (to run beside `npm start`). */
  CLUSTER_PORT_OFFSET: z.coerce.number().int().min(0).max(60_000).default(0),
  /** `npm run start:cluster`: prefix of its databases and Redis keys ('' = the names compose uses). */
  CLUSTER_PREFIX: z
    .string()
    .regex(/^[a-z0-9_]*$/, 'lower-case letters, digits and _ only')
    .default(''),
  /** Where devstack/tools.ts (`npm run tools`) keeps the Temporal CLI and Mailpit builds, shared by every clone. */
  BROKERX_TOOLS_DIR: z.string().default(join(homedir(), '.cache', 'brokerx', 'bin')),
  /** Multiplies the per-address login/MFA/registration limits; raise it when load tests register many users from one host. */
  AUTH_ADDRESS_LIMIT_MULTIPLIER: z.coerce.number().int().min(1).max(10_000).default(1),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
});

export type Config = z.infer<typeof configSchema>;

/**
 * The application_name of a process's Postgres connections: prefix, service, instance
 * (`brokerx-trading-1`, `brokerx-api-api-2` reads `brokerx-api-2`), and what the connection is for.
 */
export function applicationName(
  config: Pick<Config, 'DATABASE_APPLICATION_PREFIX' | 'INSTANCE_ID'>,
  service: string,
  purpose?: string,
): string {
  const id = config.INSTANCE_ID.startsWith(service) ? config.INSTANCE_ID : `${service}-${config.INSTANCE_ID}`;
  return `${config.DATABASE_APPLICATION_PREFIX}${id}${purpose ? `-${purpose}` : ''}`.slice(0, 63);
}

export class ConfigError extends Error {
  constructor(readonly issues: Record<string, string[]>) {
    super(
      'Invalid configuration:\n' +
        Object.entries(issues)
          .map(([k, v]) => `  ${k}: ${v.join(', ')}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const issues: Record<string, string[]> = {};
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '(root)');
      (issues[key] ??= []).push(issue.message);
    }
    throw new ConfigError(issues);
  }
  const config = parsed.data;
  if (config.REFRESH_IDLE_TIMEOUT_SECONDS <= config.ACCESS_TOKEN_TTL_SECONDS)
    throw new ConfigError({
      REFRESH_IDLE_TIMEOUT_SECONDS: [
        `must exceed ACCESS_TOKEN_TTL_SECONDS (${config.ACCESS_TOKEN_TTL_SECONDS}): sessions in use would time out`,
      ],
    });
  if (config.MATCHING_START_TO_CLOSE_MS > config.MATCHING_SCHEDULE_TO_CLOSE_MS)
    throw new ConfigError({
      MATCHING_START_TO_CLOSE_MS: [
        `must not exceed MATCHING_SCHEDULE_TO_CLOSE_MS (${config.MATCHING_SCHEDULE_TO_CLOSE_MS})`,
      ],
    });
  if (config.MAX_INFLIGHT_ORDERS_PER_ACCOUNT > config.MAX_INFLIGHT_ORDERS) {
    if (env.MAX_INFLIGHT_ORDERS_PER_ACCOUNT !== undefined)
      throw new ConfigError({
        MAX_INFLIGHT_ORDERS_PER_ACCOUNT: [
          `must not exceed MAX_INFLIGHT_ORDERS (${config.MAX_INFLIGHT_ORDERS}): one account could take every slot`,
        ],
      });
    config.MAX_INFLIGHT_ORDERS_PER_ACCOUNT = config.MAX_INFLIGHT_ORDERS;
  }
  return config;
}

/** For command-line entry points: the config, or the flattened errors on stderr and exit code 2. */
export function loadConfigOrExit(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}
