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
  /**
   * Resolves once every mail the api has handed its mailer so far is in Mailpit (which stores a mail before
   * it answers its SMTP transaction) or failed (the mailer's `idle`): the point after which a test compares the mails it got
   * with the set it expects, as notices are sent without being awaited (api/auth/mails.ts) and the
   * mailer's pooled connections deliver in any order.
   */
  mailsSent(): Promise<void>;
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
  const mailer = createMailer(config.SMTP_URL, config.MAIL_FROM);
  const deps: ApiDeps = {
    config,
    database,
    redis,
    temporal,
    logger: logger ?? createLogger(config.LOG_LEVEL, { service: 'test-api', instance: config.INSTANCE_ID }),
    metrics: createApiMetrics(config.INSTANCE_ID),
    mailer,
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
    async mailsSent() {
      if (!(await mailer.idle())) throw new Error('mails still being sent after the mailer gave up waiting');
    },
    async close() {
      // As api/main.ts at shutdown: the notices handed to the mailer are sent before close() fails them.
      if (!(await mailer.idle())) deps.logger.warn('mails still being sent at shutdown are lost');
      mailer.close();
      await new Promise((resolve) => metricsServer.close(resolve));
      await Promise.allSettled([database.close(), redis.quit(), connection.close()]);
    },
  };
}

/** Mailpit's search for the mails sent to `to`, URL-encoded: its API's `query=` and its UI's `/search?q=`. */
export const mailSearchQuery = (to: string) => encodeURIComponent(`to:"${to}"`);

/** Mailpit's list of the mails to `to`, newest first (up to `limit`). */
async function searchMails(to: string, limit: number) {
  const res = await fetch(
    `${testConfig().MAILPIT_URL}/api/v1/search?query=${mailSearchQuery(to)}&limit=${limit}`,
  );
  return ((await res.json()) as { messages: { ID: string; Subject: string; Created: string }[] }).messages;
}

/** The text of a mail in Mailpit. */
async function mailText(id: string): Promise<{ subject: string; text: string }> {
  const msg = (await (await fetch(`${testConfig().MAILPIT_URL}/api/v1/message/${id}`)).json()) as {
    Text: string;
    Subject: string;
  };
  return { subject: msg.Subject, text: msg.Text };
}

/** Mailpit's HTTP API: find the newest message to an address and read its text. */
export async function waitForMail(
  to: string,
  opts: { subject?: RegExp; timeoutMs?: number; after?: number } = {},
): Promise<{ id: string; subject: string; text: string }> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const hit = (await searchMails(to, 20)).find(
      (m) =>
        (!opts.subject || opts.subject.test(m.Subject)) &&
        (!opts.after || Date.parse(m.Created) >= opts.after),
    );
    if (hit) return { id: hit.ID, ...(await mailText(hit.ID)) };
    if (Date.now() > deadline)
      throw new Error(`no mail to ${to} matching ${String(opts.subject)} within the timeout`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function mailCount(to: string, subject?: RegExp): Promise<number> {
  return (await searchMails(to, 200)).filter((m) => !subject || subject.test(m.Subject)).length;
}

/**
 * Every mail to `to` whose subject matches, with its text, sorted by subject, then text (as `sort()` sorts
 * strings): a set to compare whole with the one expected, whatever order the mails arrived in. Read it
 * after a drain point (`TestApi.mailsSent`), else a mail still on its way is missed.
 */
export async function mailsTo(to: string, subject?: RegExp): Promise<{ subject: string; text: string }[]> {
  const hits = (await searchMails(to, 200)).filter((m) => !subject || subject.test(m.Subject));
  const mails = await Promise.all(hits.map((m) => mailText(m.ID)));
  const key = (m: { subject: string; text: string }) => `${m.subject}\n${m.text}`;
  return mails.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export const uniqueEmail = (tag = 'user') => `${tag}-${randomUUID().slice(0, 12)}@example.test`;
