import type { Redis } from 'ioredis';
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { Mailer } from '../lib/mailer.js';
import type { SessionCalendar } from '../lib/sessions.js';
import type { Database } from '../db/client.js';
import type { ApiMetrics } from './metrics.js';
import type { TokenRole } from './auth/tokens.js';

/** Everything the api needs, built once by api/main.ts (or by the test harness). */
export interface ApiDeps {
  config: Config;
  database: Database;
  redis: Redis;
  temporal: Client;
  logger: Logger;
  metrics: ApiMetrics;
  /** Outgoing mail (verification links, login codes). */
  mailer: Mailer;
  /** Injected clock, so tests can move time. */
  now: () => Date;
  /** Trading sessions (default: the config's TRADING_CALENDAR); tests inject sessions that close in seconds. */
  calendar?: SessionCalendar;
  /** True once SIGTERM arrived: /ready fails so the load balancer drains this instance. */
  draining?: () => boolean;
}

/** The authenticated caller, taken from the access token only. */
export interface Principal {
  userId: string;
  accountId: string;
  email: string;
  /** From the token's role claim: operators may use /api/v1/admin. */
  role: TokenRole;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    principal: Principal;
    /** The session (refresh-token family) of the access token, set with `principal`. */
    sessionId: string;
  };
}
