/**
 * Integration-test helpers: the run's config (from test/global-setup.ts), an api wired to the real
 * Postgres, Redis and Temporal, Mailpit's API, and direct database access for assertions.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { inject } from 'vitest';
import { applicationName, loadConfig, type Config } from '../lib/config.js';
import { createLogger, type Logger } from '../lib/logger.js';
import type { SessionCalendar } from '../lib/sessions.js';
import { createMailer } from '../lib/mailer.js';
import { serveMetrics } from '../lib/metrics-server.js';
import { connectRedis } from '../lib/redis.js';
import { connectDatabase, type Database } from '../db/client.js';
import { createApp, type App } from '../api/app.js';
import { createApiMetrics } from '../api/metrics.js';
import type { ApiDeps } from '../api/types.js';
import { callApp, type CallOptions } from './http.js';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...inject('env'), ...overrides });
}

export function testDatabase(config = testConfig()): Database {
  return connectDatabase(config.DATABASE_URL, { max: 5, appName: applicationName(config, 'test', 'api') });
}

export interface TestApi {
  app: App;
  deps: ApiDeps;
  /** Call the app like a client: JSON body, optional bearer token and headers. */
  call(method: string, path: string, opts?: CallOptions): Promise<Response>;
  /** The api's metrics port (a free port, as API_METRICS_PORT in production): `${metricsUrl}/metrics`. */
  metricsUrl: string;
  close(): Promise<void>;
}

export async function createTestApi(
  overrides: Record<string, string> = {},
  now: () => Date = () => new Date(),
  logger?: Logger,
  calendar?: SessionCalendar,
): Promise<TestApi> {
  const config = testConfig({ INSTANCE_ID: `test-${randomUUID().slice(0, 8)}`, ...overrides });
  const database = testDatabase(config);
  const redis = connectRedis(config.REDIS_URL, 'test-api');
  // As api/main.ts: the SDK's native connection.
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const deps: ApiDeps = {
    config,
    database,
    redis,
    temporal,
    logger: logger ?? createLogger(config.LOG_LEVEL, { service: 'test-api', instance: config.INSTANCE_ID }),
    metrics: createApiMetrics(config.INSTANCE_ID),
    mailer: createMailer(config.SMTP_URL, config.MAIL_FROM),
    now,
    calendar,
  };
  const app = createApp(deps);
  const metricsServer = await serveMetrics(deps.metrics.registry, 0, '127.0.0.1');
  const { port } = metricsServer.address() as AddressInfo;
  return {
    app,
    deps,
    metricsUrl: `http://127.0.0.1:${port}`,
    call: (method, path, opts) => callApp(app, method, path, opts),
    async close() {
      deps.mailer.close();
      await new Promise((resolve) => metricsServer.close(resolve));
      await Promise.allSettled([database.close(), redis.quit(), connection.close()]);
    },
  };
}

/** Mailpit's search for the mails sent to `to`, URL-encoded: its API's `query=` and its UI's `/search?q=`. */
export const mailSearchQuery = (to: string) => encodeURIComponent(`to:"${to}"`);

/** Mailpit's HTTP API: find the newest message to an address and read its text. */
export async function waitForMail(
  to: string,
  opts: { subject?: RegExp; timeoutMs?: number; after?: number } = {},
): Promise<{ id: string; subject: string; text: string }> {
  const base = testConfig().MAILPIT_URL;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const res = await fetch(`${base}/api/v1/search?query=${mailSearchQuery(to)}&limit=20`);
    const list = (await res.json()) as { messages: { ID: string; Subject: string; Created: string }[] };
    const hit = list.messages.find(
      (m) =>
        (!opts.subject || opts.subject.test(m.Subject)) &&
        (!opts.after || Date.parse(m.Created) >= opts.after),
    );
    if (hit) {
      const msg = (await (await fetch(`${base}/api/v1/message/${hit.ID}`)).json()) as {
        Text: string;
        Subject: string;
      };
      return { id: hit.ID, subject: msg.Subject, text: msg.Text };
    }
    if (Date.now() > deadline)
      throw new Error(`no mail to ${to} matching ${String(opts.subject)} within the timeout`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function mailCount(to: string, subject?: RegExp): Promise<number> {
  const base = testConfig().MAILPIT_URL;
  const res = await fetch(`${base}/api/v1/search?query=${mailSearchQuery(to)}&limit=200`);
  const list = (await res.json()) as { messages: { Subject: string }[] };
  return list.messages.filter((m) => !subject || subject.test(m.Subject)).length;
}

export const uniqueEmail = (tag = 'user') => `${tag}-${randomUUID().slice(0, 12)}@example.test`;
