/**
 * Fixture for tests that trade: an isolated database, the workers in process (test/stack.ts), an api
 * on the same config, and readers for balances and sagas.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { runAudit } from '../db/audit.js';
import { freePort, startProcess, waitForPort, type Managed } from '../devstack/processes.js';
import { balancesOf, ledgerImbalances } from '../db/queries/ledger.js';
import { connectDatabase, type Database } from '../db/client.js';
import { CASH_ASSET } from '../db/accounts.js';
import type { Config } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { createMailer } from '../lib/mailer.js';
import { connectRedis } from '../lib/redis.js';
import { orderWorkflowId, stateQuery, type SagaState } from '../temporal/contracts.js';
import type { TradingSagaWorkflow } from '../temporal/trading-saga.js';
import { createOutboxRelay } from '../workers/outbox/relay.js';
import { serveWithFeed, type ServedFeed } from '../api/ws/testing.js';
import type { FeedOptions } from '../api/ws/server.js';
import { startTcpProxy } from './faults.js';
import { createTestApi, testConfig, type TestApi } from './helpers.js';
import { isolatedEnv } from './isolated.js';
import { startTestStack, type TestStack, type TestStackOptions } from './stack.js';

export interface TradingFixture {
  env: Record<string, string>;
  config: Config;
  api: TestApi;
  stack: TestStack;
  database: Database;
  temporal: Client;
  /** available and reserved of one asset (USD in cents, shares as a count). */
  balance(accountId: string, asset?: string): Promise<{ available: bigint; reserved: bigint }>;
  /** The saga's current state (query). */
  saga(accountId: string, clientOrderId: string): Promise<SagaState>;
  /** The saga's typed workflow handle. */
  handle(accountId: string, clientOrderId: string): WorkflowHandle<TradingSagaWorkflow>;
  imbalances(): Promise<unknown[]>;
  /**
   * One worker as its own process (`file`: workers/<kind>/main.ts) on the fixture's config, as the crash
   * tests kill it; resolves once its metrics port (`port`) listens.
   */
  /**
   * An operator script (`file`: scripts/<name>.ts) as operators run it, on the fixture's config (its
   * database and Temporal), `extra` over it; its exit code and output (stderr after stdout on failure).
   */
  script(
    file: string,
    args?: string[],
    extra?: Record<string, string>,
  ): Promise<{ code: number; stdout: string }>;
  workerProcess(
    name: string,
    file: string,
    env?: Record<string, string>,
  ): Promise<{ proc: Managed; port: number }>;
  close(): Promise<void>;
}

export async function startTradingFixture(
  tag: string,
  opts: TestStackOptions & { env?: Record<string, string> } = {},
): Promise<TradingFixture> {
  const env = await isolatedEnv(tag, opts.env);
  const config = testConfig(env);
  const stack = await startTestStack(config, opts);
  const api = await createTestApi(env);
  const database = connectDatabase(config.DATABASE_URL, { max: 5, appName: 'test-fixture' });
  const fx: TradingFixture = {
    env,
    config,
    api,
    stack,
    database,
    temporal: api.deps.temporal,
    async balance(accountId, asset = CASH_ASSET) {
      const row = (await balancesOf(database.db, accountId)).find((b) => b.asset === asset);
      return { available: row?.available ?? 0n, reserved: row?.reserved ?? 0n };
    },
    saga: (accountId, clientOrderId) => fx.handle(accountId, clientOrderId).query(stateQuery),
    handle: (accountId, clientOrderId) =>
      api.deps.temporal.workflow.getHandle<TradingSagaWorkflow>(orderWorkflowId(accountId, clientOrderId)),
    imbalances: () => ledgerImbalances(database.db),
    script: (file, args = [], extra = {}) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', file, ...args], {
        env: { ...process.env, ...inject('env'), ...env, LOG_LEVEL: 'error', ...extra },
      }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (err: { code: number; stdout: string; stderr: string }) => ({
          code: err.code,
          stdout: err.stdout + err.stderr,
        }),
      ),
    async workerProcess(name, file, extra = {}) {
      const port = await freePort();
      const proc = startProcess(name, process.execPath, ['--import', 'tsx', file], {
        env: {
          ...process.env,
          ...inject('env'),
          ...env,
          METRICS_PORT: String(port),
          LOG_LEVEL: 'error',
          ...extra,
        },
        output: 'ignore',
      });
      await waitForPort(port, `${name} metrics`, 60_000, proc);
      return { proc, port };
    },
    async close() {
      await api.close();
      await stack.stop();
      await database.close();
    },
  };
  return fx;
}

/**
 * The fixture of one test file: started before its tests (`use` receives it), and after them the ledger
 * auditor must find nothing (db/audit.ts) before it closes.
 */
export function auditedTradingFixture(tag: string, use: (fx: TradingFixture) => void): void {
  let fx: TradingFixture | undefined;
  beforeAll(async () => {
    fx = await startTradingFixture(tag);
    use(fx);
  }, 120_000);
  afterAll(async () => {
    if (!fx) return;
    expect(await runAudit(fx.database.db)).toEqual([]);
    await fx.close();
  });
}

/** A resting buy of 2 AAPL at 185.00 (GTC) placed through `api`, with its client order id. */
export async function restingBuy(
  api: TestApi,
  token: string,
  tag: string,
): Promise<{ id: string; cid: string }> {
  const cid = `${tag}-${randomUUID()}`;
  const body = {
    order: {
      symbol: 'AAPL',
      order_type: 'limit',
      direction: 'buy',
      quantity: 2,
      price: '185.00',
      time_in_force: 'GTC',
      client_order_id: cid,
    },
  };
  const res = await api.call('POST', '/api/v1/orders', { token, body });
  expect(res.status).toBe(201);
  return { id: ((await res.json()) as { order_id: string }).order_id, cid };
}

/** An AAPL GTC limit order (the fields of `order` override) placed through `api`; expects its 201. */
export async function placeGtc(
  api: TestApi,
  token: string,
  order: Record<string, unknown>,
): Promise<{ order_id: string; status: string }> {
  const res = await api.call('POST', '/api/v1/orders', {
    token,
    body: { order: { symbol: 'AAPL', order_type: 'limit', time_in_force: 'GTC', ...order } },
  });
  const json = (await res.json()) as { order_id: string; status: string };
  expect(res.status, JSON.stringify(json)).toBe(201);
  return json;
}

/**
 * What the relay that takes the lease over does with the rows its predecessor published and died before
 * marking done: publish them again, with its own Redis connection. Returns how many rows it handled.
 */
export async function publishAgainAsTakeover(fx: TradingFixture): Promise<number> {
  const redis = connectRedis(fx.config.REDIS_URL, 'test-relay-takeover');
  const mailer = createMailer(fx.config.SMTP_URL, fx.config.MAIL_FROM);
  const takeover = createOutboxRelay({
    sql: fx.database.sql,
    redis,
    temporal: fx.temporal,
    mailer,
    logger: createLogger('warn'),
    registry: new Registry(),
    redisPrefix: fx.config.REDIS_PREFIX,
  });
  try {
    const handled = await takeover.processBatch();
    await takeover.stop();
    return handled;
  } finally {
    mailer.close();
    await redis.quit();
  }
}

/** A feed and cable of the test's own whose Redis connections go through a proxy of its own. */
export interface FeedBehindProxy extends ServedFeed {
  /**
   * Lose events to the feed's Redis subscriber: `commit` runs with the relay stopped (it returns once its
   * events are in the outbox), then the relay publishes them while every connection through the proxy
   * is cut; then the proxy forwards again and the subscriber connects again.
   */
  publishWhileCut(commit: () => Promise<void>): Promise<void>;
}

export async function serveBehindProxy(
  fx: TradingFixture,
  options: Partial<FeedOptions> = {},
): Promise<FeedBehindProxy> {
  const proxy = await startTcpProxy(fx.config.REDIS_URL);
  const redis = connectRedis(proxy.url, 'test-feed-proxied');
  const served = await serveWithFeed(fx.api.app, { ...fx.api.deps, redis }, options);
  return {
    ...served,
    async publishWhileCut(commit) {
      await fx.stack.relay.stop();
      try {
        await commit();
        void proxy.outage();
        expect(await fx.stack.relay.processBatch()).toBeGreaterThan(0);
      } finally {
        proxy.resume();
        await fx.stack.relay.start();
      }
    },
    async close() {
      await served.close();
      redis.disconnect();
      await proxy.close();
    },
  };
}

export { eventually } from './eventually.js';
