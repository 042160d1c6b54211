/**
 * DAY orders expire in the shard (docs/adr/0044-day-orders-expire-in-the-shard.md), against a real
 * Postgres, on an engine whose clock the test moves: a resting DAY order whose session closed does not
 * trade with a crossing order, which trades with the next order in price-time priority instead; it ends
 * expired as the saga's expiry step would leave it (reservation released, timeline, execution report to
 * its saga), and that step, arriving later, finds it expired, as a client's cancel does. A client's
 * cancel that comes first after the close expires it (with its book's other due orders) and is refused
 * as for an expired order. A shard that takes the book over reads the expiries from the rows; a DAY stop
 * waiting for its trigger expires without triggering; a replace moves the expiry with the time in force,
 * and a due order is expired, not replaced.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrderActivities } from '../activities/orders.js';
import { EXTERNAL_ACCOUNT_ID } from '../db/accounts.js';
import type { Database } from '../db/client.js';
import { balancesOf, ledgerImbalances, postEntry } from '../db/queries/ledger.js';
import { getOrderById } from '../db/queries/orders.js';
import { createLogger } from '../lib/logger.js';
import type { OrderRequest } from '../temporal/contracts.js';
import { FailureType, readBusinessFailure } from '../temporal/failures.js';
import { testConfig, testDatabase } from '../test/helpers.js';
import { isolatedEnv } from '../test/isolated.js';
import { createMatchingMetrics } from '../workers/matching/metrics.js';
import { ShardEngine } from './index.js';

let database: Database;
const [buyer, seller] = [randomUUID(), randomUUID()];
/** The engines' clock: the test moves it past a session's close. */
let clock = new Date();
const HOUR = 3_600_000;

const newEngine = (): ShardEngine =>
  new ShardEngine({
    db: database.db,
    shard: 0,
    shardCount: 1,
    logger: createLogger('error'),
    metrics: createMatchingMetrics(new Registry()),
    now: () => clock,
  });

/** An engine on a clock set to now, its books rebuilt, and a session close an hour away. */
async function session(): Promise<{ engine: ShardEngine; close: Date }> {
  clock = new Date();
  const engine = newEngine();
  await engine.rebuildAll();
  return { engine, close: new Date(clock.getTime() + HOUR) };
}

/** An order through the saga's own steps (validated, reserved, persisted with its expiry), ready for submit. */
async function order(
  side: 'buy' | 'sell',
  priceCents: number,
  over: Partial<OrderRequest> = {},
  expiresAt?: Date,
): Promise<string> {
  const steps = createOrderActivities({ db: database.db });
  const req: OrderRequest = {
    orderId: randomUUID(),
    accountId: side === 'buy' ? buyer : seller,
    clientOrderId: randomUUID(),
    symbol: 'AAPL',
    side,
    orderType: 'limit',
    timeInForce: expiresAt ? 'DAY' : 'GTC',
    quantity: '10',
    price: String(priceCents),
    ...over,
  };
  const v = await steps.validateOrder(req);
  await steps.reserveFunds({
    order: req,
    workflowId: `day-expiry-test-${req.orderId}`,
    reserved: v,
    expiresAt: expiresAt?.toISOString(),
  });
  return req.orderId;
}

const row = async (id: string) => (await getOrderById(database.db, id))!;

const reserved = async (accountId: string, asset: string) =>
  (await balancesOf(database.db, accountId)).find((b) => b.asset === asset)?.reserved ?? 0n;

/** The execution reports and timeline events written for an order. */
async function announced(id: string) {
  const reports = await database.db.execute<{ exec: string; status: string; notify: boolean }>(sql`
    SELECT payload->>'exec_type' AS exec, payload->>'status' AS status, (payload->>'notify_saga')::boolean AS notify
    FROM outbox WHERE event_type = 'execution.report' AND payload->>'order_id' = ${id} ORDER BY pos`);
  const timeline = await database.db.execute<{ type: string }>(
    sql`SELECT type FROM order_events WHERE order_id = ${id}::uuid ORDER BY at, id`,
  );
  return { reports: [...reports], timeline: timeline.map((t) => t.type) };
}

/** The failure an operation was refused with. */
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => readBusinessFailure(err),
  );

/** The engine's book equals one rebuilt from Postgres, and the ledger balances. */
async function expectConsistent(engine: ShardEngine): Promise<void> {
  const fresh = newEngine();
  await fresh.rebuildAll();
  expect(engine.book('AAPL')?.depth(1_000)).toEqual(fresh.book('AAPL')?.depth(1_000));
  expect(engine.book('AAPL')?.stopCount()).toBe(fresh.book('AAPL')?.stopCount());
  expect(await ledgerImbalances(database.db)).toEqual([]);
}

beforeAll(async () => {
  database = testDatabase(testConfig(await isolatedEnv('day-expiry')));
  await database.db.execute(
    sql`INSERT INTO accounts (id, kind, name) VALUES (${buyer}::uuid, 'client', 'expiry buyer'), (${seller}::uuid, 'client', 'expiry seller')`,
  );
  await database.db.transaction((tx) =>
    postEntry(tx, {
      kind: 'seed',
      reference: `day-expiry-test-${buyer}`,
      postings: [
        { accountId: buyer, asset: 'USD', bucket: 'available', amount: 10n ** 10n },
        { accountId: EXTERNAL_ACCOUNT_ID, asset: 'USD', bucket: 'available', amount: -(10n ** 10n) },
        { accountId: seller, asset: 'AAPL', bucket: 'available', amount: 10n ** 6n },
        { accountId: EXTERNAL_ACCOUNT_ID, asset: 'AAPL', bucket: 'available', amount: -(10n ** 6n) },
      ],
    }),
  );
}, 60_000);

afterAll(async () => {
  await database?.close();
});

describe('a DAY order whose session closed', () => {
  it('does not trade: the crossing order takes the next in price-time priority, the DAY order ends expired', async () => {
    const { engine, close } = await session();
    // The best offer is a DAY sell; a GTC sell behind it at a worse price.
    const day = await order('sell', 19_000, {}, close);
    const gtc = await order('sell', 19_010);
    for (const id of [day, gtc]) expect((await engine.submit(id)).status).toBe('working');
    expect((await row(day)).expiresAt).toEqual(close);
    expect((await row(gtc)).expiresAt).toBeNull();
    expect(await reserved(seller, 'AAPL')).toBe(20n);

    // Before the close the DAY order trades as any other.
    const early = await order('buy', 19_000, { quantity: '1' });
    expect(await engine.submit(early)).toMatchObject({ status: 'filled' });
    expect(await row(day)).toMatchObject({ status: 'partially_filled', filledQuantity: 1n });

    // After the close, before the saga's expiry step came: a buy crossing both.
    clock = new Date(close.getTime() + 1);
    const buy = await order('buy', 19_020);
    const bought = await engine.submit(buy);
    expect(bought).toMatchObject({ status: 'filled', filledQuantity: '10' });
    const trades = await database.db.execute<{ maker: string; price: string }>(
      sql`SELECT maker_order_id::text AS maker, price::text AS price FROM trades WHERE buy_order_id = ${buy}::uuid`,
    );
    expect([...trades]).toEqual([{ maker: gtc, price: '19010' }]);
    expect(await row(day)).toMatchObject({
      status: 'expired',
      filledQuantity: 1n,
      reservedAmount: 0n,
      lockVersion: 1,
    });
    expect(await reserved(seller, 'AAPL')).toBe(0n);
    // Reported to its saga (the relay signals it) and on its timeline, as the saga's expiry would.
    const { reports, timeline } = await announced(day);
    expect(reports.at(-1)).toEqual({ exec: 'expired', status: 'expired', notify: true });
    expect(timeline.at(-1)).toBe('expired');
    expect(engine.book('AAPL')?.get(day)).toBeUndefined();

    // The saga's expiry step, arriving later, finds it expired; a client's cancel is refused as closed.
    expect(await engine.cancel({ orderId: day, reason: 'expired' })).toMatchObject({
      status: 'expired',
      lockVersion: 1,
    });
    expect(
      await refusal(engine.cancel({ orderId: day, requestId: randomUUID(), reason: 'user' })),
    ).toMatchObject({ type: FailureType.OrderTerminal, details: { status: 'expired' } });
    expect((await announced(day)).reports.filter((r) => r.exec === 'expired')).toHaveLength(1);
    await expectConsistent(engine);
  });

  it('a client cancel that comes first expires it, with the due orders of its book, and is refused as expired', async () => {
    const { engine, close } = await session();
    const day = await order('buy', 17_000, {}, close);
    const other = await order('buy', 16_900, {}, close);
    const gtc = await order('buy', 16_800);
    for (const id of [day, other, gtc]) expect((await engine.submit(id)).status).toBe('working');

    // After the close, before anything expired them: the client's cancel.
    clock = new Date(close.getTime() + 1);
    const requestId = randomUUID();
    const expired = { type: FailureType.OrderTerminal, details: { status: 'expired' } };
    expect(await refusal(engine.cancel({ orderId: day, requestId, reason: 'user' }))).toMatchObject(expired);
    for (const id of [day, other]) {
      expect(await row(id)).toMatchObject({ status: 'expired', reservedAmount: 0n, lockVersion: 1 });
      const { reports, timeline } = await announced(id);
      expect(reports.filter((r) => r.exec === 'expired')).toEqual([
        { exec: 'expired', status: 'expired', notify: true },
      ]);
      expect(timeline.at(-1)).toBe('expired');
      expect(engine.book('AAPL')?.get(id)).toBeUndefined();
    }
    expect(await row(gtc)).toMatchObject({ status: 'working', lockVersion: 0 });

    // The same cancel again, and the saga's expiry step, find it expired; nothing is written twice.
    expect(await refusal(engine.cancel({ orderId: day, requestId, reason: 'user' }))).toMatchObject(expired);
    expect(await engine.cancel({ orderId: day, reason: 'expired' })).toMatchObject({
      status: 'expired',
      lockVersion: 1,
    });
    expect((await announced(day)).reports.filter((r) => r.exec === 'expired')).toHaveLength(1);
    await expectConsistent(engine);
    await engine.cancel({ orderId: gtc, requestId: randomUUID(), reason: 'user' });
    expect(await reserved(buyer, 'USD')).toBe(0n);
  });

  it('a shard taking the book over reads the expiries; a DAY stop expires untriggered; a replace moves the expiry', async () => {
    const { engine, close } = await session();
    // A DAY sell stop at 180.00 (below the last price), a GTC bid it would sell into once triggered,
    // and a GTC bid at 180.00 for a seller to print 180.00 against.
    const stop = await order('sell', 0, { orderType: 'stop', price: undefined, stopPrice: '18000' }, close);
    const below = await order('buy', 17_900);
    const bid = await order('buy', 18_000, { quantity: '5' });
    // A DAY bid made GTC by a replace (it stays), a GTC bid made DAY (it expires), and one DAY bid whose
    // replace comes after the close.
    const madeGtc = await order('buy', 17_800, {}, close);
    const madeDay = await order('buy', 17_700);
    const late = await order('buy', 17_600, {}, close);
    expect((await engine.submit(stop)).status).toBe('pending_trigger');
    for (const id of [below, bid, madeGtc, madeDay, late])
      expect((await engine.submit(id)).status).toBe('working');
    const replaced = await engine.replace({
      orderId: madeGtc,
      requestId: randomUUID(),
      clientVersion: 0,
      timeInForce: 'GTC',
    });
    expect(replaced.status).toBe('working');
    expect((await row(madeGtc)).expiresAt).toBeNull();
    await engine.replace({
      orderId: madeDay,
      requestId: randomUUID(),
      clientVersion: 0,
      timeInForce: 'DAY',
      expiresAt: close.toISOString(),
    });
    expect((await row(madeDay)).expiresAt).toEqual(close);

    // Another shard owner takes over after the close (its books rebuilt from Postgres).
    clock = new Date(close.getTime() + 1);
    const next = newEngine();
    await next.rebuildAll();
    expect(
      await refusal(
        next.replace({ orderId: late, requestId: randomUUID(), clientVersion: 0, quantity: '20' }),
      ),
    ).toMatchObject({ type: FailureType.OrderTerminal, details: { status: 'expired' } });
    // The replace expired it, and the book's other due orders, instead.
    for (const id of [late, madeDay, stop]) expect(await row(id)).toMatchObject({ status: 'expired' });
    const sell = await order('sell', 18_000, { quantity: '5' });
    expect(await next.submit(sell)).toMatchObject({ status: 'filled', filledQuantity: '5' });
    // The trade printed 180.00, the stop's price: expired first, it never triggered.
    expect(await row(stop)).toMatchObject({ status: 'expired', reservedAmount: 0n, triggeredAt: null });
    expect(await row(below)).toMatchObject({ status: 'working', filledQuantity: 0n });
    expect(await row(madeGtc)).toMatchObject({ status: 'working', timeInForce: 'GTC' });
    expect(await row(madeDay)).toMatchObject({ status: 'expired', reservedAmount: 0n });
    expect(await row(late)).toMatchObject({ status: 'expired', reservedAmount: 0n });
    expect(next.book('AAPL')?.stopCount()).toBe(0);
    await expectConsistent(next);

    for (const id of [below, madeGtc])
      await next.cancel({ orderId: id, requestId: randomUUID(), reason: 'user' });
    expect(await reserved(buyer, 'USD')).toBe(0n);
    expect(await reserved(seller, 'AAPL')).toBe(0n);
  });
});
