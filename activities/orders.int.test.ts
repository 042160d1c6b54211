/**
 * The saga's placement steps against a real Postgres (ADR 0032): the reserve step records the order in
 * its statement and the persist step after it writes nothing; a saga whose reserve ran before that
 * change gets its order from its persist step; a refused reservation writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EXTERNAL_ACCOUNT_ID } from '../db/accounts.js';
import type { Database } from '../db/client.js';
import { postEntry } from '../db/queries/ledger.js';
import { reserveEntry } from '../db/queries/orders.js';
import type { OrderRequest } from '../temporal/contracts.js';
import { FailureType, readBusinessFailure } from '../temporal/failures.js';
import { testConfig, testDatabase } from '../test/helpers.js';
import { isolatedEnv } from '../test/isolated.js';
import { createOrderActivities } from './orders.js';

let database: Database;
const buyer = randomUUID();

beforeAll(async () => {
  database = testDatabase(testConfig(await isolatedEnv('order-steps')));
  await database.db.execute(
    sql`INSERT INTO accounts (id, kind, name) VALUES (${buyer}::uuid, 'client', 'steps buyer')`,
  );
  await postEntry(database.db, {
    kind: 'seed',
    reference: `steps-${buyer}`,
    postings: [
      { accountId: buyer, asset: 'USD', bucket: 'available', amount: 1_000_000n },
      { accountId: EXTERNAL_ACCOUNT_ID, asset: 'USD', bucket: 'available', amount: -1_000_000n },
    ],
  });
});

afterAll(async () => {
  await database?.close();
});

const buy = (quantity: string): OrderRequest => ({
  orderId: randomUUID(),
  accountId: buyer,
  clientOrderId: randomUUID(),
  symbol: 'AAPL',
  side: 'buy',
  orderType: 'limit',
  timeInForce: 'GTC',
  quantity,
  price: '19000',
});

/** What Postgres holds of an order: its row's status, its reserve entries and its `order.accepted` events. */
async function written(orderId: string): Promise<{ rows: string[]; reserves: number; accepted: number }> {
  const [r] = await database.db.execute<{ rows: string[]; reserves: number; accepted: number }>(sql`
    SELECT
      (SELECT coalesce(array_agg(status), '{}') FROM orders WHERE id = ${orderId}::uuid) AS rows,
      (SELECT count(*)::int FROM journal_entries WHERE kind = 'reserve' AND reference = ${orderId}) AS reserves,
      (SELECT count(*)::int FROM outbox WHERE event_type = 'order.accepted' AND payload->>'order_id' = ${orderId}) AS accepted`);
  return r!;
}

it('the reserve step records the order pending; the persist step after it, and a retry of either, add nothing', async () => {
  const steps = createOrderActivities({ db: database.db });
  const order = buy('10');
  const pending = { order, workflowId: `steps-${order.orderId}`, reserved: await steps.validateOrder(order) };
  expect(await steps.reserveFunds(pending)).toEqual({ persisted: true });
  expect(await written(order.orderId)).toEqual({ rows: ['pending'], reserves: 1, accepted: 1 });
  await steps.persistOrder({ ...pending, persisted: true });
  await steps.reserveFunds(pending);
  await steps.persistOrder({ ...pending, persisted: false });
  expect(await written(order.orderId)).toEqual({ rows: ['pending'], reserves: 1, accepted: 1 });
});

it('a saga whose reserve step only reserved (recorded before ADR 0032) gets its order from the persist step', async () => {
  const steps = createOrderActivities({ db: database.db });
  const order = buy('10');
  const reserved = await steps.validateOrder(order);
  await postEntry(database.db, reserveEntry(order, order.orderId, BigInt(reserved.reserveAmount)));
  expect(await written(order.orderId)).toEqual({ rows: [], reserves: 1, accepted: 0 });
  await steps.persistOrder({ order, workflowId: `steps-${order.orderId}`, reserved, persisted: false });
  expect(await written(order.orderId)).toEqual({ rows: ['pending'], reserves: 1, accepted: 1 });
});

it('a reservation the balance refuses writes neither the entry nor the order', async () => {
  const steps = createOrderActivities({ db: database.db });
  const order = buy('1000');
  const reserved = await steps.validateOrder(order);
  const err = await steps
    .reserveFunds({ order, workflowId: `steps-${order.orderId}`, reserved })
    .catch((e: unknown) => e);
  expect(readBusinessFailure(err)?.type).toBe(FailureType.InsufficientFunds);
  expect(await written(order.orderId)).toEqual({ rows: [], reserves: 0, accepted: 0 });
});
