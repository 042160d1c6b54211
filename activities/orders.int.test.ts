/**
 * The saga's placement steps against a real Postgres (ADR 0032): the reserve step records the order in
 * its statement and the persist step after it writes nothing; a saga whose reserve ran before that
 * change gets its order from its persist step; a refused reservation writes nothing. Validation run
 * again after the reserve (a replayed first workflow task) returns the reservation as recorded, whatever
 * changed in between; the release finds nothing when nothing was reserved, and closes a pending order for
 * the feed too.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTERNAL_ACCOUNT_ID } from '../db/accounts.js';
import type { Database } from '../db/client.js';
import { postEntry } from '../db/queries/ledger.js';
import { reserveEntry } from '../db/queries/orders.js';
import type { ValidatedOrder } from '../temporal/activities.js';
import type { OrderRequest } from '../temporal/contracts.js';
import { FailureType, readBusinessFailure } from '../temporal/failures.js';
import { testConfig, testDatabase } from '../test/helpers.js';
import { isolatedEnv } from '../test/isolated.js';
import { createOrderActivities } from './orders.js';

let database: Database;
const buyer = randomUUID();

/** A client account holding 10,000.00 USD (and `shares`, by symbol). */
async function fundedAccount(id: string, name: string, shares: Record<string, bigint> = {}): Promise<void> {
  await database.db.execute(
    sql`INSERT INTO accounts (id, kind, name) VALUES (${id}::uuid, 'client', ${name})`,
  );
  await postEntry(database.db, {
    kind: 'seed',
    reference: `steps-${id}`,
    postings: [['USD', 1_000_000n] as const, ...Object.entries(shares)].flatMap(([asset, amount]) => [
      { accountId: id, asset, bucket: 'available' as const, amount },
      { accountId: EXTERNAL_ACCOUNT_ID, asset, bucket: 'available' as const, amount: -amount },
    ]),
  });
}

/** What validation returns: the asset, amount and price of the reservation. */
const reservation = (reserveAsset: string, reserveAmount: string, reservePrice: string): ValidatedOrder => ({
  reserveAsset,
  reserveAmount,
  reservePrice,
});

beforeAll(async () => {
  database = testDatabase(testConfig(await isolatedEnv('order-steps')));
  await fundedAccount(buyer, 'steps buyer');
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

describe('validation run again after the reserve (a first workflow task replayed after its worker died)', () => {
  const limited = async (limits: { maxOpenOrders?: number; maxPosition?: number }) => {
    const accountId = randomUUID();
    await fundedAccount(accountId, 'steps limited');
    await database.db.execute(sql`
      INSERT INTO risk_limits (account_id, max_open_orders, max_position, updated_at)
      VALUES (${accountId}::uuid, ${limits.maxOpenOrders ?? null}, ${limits.maxPosition ?? null}, now())`);
    return accountId;
  };
  /** Validate, reserve (the order stored pending), then `meanwhile`, then validate again. */
  async function validatedTwice(order: OrderRequest, meanwhile = async () => {}) {
    const steps = createOrderActivities({ db: database.db });
    const reserved = await steps.validateOrder(order);
    await steps.reserveFunds({ order, workflowId: `steps-${order.orderId}`, reserved });
    expect(await written(order.orderId)).toEqual({ rows: ['pending'], reserves: 1, accepted: 1 });
    await meanwhile();
    return { reserved, again: await steps.validateOrder(order) };
  }

  for (const [limit, limits] of [
    ['max_position 10, a buy of 6', { maxPosition: 10 }],
    ['max_open_orders 1', { maxOpenOrders: 1 }],
  ] as const)
    it(`${limit}: returns the reservation as recorded; another order counts the stored one`, async () => {
      const accountId = await limited(limits);
      const { reserved, again } = await validatedTwice({ ...buy('6'), accountId });
      expect(again).toEqual(reserved);
      const steps = createOrderActivities({ db: database.db });
      const other = await steps.validateOrder({ ...buy('6'), accountId }).catch((e: unknown) => e);
      expect(readBusinessFailure(other)).toMatchObject({ type: FailureType.RiskLimit });
    });

  it('returns what the first validation returned for each order type, also after the collar moved', async () => {
    const accountId = randomUUID();
    await fundedAccount(accountId, 'steps shapes', { TSLA: 100n });
    const tsla = (o: Partial<OrderRequest>): OrderRequest => ({
      ...buy('4'),
      accountId,
      symbol: 'TSLA',
      orderType: 'market',
      timeInForce: 'DAY',
      price: undefined,
      ...o,
    });
    // TSLA: reference 250.00, band 20%: the collar (market and stop orders' reserve price) is 300.00.
    const cases: [OrderRequest, ValidatedOrder][] = [
      [tsla({ orderType: 'limit', price: '25100' }), reservation('USD', '100400', '25100')],
      [tsla({ timeInForce: 'IOC' }), reservation('USD', '120000', '30000')],
      [tsla({ orderType: 'stop', stopPrice: '26000' }), reservation('USD', '120000', '30000')],
      [tsla({ side: 'sell', orderType: 'limit', price: '24900' }), reservation('TSLA', '4', '24900')],
      [tsla({ side: 'sell', timeInForce: 'IOC' }), reservation('TSLA', '4', '30000')],
      [
        tsla({ side: 'sell', orderType: 'stop_limit', stopPrice: '24000', price: '23900' }),
        reservation('TSLA', '4', '23900'),
      ],
    ];
    try {
      for (const [order, expected] of cases) {
        const { reserved, again } = await validatedTwice(order, async () => {
          // The reference price moves (the collar to 312.00): what was recorded stays.
          await database.db.execute(
            sql`UPDATE instruments SET reference_price = 26000 WHERE symbol = 'TSLA'`,
          );
        });
        await database.db.execute(sql`UPDATE instruments SET reference_price = 25000 WHERE symbol = 'TSLA'`);
        expect([order.side, order.orderType, reserved]).toEqual([order.side, order.orderType, expected]);
        expect(again).toEqual(reserved);
      }
    } finally {
      await database.db.execute(sql`UPDATE instruments SET reference_price = 25000 WHERE symbol = 'TSLA'`);
    }
  });

  for (const [control, change, undo, refused] of [
    [
      'the symbol halted',
      (_accountId: string) => sql`UPDATE instruments SET status = 'halted' WHERE symbol = 'GOOG'`,
      (_accountId: string) => sql`UPDATE instruments SET status = 'trading' WHERE symbol = 'GOOG'`,
      FailureType.SymbolHalted,
    ],
    [
      'the account frozen',
      (accountId: string) => sql`UPDATE accounts SET status = 'frozen' WHERE id = ${accountId}::uuid`,
      (accountId: string) => sql`UPDATE accounts SET status = 'active' WHERE id = ${accountId}::uuid`,
      FailureType.AccountFrozen,
    ],
  ] as const)
    it(`${control} in between: returns the reservation as recorded (the shard refuses it), refuses a new order`, async () => {
      const accountId = randomUUID();
      await fundedAccount(accountId, 'steps controlled');
      const order = { ...buy('6'), accountId, symbol: 'GOOG', price: '17000' };
      try {
        const { reserved, again } = await validatedTwice(order, async () => {
          await database.db.execute(change(accountId));
        });
        expect(reserved).toEqual(reservation('USD', '102000', '17000'));
        expect(again).toEqual(reserved);
        const steps = createOrderActivities({ db: database.db });
        const other = await steps.validateOrder({ ...order, orderId: randomUUID() }).catch((e: unknown) => e);
        expect(readBusinessFailure(other)).toMatchObject({ type: refused });
      } finally {
        await database.db.execute(undo(accountId));
      }
    });
});

describe('the release of the reservation (compensation)', () => {
  /** The account's USD balance, the order's row and the execution reports queued for it. */
  async function state(orderId: string, accountId: string) {
    const [r] = await database.db.execute<{
      available: string;
      reserved: string;
      row: { status: string; reserved_amount: string; reject_reason: string | null } | null;
      reports: { exec_type: string; status: string; reserved_amount: string; reject_reason: string }[];
      entries: number;
    }>(sql`
      SELECT
        (SELECT available::text FROM balances WHERE account_id = ${accountId}::uuid AND asset = 'USD') AS available,
        (SELECT reserved::text FROM balances WHERE account_id = ${accountId}::uuid AND asset = 'USD') AS reserved,
        (SELECT json_build_object('status', status, 'reserved_amount', reserved_amount::text,
           'reject_reason', reject_reason) FROM orders WHERE id = ${orderId}::uuid) AS row,
        (SELECT coalesce(json_agg(json_build_object('exec_type', payload->>'exec_type',
           'status', payload->>'status', 'reserved_amount', payload->>'reserved_amount',
           'reject_reason', payload->>'reject_reason') ORDER BY pos), '[]')
           FROM outbox WHERE event_type = 'execution.report' AND payload->>'order_id' = ${orderId}) AS reports,
        (SELECT count(*)::int FROM journal_entries WHERE reference LIKE ${orderId} || '%') AS entries`);
    return r!;
  }

  it('with nothing reserved (the reserve refused) finds nothing and writes nothing', async () => {
    const steps = createOrderActivities({ db: database.db });
    const accountId = randomUUID();
    await fundedAccount(accountId, 'steps nothing');
    const order = { ...buy('6'), accountId };
    await steps.releaseReservation({ orderId: order.orderId, accountId, reason: 'Account is frozen' });
    expect(await state(order.orderId, accountId)).toEqual({
      available: '1000000',
      reserved: '0',
      row: null,
      reports: [],
      entries: 0,
    });
  });

  it('closes a pending order as rejected, gives its reservation back and tells the feed, once', async () => {
    const steps = createOrderActivities({ db: database.db });
    const accountId = randomUUID();
    await fundedAccount(accountId, 'steps frozen');
    const order = { ...buy('6'), accountId };
    const reserved = await steps.validateOrder(order);
    await steps.reserveFunds({ order, workflowId: `steps-${order.orderId}`, reserved });
    expect(await state(order.orderId, accountId)).toMatchObject({ available: '886000', reserved: '114000' });
    const release = { orderId: order.orderId, accountId, reason: 'Account is frozen' };
    await steps.releaseReservation(release);
    await steps.releaseReservation(release); // a retry
    expect(await state(order.orderId, accountId)).toEqual({
      available: '1000000',
      reserved: '0',
      row: { status: 'rejected', reserved_amount: '0', reject_reason: 'Account is frozen' },
      reports: [
        {
          exec_type: 'rejected',
          status: 'rejected',
          reserved_amount: '0',
          reject_reason: 'Account is frozen',
        },
      ],
      entries: 2,
    });
  });
});
