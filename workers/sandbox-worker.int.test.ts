/**
 * The lean workflow sandbox (workers/sandbox-worker.ts) runs the TradingSaga as the SDK's does, and what
 * it gives up is visible: without the per-promise stack capture the stack trace query is refused; with
 * SANDBOX_STACK_TRACES=on it answers with the saga's stack (waiting in submitOrder). The saga's order
 * steps are the real ones, on a database of this file's own (a funded account); it waits in its submit
 * step (nobody serves that matching queue), so it is running when queried.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import { NativeConnection } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { EXTERNAL_ACCOUNT_ID } from '../db/accounts.js';
import { connectDatabase, type Database } from '../db/client.js';
import { postEntry } from '../db/queries/ledger.js';
import type { Config } from '../lib/config.js';
import { stateQuery, TRADING_TASK_QUEUE, withPrefix } from '../temporal/contracts.js';
import { TRADING_SAGA, type TradingSagaWorkflow } from '../temporal/trading-saga.js';
import { testConfig } from '../test/helpers.js';
import { isolatedEnv } from '../test/isolated.js';
import { eventually } from '../test/trading.js';
import { createTradingWorker } from './trading/worker.js';
import { createSagaMetrics } from './worker-metrics.js';

let config: Config;
let database: Database;
let connection: NativeConnection;
const accountId = randomUUID();
beforeAll(async () => {
  config = testConfig(await isolatedEnv('sandbox'));
  database = connectDatabase(config.DATABASE_URL, { max: 1, appName: 'test-sandbox' });
  await database.db.execute(
    sql`INSERT INTO accounts (id, kind, name) VALUES (${accountId}::uuid, 'client', 'sandbox buyer')`,
  );
  await database.db.transaction((tx) =>
    postEntry(tx, {
      kind: 'seed',
      reference: `sandbox-${accountId}`,
      postings: [
        { accountId, asset: 'USD', bucket: 'available', amount: 100_000n },
        { accountId: EXTERNAL_ACCOUNT_ID, asset: 'USD', bucket: 'available', amount: -100_000n },
      ],
    }),
  );
  connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
});
afterAll(async () => {
  await connection?.close();
  await database?.close();
});

for (const stackTraces of [false, true]) {
  it(`stack trace query with the per-promise stack capture ${stackTraces ? "on: the saga's stack" : 'off: refused'}`, async () => {
    const prefix = `${config.TASK_QUEUE_PREFIX}sandbox-${stackTraces ? 'on' : 'off'}-`;
    const sandbox = {
      TASK_QUEUE_PREFIX: prefix,
      SANDBOX_WATCHDOG: 'off',
      SANDBOX_STACK_TRACES: stackTraces ? 'on' : 'off',
    } as const;
    const worker = await createTradingWorker(
      { ...config, ...sandbox },
      {
        connection,
        db: database.db,
        metrics: createSagaMetrics(new Registry()),
        workflowBundlePath: inject('workflowBundlePath'),
      },
    );
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    const orderId = randomUUID();
    await worker.runUntil(async () => {
      const handle = await client.workflow.start<TradingSagaWorkflow>(TRADING_SAGA, {
        taskQueue: withPrefix(prefix, TRADING_TASK_QUEUE),
        workflowId: `sandbox-${orderId}`,
        args: [
          {
            order: {
              orderId,
              accountId,
              clientOrderId: orderId,
              symbol: 'AAPL',
              side: 'buy',
              orderType: 'limit',
              timeInForce: 'GTC',
              quantity: '1',
              price: '16500',
            },
            matchingTaskQueue: `${prefix}nobody`,
          },
        ],
      });
      try {
        await eventually(async () => expect((await handle.query(stateQuery)).phase).toBe('submitting'));
        if (stackTraces)
          expect(await handle.query<string>('__stack_trace')).toMatch(
            /at submitOrder \(.*workflows\/trading-saga\.ts/,
          );
        else await expect(handle.query('__stack_trace')).rejects.toThrow(/stack traces are not enabled/);
      } finally {
        await handle.terminate();
      }
    });
  });
}
