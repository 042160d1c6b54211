/**
 * The shard engine's group commit against a real Postgres: concurrent operations share one
 * transaction and each settles exactly as it would alone; an operation that fails inside a batch fails
 * alone (its savepoint) while the others commit, also when it is the last, whose writes go out with the
 * COMMIT (and still inside the transaction); a failed commit fails the whole batch, the book goes
 * back to what Postgres holds and the retries settle every order once. Stop orders triggered in a
 * cascade are settled like takers, the symbol's sequence moves past the last trigger, and a rebuilt
 * book has the same pending stops. A batch commits only if the shard's fence holds in its last
 * statement, and one that passed its fence ends before the shard's next owner rebuilds. A submit waits
 * for a control change in flight on its scopes. A resting order's row is written back from the books'
 * copy without a read, and never over a change made outside the shard. The settlement's statement finds
 * its orders by key. An operation's journal entries are dated by its time, as its trades executed, so
 * each trade is on the statement of the month it executed in, on an engine whose clock the test sets.
 */
import { randomUUID } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrderActivities } from '../activities/orders.js';
import { EXTERNAL_ACCOUNT_ID } from '../db/accounts.js';
import { postgresErrorCode, type Database } from '../db/client.js';
import { holdControlLockExclusive } from '../db/queries/controls.js';
import { ledgerImbalances, postEntry } from '../db/queries/ledger.js';
import { getOrderById } from '../db/queries/orders.js';
import { loadSequence, saveOrder, settlementWrites, writeSettlement } from '../db/queries/settlement.js';
import { statementOf } from '../db/queries/statement.js';
import { createLogger } from '../lib/logger.js';
import { MAX_KEPT_FILL_IDS, type OrderRequest } from '../temporal/contracts.js';
import { FailureType, readBusinessFailure } from '../temporal/failures.js';
import { testConfig, testDatabase } from '../test/helpers.js';
import { isolatedEnv } from '../test/isolated.js';
import { createMatchingMetrics, settlementBatches } from '../workers/matching/metrics.js';
import { acquireLease, shardLockKey, type Lease } from '../workers/lease.js';
import { ShardEngine } from './index.js';

let database: Database;
let registry: Registry;
let engine: ShardEngine;
const [buyer, seller] = [randomUUID(), randomUUID()];

function newEngine(metricsRegistry = new Registry(), fence?: () => SQL, now?: () => Date): ShardEngine {
  return new ShardEngine({
    db: database.db,
    shard: 0,
    shardCount: 1,
    logger: createLogger('error'),
    metrics: createMatchingMetrics(metricsRegistry),
    fence,
    now,
  });
}

const causeOf = (err: unknown) => String((err as { cause?: unknown }).cause ?? err);

/** Run `fn` while any settlement that records a trade bought by `poison` fails ('injected settlement failure'). */
async function failingTrades(poison: string, fn: () => Promise<void>): Promise<void> {
  await database.db.execute(
    sql.raw(`CREATE FUNCTION fail_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.buy_order_id = '${poison}' THEN RAISE EXCEPTION 'injected settlement failure'; END IF; RETURN NEW; END $$`),
  );
  await database.db.execute(
    sql`CREATE TRIGGER fail_poison BEFORE INSERT ON trades FOR EACH ROW EXECUTE FUNCTION fail_poison()`,
  );
  try {
    await fn();
  } finally {
    await database.db.execute(sql`DROP TRIGGER fail_poison ON trades`);
    await database.db.execute(sql`DROP FUNCTION fail_poison()`);
  }
}

/** An order through the saga's own steps (validated, reserved, persisted), ready for submit. */
async function order(
  side: 'buy' | 'sell',
  priceCents: number,
  quantity = 10,
  over: Partial<OrderRequest> = {},
): Promise<string> {
  const steps = createOrderActivities({ db: database.db });
  const req: OrderRequest = {
    orderId: randomUUID(),
    accountId: side === 'buy' ? buyer : seller,
    clientOrderId: randomUUID(),
    symbol: 'AAPL',
    side,
    orderType: 'limit',
    timeInForce: 'GTC',
    quantity: String(quantity),
    price: String(priceCents),
    ...over,
  };
  const v = await steps.validateOrder(req);
  await steps.reserveFunds({ order: req, workflowId: `engine-test-${req.orderId}`, reserved: v });
  return req.orderId;
}

async function orders(side: 'buy' | 'sell', priceCents: number, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await order(side, priceCents));
  return ids;
}

async function statusOf(id: string): Promise<{ status: string; filled: string }> {
  const [row] = await database.db.execute<{ status: string; filled: string }>(
    sql`SELECT status, filled_quantity::text AS filled FROM orders WHERE id = ${id}::uuid`,
  );
  return row!;
}

/** The live book equals one rebuilt from Postgres, and the ledger balances. */
async function expectConsistent(): Promise<void> {
  const fresh = newEngine();
  await fresh.rebuildAll();
  expect(engine.book('AAPL')?.depth(1_000)).toEqual(fresh.book('AAPL')?.depth(1_000));
  expect(engine.book('AAPL')?.size()).toBe(fresh.book('AAPL')?.size());
  expect(await ledgerImbalances(database.db)).toEqual([]);
}

beforeAll(async () => {
  database = testDatabase(testConfig(await isolatedEnv('shard-engine')));
  registry = new Registry();
  await database.db.execute(
    sql`INSERT INTO accounts (id, kind, name) VALUES (${buyer}::uuid, 'client', 'engine buyer'), (${seller}::uuid, 'client', 'engine seller')`,
  );
  await database.db.transaction((tx) =>
    postEntry(tx, {
      kind: 'seed',
      reference: `engine-test-${buyer}`,
      postings: [
        { accountId: buyer, asset: 'USD', bucket: 'available', amount: 10n ** 10n },
        { accountId: EXTERNAL_ACCOUNT_ID, asset: 'USD', bucket: 'available', amount: -(10n ** 10n) },
        { accountId: seller, asset: 'AAPL', bucket: 'available', amount: 10n ** 6n },
        { accountId: EXTERNAL_ACCOUNT_ID, asset: 'AAPL', bucket: 'available', amount: -(10n ** 6n) },
      ],
    }),
  );
  engine = newEngine(registry);
  await engine.rebuildAll();
}, 60_000);

afterAll(async () => {
  await database?.close();
});

describe('group commit', () => {
  it('settles concurrent submits together, each as it would alone', async () => {
    const sells = await orders('sell', 19_000, 20);
    const buys = await orders('buy', 19_010, 20);
    const before = await settlementBatches(registry);

    const resting = await Promise.all(sells.map((id) => engine.submit(id)));
    expect(resting.map((s) => s.status)).toEqual(sells.map(() => 'working'));
    const filled = await Promise.all(buys.map((id) => engine.submit(id)));
    expect(filled.map((s) => [s.status, s.fillIds.length])).toEqual(buys.map(() => ['filled', 1]));

    // 40 operations in fewer transactions than operations: they were grouped.
    const after = await settlementBatches(registry);
    expect(after.sum - before.sum).toBe(40);
    expect(after.count - before.count).toBeLessThan(40);
    // Price-time priority across the batch: the sells filled in the order they rested, the i-th buy
    // (in arrival order) against the i-th sell.
    for (const id of sells) expect(await statusOf(id)).toEqual({ status: 'filled', filled: '10' });
    const trades = await database.db.execute<{ buy: string; maker: string }>(
      sql`SELECT buy_order_id::text AS buy, maker_order_id::text AS maker FROM trades WHERE buy_order_id = ANY(${`{${buys.join(',')}}`}::uuid[])`,
    );
    expect(trades).toHaveLength(20);
    const makerOf = new Map(trades.map((t) => [t.buy, t.maker]));
    expect(buys.map((id) => makerOf.get(id))).toEqual(sells);
    await expectConsistent();

    // A retried submit (the activity ran again after a lost response) changes nothing; it made no fills
    // (the saga counts the first attempt's by the filled quantity).
    const again = await engine.submit(buys[0]!);
    expect(again).toEqual({ ...filled[0], fillIds: [] });
  });

  it('fails an operation alone inside a batch; the others commit', async () => {
    const sells = await orders('sell', 19_000, 5);
    const [first, ...buys] = await orders('buy', 19_010, 6);
    await Promise.all(sells.map((id) => engine.submit(id)));
    const poison = buys[2]!;
    await failingTrades(poison, async () => {
      // `first` runs alone; the five behind it queue up and share the next transaction.
      const before = await settlementBatches(registry);
      const results = await Promise.allSettled([first!, ...buys].map((id) => engine.submit(id)));
      const after = await settlementBatches(registry);
      expect(after.sum - before.sum).toBe(6);
      expect(after.count - before.count).toBe(2);
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
      ]);
      expect(causeOf((results[3] as PromiseRejectedResult).reason)).toMatch(/injected settlement failure/);
      // The orders behind the poison matched the book as if the poison had never been there.
      expect(await statusOf(poison)).toEqual({ status: 'pending', filled: '0' });
      for (const id of sells) expect(await statusOf(id)).toEqual({ status: 'filled', filled: '10' });
      expect(engine.book('AAPL')?.quote().ask).toBeNull();
      await expectConsistent();
    });
    // Its retry now rests (nothing left to buy) and settles once.
    expect((await engine.submit(poison)).status).toBe('working');
    await expectConsistent();
    await engine.cancel({ orderId: poison, reason: 'user' });
  });

  it('sends the last writes inside the transaction, ahead of the COMMIT that does not wait for them', async () => {
    // The shard takes the order's control locks for its transaction (advisory, shared, released at its
    // end): writes that still see them run in that transaction, not alone behind its COMMIT.
    await database.db.execute(sql`CREATE TABLE trade_probe (control_locks_held boolean)`);
    await database.db.execute(
      sql.raw(`CREATE FUNCTION trade_probe() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO trade_probe SELECT EXISTS (SELECT 1 FROM pg_locks
          WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ShareLock' AND granted);
        RETURN NEW;
      END $$`),
    );
    await database.db.execute(
      sql`CREATE TRIGGER trade_probe AFTER INSERT ON trades FOR EACH ROW EXECUTE FUNCTION trade_probe()`,
    );
    try {
      const [sell] = await orders('sell', 19_000, 1);
      const [buy] = await orders('buy', 19_000, 1);
      await engine.submit(sell!);
      expect((await engine.submit(buy!)).status).toBe('filled');
      const probes = await database.db.execute<{ control_locks_held: boolean }>(
        sql`SELECT * FROM trade_probe`,
      );
      expect(probes.map((p) => p.control_locks_held)).toEqual([true]);
    } finally {
      await database.db.execute(sql`DROP TRIGGER trade_probe ON trades`);
      await database.db.execute(sql`DROP FUNCTION trade_probe()`);
      await database.db.execute(sql`DROP TABLE trade_probe`);
    }
    await expectConsistent();
  });

  it("fails the batch's last operation, whose writes travel with the COMMIT, alone; alone in its batch, nothing of it commits", async () => {
    const sells = await orders('sell', 19_000, 3);
    const [first, next, poison] = await orders('buy', 19_010, 3);
    await Promise.all(sells.map((id) => engine.submit(id)));
    await failingTrades(poison!, async () => {
      // `first` runs alone; `next` and the poison share the next transaction, the poison last: its
      // writes fail after the COMMIT was sent, so the batch runs again with savepoints and `next` commits.
      const before = await settlementBatches(registry);
      const results = await Promise.allSettled([first!, next!, poison!].map((id) => engine.submit(id)));
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
      expect(causeOf((results[2] as PromiseRejectedResult).reason)).toMatch(/injected settlement failure/);
      expect((await settlementBatches(registry)).count - before.count).toBe(2);
      expect(engine.book('AAPL')?.quote().ask).toMatchObject({ qty: 10 });
      // Alone in its batch: the COMMIT rolled its transaction back and its book was put back.
      const alone = await engine.submit(poison!).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(causeOf(alone)).toMatch(/injected settlement failure/);
      expect(await statusOf(poison!)).toEqual({ status: 'pending', filled: '0' });
      expect(engine.book('AAPL')?.quote().ask).toMatchObject({ qty: 10 });
      await expectConsistent();
    });
    expect((await engine.submit(poison!)).status).toBe('filled');
    expect(engine.book('AAPL')?.quote().ask).toBeNull();
    await expectConsistent();
  });

  it('fails the whole batch when the commit fails; the retries settle every order once', async () => {
    const [lead, ...sells] = await orders('sell', 19_000, 4);
    const buys = await orders('buy', 19_010, 3);
    // A deferred check fails at COMMIT, after every operation of the batch ran.
    await database.db.execute(sql`CREATE TABLE fail_commit (on_ boolean)`);
    await database.db.execute(
      sql.raw(`CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF EXISTS (SELECT 1 FROM fail_commit) THEN RAISE EXCEPTION 'injected commit failure'; END IF; RETURN NULL; END $$`),
    );
    await database.db.execute(
      sql`CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON trades DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit()`,
    );
    try {
      await Promise.all([lead, ...sells].map((id) => engine.submit(id!)));
      await database.db.execute(sql`INSERT INTO fail_commit VALUES (true)`);
      const results = await Promise.allSettled(buys.map((id) => engine.submit(id)));
      expect(
        results.every((r) => r.status === 'rejected' && /injected commit failure/.test(causeOf(r.reason))),
      ).toBe(true);
      for (const id of [...buys, lead!, ...sells]) expect((await statusOf(id)).filled).toBe('0');
      // The book was put back: all four sells rest again.
      expect(engine.book('AAPL')?.quote().ask).toMatchObject({ qty: 40 });
      await database.db.execute(sql`DELETE FROM fail_commit`);
      const retried = await Promise.all(buys.map((id) => engine.submit(id)));
      expect(retried.map((s) => s.status)).toEqual(['filled', 'filled', 'filled']);
    } finally {
      await database.db.execute(sql`DROP TRIGGER fail_commit ON trades`);
      await database.db.execute(sql`DROP FUNCTION fail_commit()`);
      await database.db.execute(sql`DROP TABLE fail_commit`);
    }
    const [t] = await database.db.execute<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM trades WHERE buy_order_id = ANY(${`{${buys.join(',')}}`}::uuid[])`,
    );
    expect(t!.n).toBe(3);
    expect(engine.book('AAPL')?.quote().ask).toMatchObject({ qty: 10 });
    await expectConsistent();
  });
});

describe('stop orders', () => {
  it('a cascade of triggered stops settles each like a taker, moves the sequence past the last trigger, and survives a rebuild', async () => {
    // Sell stops at 189.00 and 188.50 (market) wait below the last price; bids at 189.00, 188.50, 188.00.
    const bids = [
      await order('buy', 18_900, 1),
      await order('buy', 18_850, 1),
      await order('buy', 18_800, 1),
    ];
    for (const id of bids) await engine.submit(id);
    const stops = [
      await order('sell', 0, 1, { orderType: 'stop', price: undefined, stopPrice: '18900' }),
      await order('sell', 0, 1, { orderType: 'stop', price: undefined, stopPrice: '18850' }),
    ];
    // A pending stop-limit far away stays pending through everything (and through the rebuild).
    const waiting = await order('sell', 17_000, 1, { orderType: 'stop_limit', stopPrice: '17000' });
    for (const id of [...stops, waiting]) expect((await engine.submit(id)).status).toBe('pending_trigger');
    expect(
      engine
        .book('AAPL')
        ?.pendingStops()
        .map((s) => s.id),
    ).toEqual(stops.concat(waiting));

    // A sell at 189.00 hits the best bid: the 189.00 stop triggers and sells into 188.50, which
    // triggers the 188.50 stop, which sells into 188.00.
    const seqBefore = (await sequence()).seq;
    const taker = await order('sell', 18_900, 1);
    expect(await engine.submit(taker)).toMatchObject({ status: 'filled' });
    for (const id of [...bids, ...stops])
      expect(await statusOf(id)).toEqual({ status: 'filled', filled: '1' });
    const [trig] = await database.db.execute<{ n: number; at: number }>(
      sql`SELECT count(*)::int AS n, count(triggered_at)::int AS at FROM orders WHERE id = ANY(${`{${stops.join(',')}}`}::uuid[])`,
    );
    expect(trig).toEqual({ n: 2, at: 2 });
    // The operation took one sequence, each triggered stop the next: the stored sequence is the last.
    expect(await sequence()).toEqual({ seq: seqBefore + 3, lastPrice: 18_800n });
    const events = await database.db.execute<{ exec: string; order_id: string }>(
      sql`SELECT payload->>'exec_type' AS exec, payload->>'order_id' AS order_id FROM outbox
           WHERE event_type = 'execution.report' AND payload->>'order_id' = ANY(${`{${stops.join(',')}}`}::text[])
           ORDER BY created_at, account_seq`,
    );
    expect(events.map((e) => [stops.indexOf(e.order_id), e.exec])).toEqual([
      [0, 'new'],
      [1, 'new'],
      [0, 'triggered'],
      [0, 'fill'],
      [1, 'triggered'],
      [1, 'fill'],
    ]);
    // The next operation's sequence follows the last trigger's, and a rebuilt book is the live one.
    await expectConsistent();
    const fresh = newEngine();
    await fresh.rebuildAll();
    expect(
      fresh
        .book('AAPL')
        ?.pendingStops()
        .map((s) => s.id),
    ).toEqual([waiting]);
    await engine.cancel({ orderId: waiting, reason: 'user' });
    expect(await statusOf(waiting)).toEqual({ status: 'cancelled', filled: '0' });
  });
});

describe('the fence', () => {
  it('is checked once per batch, by its last statement; a batch whose fence fails commits nothing', async () => {
    let fences = 0;
    let held = true;
    const fenced = newEngine(new Registry(), () => {
      fences++;
      return held ? sql`true` : sql`false`;
    });
    await fenced.rebuildAll();
    try {
      // The first runs alone, the two behind it share the next transaction: two batches.
      const sells = await orders('sell', 18_000, 3);
      await Promise.all(sells.map((id) => fenced.submit(id)));
      expect(fences).toBe(2);
      // A retried submit writes nothing: its batch's fence is a statement of its own.
      expect((await fenced.submit(sells[0]!)).status).toBe('working');
      expect(fences).toBe(3);
      held = false;
      const buys = await orders('buy', 18_000, 3);
      const results = await Promise.allSettled(buys.map((id) => fenced.submit(id)));
      expect(results.every((r) => r.status === 'rejected' && /shard lock/.test(causeOf(r.reason)))).toBe(
        true,
      );
      for (const id of buys) expect(await statusOf(id)).toEqual({ status: 'pending', filled: '0' });
      held = true;
      await Promise.all(buys.map((id) => fenced.submit(id)));
      for (const id of [...sells, ...buys]) expect((await statusOf(id)).status).toBe('filled');
    } finally {
      await engine.rebuildAll();
    }
    await expectConsistent();
  });
});

describe('operator controls', () => {
  it('a submit waits for a control change in flight on its account, then is refused under it', async () => {
    const id = await order('sell', 22_000, 1);
    let commit!: () => void;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let frozen!: () => void;
    const lockHeld = new Promise<void>((resolve) => (frozen = resolve));
    // A freeze as the controls' activity applies it: its scope's lock held exclusively until it commits.
    const change = database.db.transaction(async (tx) => {
      await holdControlLockExclusive(tx, `account:${seller}`);
      await tx.execute(sql`UPDATE accounts SET status = 'frozen' WHERE id = ${seller}::uuid`);
      frozen();
      await committing;
    });
    try {
      await lockHeld;
      let done = false;
      const submit = engine.submit(id).finally(() => (done = true));
      submit.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(done).toBe(false);
      commit();
      await change;
      const err = await submit.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(readBusinessFailure(err)?.type).toBe(FailureType.AccountFrozen);
    } finally {
      commit();
      await change;
      await database.db.execute(sql`UPDATE accounts SET status = 'active' WHERE id = ${seller}::uuid`);
    }
    await engine.cancel({ orderId: id, reason: 'compensation' });
    expect(await statusOf(id)).toEqual({ status: 'rejected', filled: '0' });
  });
});

async function sequence() {
  return loadSequence(database.db, 'AAPL');
}

describe("the books' rows of resting orders", () => {
  it('settles a fill on a resting order without reading it, and never writes over a change made outside the shard', async () => {
    // Below the asks earlier tests left resting: these two are first in line.
    const [first, second] = await orders('sell', 18_900, 2);
    await engine.submit(first!);
    await engine.submit(second!);
    // Another writer changes the resting order first in line: the saga's compensation, which gives back
    // its reservation and marks it rejected (the shard's books do not know).
    await createOrderActivities({ db: database.db }).releaseReservation({
      orderId: first!,
      accountId: seller,
      reason: 'changed outside the shard',
    });
    const buy = await order('buy', 18_900);
    const refused = await engine.submit(buy).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(postgresErrorCode(refused)).toBe('BXS01');
    // Nothing of it was written, the outside change stands, and the book is back to Postgres' state.
    expect(await statusOf(buy)).toEqual({ status: 'pending', filled: '0' });
    expect(await statusOf(first!)).toEqual({ status: 'rejected', filled: '0' });
    await expectConsistent();
    // The retry matches the book as Postgres has it.
    expect((await engine.submit(buy)).status).toBe('filled');
    expect(await statusOf(second!)).toEqual({ status: 'filled', filled: '10' });
    expect(await statusOf(first!)).toEqual({ status: 'rejected', filled: '0' });
    await expectConsistent();
  });

  it("refuses a client's cancel that comes after a fill (order_terminal), not its own retry nor the saga's expiry", async () => {
    // Below the asks earlier tests left resting: first in line.
    const sell = await order('sell', 18_800);
    await engine.submit(sell);
    // The cancel's race lost: a buy fills the order before the client's cancel reaches the shard.
    expect((await engine.submit(await order('buy', 18_800))).status).toBe('filled');
    const lost = await engine.cancel({ orderId: sell, reason: 'user', requestId: randomUUID() }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(readBusinessFailure(lost)).toMatchObject({
      type: FailureType.OrderTerminal,
      details: { status: 'filled' },
    });
    // The saga's expiry at the session close takes the order as it is.
    expect((await engine.cancel({ orderId: sell, reason: 'expired' })).status).toBe('filled');
    // A cancel that won, retried with its request id, answers what it did; another client's is refused.
    const resting = await order('sell', 18_800);
    await engine.submit(resting);
    const requestId = randomUUID();
    expect((await engine.cancel({ orderId: resting, reason: 'user', requestId })).status).toBe('cancelled');
    expect((await engine.cancel({ orderId: resting, reason: 'user', requestId })).status).toBe('cancelled');
    await expect(
      engine.cancel({ orderId: resting, reason: 'user', requestId: randomUUID() }),
    ).rejects.toSatisfy((err: unknown) => readBusinessFailure(err)?.type === FailureType.OrderTerminal);
    expect(await statusOf(sell)).toEqual({ status: 'filled', filled: '10' });
    expect(await statusOf(resting)).toEqual({ status: 'cancelled', filled: '0' });
    await expectConsistent();
  });
});

describe("a step's answer", () => {
  it('lists the fills the step made, the latest a saga keeps; a cancel lists none', async () => {
    // Below the asks earlier tests left resting: first in line.
    const sell = await order('sell', 18_700);
    await engine.submit(sell);
    const buy = await order('buy', 18_700, 3);
    const bought = await engine.submit(buy);
    expect(bought).toMatchObject({ status: 'filled', filledQuantity: '3' });
    expect(bought.fillIds).toHaveLength(1);
    // The resting order's cancel after it traded: its filled quantity, not every trade it took part in.
    expect(await engine.cancel({ orderId: sell, reason: 'user' })).toMatchObject({
      status: 'cancelled',
      filledQuantity: '3',
      fillIds: [],
    });

    // One submit that trades with more resting orders than a saga keeps fill ids of.
    const makers = await orders('sell', 18_600, MAX_KEPT_FILL_IDS + 1);
    await Promise.all(makers.map((id) => engine.submit(id)));
    const sweep = await order('buy', 18_600, 10 * makers.length);
    const swept = await engine.submit(sweep);
    expect(swept).toMatchObject({ status: 'filled', filledQuantity: String(10 * makers.length) });
    const trades = await database.db.execute<{ id: string }>(
      sql`SELECT id::text FROM trades WHERE buy_order_id = ${sweep}::uuid`,
    );
    expect(trades).toHaveLength(MAX_KEPT_FILL_IDS + 1);
    expect(new Set(swept.fillIds).size).toBe(MAX_KEPT_FILL_IDS);
    expect(trades.map((t) => t.id)).toEqual(expect.arrayContaining(swept.fillIds));
    await expectConsistent();
  });
});

describe("the settlement's statement", () => {
  it('reads only the orders it writes, found by key, even where the planner would rather join than look them up', async () => {
    const [id] = await orders('sell', 22_000, 20); // a table that is more than the row written
    const read = await database.db.transaction(async (tx) => {
      // Planned now, without nested loops or a plain scan to pick: the statement keeps the key lookup only
      // if its text has a key condition on the table.
      await tx.execute(
        sql`SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('enable_nestloop', 'off', true),
          set_config('enable_mergejoin', 'off', true), set_config('enable_seqscan', 'off', true)`,
      );
      const row = (await getOrderById(tx, id!))!;
      const rowsRead = async () => {
        const [r] = await tx.execute<{ n: string }>(
          sql`SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::text AS n FROM pg_stat_xact_user_tables WHERE relname = 'orders'`,
        );
        return Number(r!.n);
      };
      const before = await rowsRead();
      const w = settlementWrites();
      row.lockVersion += 1;
      saveOrder(w, row, new Date());
      await writeSettlement(tx, w);
      return (await rowsRead()) - before;
    });
    expect(read).toBe(1); // the one row it writes
  });
});

describe('a shard lock lost while a batch commits', () => {
  it("the next owner rebuilds only after the batch that passed its fence ended: its books hold the batch's order", async () => {
    // Two owners of shard 0 in turn, each with its own lease on this file's database.
    const [{ name } = { name: '' }] = await database.db.execute<{ name: string }>(
      sql`SELECT current_database() AS name`,
    );
    const url = new URL(testConfig().DATABASE_URL);
    url.pathname = `/${name}`;
    const tag = randomUUID().slice(0, 8);
    const [aName, bName] = [`engine-owner-a-${tag}`, `engine-owner-b-${tag}`];
    const lease = (appName: string) =>
      acquireLease(url.toString(), shardLockKey(0), { appName, pollMs: 50, onLost: () => undefined });
    const poll = async (done: () => Promise<boolean>) => {
      while (!(await done())) await new Promise((r) => setTimeout(r, 20));
    };
    /** Sessions of this database waiting for an advisory lock (application_name). */
    const waitingForAdvisoryLock = async () =>
      (
        await database.db.execute<{ app: string }>(
          sql`SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database()`,
        )
      ).map((r) => r.app);

    const leaseA = (await lease(aName))!;
    const a = newEngine(new Registry(), () => leaseA.held());
    await a.rebuildAll();
    const resting = await order('sell', 22_000, 1);
    // A's COMMIT waits (a deferred trigger on the order's row) until the test lets it go: its fence, in its
    // last statement, has passed by then.
    const holdKey = sql`hashtextextended('shard-engine:hold-commit', 0)`;
    await database.db.execute(
      sql`CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock_shared(${holdKey}); RETURN NULL; END $$`,
    );
    await database.db.execute(
      sql.raw(`CREATE CONSTRAINT TRIGGER hold_commit AFTER UPDATE ON orders DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.id = '${resting}') EXECUTE FUNCTION hold_commit()`),
    );
    let letGo!: () => void;
    const released = new Promise<void>((resolve) => (letGo = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const holder = database.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${holdKey})`);
      holding();
      await released;
    });
    let leaseB: Lease | undefined;
    try {
      await held;
      const submitted = a.submit(resting).then(
        (snapshot) => snapshot.status,
        (err: unknown) => err,
      );
      await poll(async () => (await waitingForAdvisoryLock()).length > 0); // A, in its COMMIT
      // A's lock connection ends (the runbook's pg_terminate_backend); B takes the lock and rebuilds.
      await database.db.execute(
        sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${aName}`,
      );
      let rebuilt = false;
      const b = (async () => {
        leaseB = (await lease(bName))!;
        const engine = newEngine(new Registry(), () => leaseB!.held());
        await engine.rebuildAll();
        rebuilt = true;
        return engine;
      })();
      // B has rebuilt its books, or waits for A's transaction to end.
      await poll(async () => rebuilt || (await waitingForAdvisoryLock()).includes(bName));
      letGo();
      await holder;
      expect(await submitted).toBe('working');
      const bEngine = await b;
      expect(await statusOf(resting)).toEqual({ status: 'working', filled: '0' });
      expect(bEngine.book('AAPL')?.has(resting)).toBe(true);
      const fresh = newEngine();
      await fresh.rebuildAll();
      expect(bEngine.book('AAPL')?.depth(1_000)).toEqual(fresh.book('AAPL')?.depth(1_000));
    } finally {
      letGo();
      await holder;
      await database.db.execute(sql`DROP TRIGGER hold_commit ON orders`);
      await database.db.execute(sql`DROP FUNCTION hold_commit()`);
      await leaseA.release();
      await leaseB?.release();
      await engine.rebuildAll();
    }
  });
});

describe("an operation's journal entries", () => {
  it('are dated as its trades executed: each trade is on the statement of the month its confirmation names', async () => {
    // Before, every entry was dated by its batch's transaction start, which the shard's clock reads
    // later: milliseconds apart, so a trade at a month's first instant was on the month before's statement.
    const boundary = new Date('2100-01-01T00:00:00.000Z'); // a month's end after any transaction's start
    const december = { from: new Date('2099-12-01T00:00:00.000Z'), to: boundary };
    const january = { from: boundary, to: new Date('2100-02-01T00:00:00.000Z') };
    let clock = boundary;
    // NVDA, which no other test trades: this engine's book of it is the only one.
    const clocked = newEngine(new Registry(), undefined, () => clock);
    await clocked.rebuildAll();
    expect(clocked.book('NVDA')?.size() ?? 0).toBe(0);
    await postEntry(database.db, {
      kind: 'seed',
      reference: `engine-test-nvda-${seller}`,
      postings: [
        { accountId: seller, asset: 'NVDA', bucket: 'available', amount: 100n },
        { accountId: EXTERNAL_ACCOUNT_ID, asset: 'NVDA', bucket: 'available', amount: -100n },
      ],
    });
    const nvda = (side: 'buy' | 'sell', price: number, quantity: number, over: Partial<OrderRequest> = {}) =>
      order(side, price, quantity, { symbol: 'NVDA', ...over });
    /** The trade an order bought in: its id, executed_at and its execution reports' ts (its confirmation). */
    const tradeOf = async (buyOrderId: string) => {
      const [trade] = await database.db.execute<{ id: string; executed_at: string; reports: string[] }>(sql`
        SELECT t.id::text, to_char(t.executed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS executed_at,
               (SELECT array_agg(DISTINCT o.payload->>'ts') FROM outbox o
                 WHERE o.event_type = 'execution.report' AND o.payload->>'fill_id' = t.id::text) AS reports
          FROM trades t WHERE t.buy_order_id = ${buyOrderId}::uuid`);
      return trade!;
    };
    /** An account's statement lines of a period, as (asset, kind, reference, posted at). */
    const linesOf = async (accountId: string, period: { from: Date; to: Date }) => {
      const page = await statementOf(database.db, { accountId, ...period, limit: 1000 });
      expect(page.next).toBeUndefined();
      return page.assets.flatMap((a) =>
        a.lines.map((l) => `${a.asset} ${l.kind} ${l.reference} ${l.postedAt.toISOString()}`),
      );
    };

    // A millisecond before the month ends: an IOC buy takes a resting sell's 10 shares, and its other 5
    // are cancelled, their reservation released by the same operation.
    clock = new Date(boundary.getTime() - 1);
    expect((await clocked.submit(await nvda('sell', 12_000, 10))).status).toBe('working');
    const ioc = await nvda('buy', 12_010, 15, { timeInForce: 'IOC' });
    expect(await clocked.submit(ioc)).toMatchObject({ status: 'cancelled', filledQuantity: '10' });
    const first = await tradeOf(ioc);

    // At the next month's first instant: a resting buy replaced to cross a sell, the reservation it adds
    // posted by the replace itself.
    clock = boundary;
    expect((await clocked.submit(await nvda('sell', 12_000, 10))).status).toBe('working');
    const replaced = await nvda('buy', 11_000, 5);
    expect((await clocked.submit(replaced)).status).toBe('working');
    expect(
      await clocked.replace({ orderId: replaced, clientVersion: 0, quantity: '8', price: '12000' }),
    ).toMatchObject({ status: 'filled' });
    const second = await tradeOf(replaced);

    // Each trade's confirmation (its execution reports) says when it executed.
    expect(first).toMatchObject({ executed_at: '2099-12-31T23:59:59.999Z', reports: [first.executed_at] });
    expect(second).toMatchObject({ executed_at: boundary.toISOString(), reports: [second.executed_at] });
    // The statements date each entry exactly so, in its trade's month; the placements' reservations
    // (dated by their own transactions, now) are in neither.
    expect(await linesOf(buyer, december)).toEqual([
      `USD trade ${first.id} ${first.executed_at}`,
      `USD release ${ioc}:close ${first.executed_at}`,
      `NVDA trade ${first.id} ${first.executed_at}`,
    ]);
    expect(await linesOf(buyer, january)).toEqual([
      `USD reserve ${replaced}:v1 ${second.executed_at}`,
      `USD trade ${second.id} ${second.executed_at}`,
      `NVDA trade ${second.id} ${second.executed_at}`,
    ]);
    for (const [period, trade] of [
      [december, first],
      [january, second],
    ] as const)
      expect(await linesOf(seller, period)).toEqual([
        `USD trade ${trade.id} ${trade.executed_at}`,
        `NVDA trade ${trade.id} ${trade.executed_at}`,
      ]);
    expect(await ledgerImbalances(database.db)).toEqual([]);
    await engine.rebuildAll();
  });
});
