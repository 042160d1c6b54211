/**
 * TradingSaga under faults: a failure injected at each step runs exactly the right compensations and
 * leaves balances as they were; a step that commits and then crashes is retried with no second effect;
 * a compensation that keeps failing parks the saga in needs_attention until an operator retries it.
 * The races the saga's patches decide (a step's answer overtaken by a fill or a close, changes waiting
 * behind one another), each reaching the patch's new path, join the replay corpus.
 */
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MatchingActivities, OrderActivities } from '../temporal/activities.js';
import type { SagaState } from '../temporal/contracts.js';
import { retryCompensationsSignal } from './trading-saga.js';
import { eventually, startTradingFixture, type TradingFixture } from '../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../test/users.js';
import { keepHistory, patchesTaken } from '../test/histories.js';

type Step = keyof OrderActivities | keyof MatchingActivities;
/** What the wrapped activities do on their next call, per step (set by each test). */
const faults = new Map<Step, (call: number) => 'fail' | 'commit-then-crash' | 'commit-then-fail' | 'ok'>();
const calls = new Map<Step, number>();
/** What the next call of a step does after it committed, before its answer reaches the saga (once). */
const beforeAnswer = new Map<Step, () => Promise<void>>();

const injected = (step: string) =>
  ApplicationFailure.create({
    type: 'InjectedFault',
    message: `injected failure in ${step}`,
    nonRetryable: true,
  });

function wrap<T extends object>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities) as [Step, (...a: unknown[]) => Promise<unknown>][]) {
    out[name] = async (...args: unknown[]) => {
      const n = (calls.get(name) ?? 0) + 1;
      calls.set(name, n);
      const mode = faults.get(name)?.(n) ?? 'ok';
      if (mode === 'fail') throw injected(name);
      const hold = beforeAnswer.get(name);
      beforeAnswer.delete(name);
      const result = await fn(...args);
      await hold?.();
      if (mode === 'commit-then-crash') throw new Error(`${name} committed, then the worker lost the result`);
      if (mode === 'commit-then-fail') throw injected(name); // committed, and the saga hears of a failure
      return result;
    };
  }
  return out as T;
}

let fx: TradingFixture;
beforeAll(async () => {
  fx = await startTradingFixture('saga-faults', { wrapOrderActivities: wrap, wrapMatchingActivities: wrap });
}, 120_000);
afterAll(async () => {
  if (!fx) return;
  expect(await fx.imbalances()).toEqual([]);
  await fx.close();
});
beforeEach(() => {
  faults.clear();
  calls.clear();
  beforeAnswer.clear();
});

async function placeBuy(token: string, clientOrderId: string) {
  return fx.api.call('POST', '/api/v1/orders', {
    token,
    body: {
      order: {
        symbol: 'AAPL',
        order_type: 'limit',
        direction: 'buy',
        quantity: 10,
        price: 160,
        time_in_force: 'GTC',
        client_order_id: clientOrderId,
      },
    },
  });
}

const result = (accountId: string, id: string): Promise<SagaState> => fx.handle(accountId, id).result();

describe('a failure injected at each step', () => {
  const cases: [Step, string[], boolean][] = [
    // step that fails, compensations that must run (in this order), whether an order row exists after
    ['validateOrder', [], false],
    ['reserveFunds', ['releaseReservation'], false],
    // The reserve step recorded the order pending: its compensation marks it rejected.
    ['persistOrder', ['releaseReservation'], true],
    ['submitOrder', ['withdrawFromBook', 'releaseReservation'], true],
  ];
  for (const [step, compensations, persisted] of cases) {
    it(`${step}: runs ${compensations.join(', ') || 'no compensation'} and leaves balances as they were`, async () => {
      const u = await createFundedUser(fx.api, '10000.00');
      faults.set(step, () => 'fail');
      const res = await placeBuy(u.token, `fault-${step}`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const state = await result(u.accountId, `fault-${step}`);
      expect(state).toMatchObject({
        status: 'rejected',
        rejectCode: 'ProcessingFailed',
        compensations,
        phase: 'done',
      });
      expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
      const rows = await fx.database.db.execute<{ status: string }>(
        sql`SELECT status FROM orders WHERE account_id = ${u.accountId}::uuid`,
      );
      expect(rows.map((r) => r.status)).toEqual(persisted ? ['rejected'] : []);
      if (step === 'submitOrder' || step === 'persistOrder')
        keepHistory(
          step === 'submitOrder' ? 'compensate-submit' : 'compensate-persist',
          fx.handle(u.accountId, `fault-${step}`),
        );
    });
  }
});

describe('a submit that fails after its order traded', () => {
  it('is withdrawn as cancelled with its trades: the client gets the order, the trades settle', async () => {
    const seller = await createFundedUser(fx.api, '0.00', { AAPL: 4n });
    const buyer = await createFundedUser(fx.api, '10000.00');
    const sell = await fx.api.call('POST', '/api/v1/orders', {
      token: seller.token,
      body: {
        order: {
          symbol: 'AAPL',
          order_type: 'limit',
          direction: 'sell',
          quantity: 4,
          price: 160,
          time_in_force: 'GTC',
        },
      },
    });
    expect(sell.status).toBe(201);
    // The buy trades 4 against the sell and rests 6; then its saga hears of a failure and compensates.
    faults.set('submitOrder', () => 'commit-then-fail');
    const res = await placeBuy(buyer.token, 'traded-then-failed');
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ status: 'cancelled', filled_quantity: 4 });
    const state = await result(buyer.accountId, 'traded-then-failed');
    expect(state).toMatchObject({
      status: 'cancelled',
      filledQuantity: '4',
      reservedAmount: '0',
      compensations: ['withdrawFromBook', 'releaseReservation'],
    });
    expect(state.rejectCode).toBeUndefined();
    const [row] = await fx.database.db.execute<{ status: string; reject_reason: string | null }>(
      sql`SELECT status, reject_reason FROM orders WHERE account_id = ${buyer.accountId}::uuid`,
    );
    expect(row).toEqual({ status: 'cancelled', reject_reason: null });
    expect(await fx.balance(buyer.accountId)).toEqual({ available: 1_000_000n - 64_000n, reserved: 0n });
    expect(await fx.balance(buyer.accountId, 'AAPL')).toEqual({ available: 4n, reserved: 0n });
    keepHistory('compensate-traded', fx.handle(buyer.accountId, 'traded-then-failed'));
  });
});

describe('a replace of the time in force through the api', () => {
  it('starts the session-close timer when made DAY and drops it when made GTC again', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    const res = await placeBuy(u.token, 'tif-replace');
    expect(res.status).toBe(201);
    const { order_id: id } = (await res.json()) as { order_id: string };
    const handle = fx.handle(u.accountId, 'tif-replace');
    const timers = async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      return {
        started: events.filter((e) => e.timerStartedEventAttributes).length,
        cancelled: events.filter((e) => e.timerCanceledEventAttributes).length,
      };
    };
    expect(await timers()).toEqual({ started: 0, cancelled: 0 });

    const replace = (version: number, tif: string) =>
      fx.api.call('POST', `/api/v1/orders/${id}/replace`, {
        token: u.token,
        body: { order: { client_version: version, time_in_force: tif } },
      });
    expect((await replace(0, 'DAY')).status).toBe(200);
    await eventually(async () => expect(await timers()).toEqual({ started: 1, cancelled: 0 }));
    expect((await replace(1, 'GTC')).status).toBe(200);
    await eventually(async () => expect(await timers()).toEqual({ started: 1, cancelled: 1 }));

    const cancel = await fx.api.call('DELETE', `/api/v1/orders/${id}`, { token: u.token });
    expect(cancel.status).toBe(200);
    expect(await result(u.accountId, 'tif-replace')).toMatchObject({ status: 'cancelled', lockVersion: 3 });
    keepHistory('replace-time-in-force', handle);
  });
});

describe("races a patch decides (each history takes the patch's new path)", () => {
  type Placed = { order_id: string; status: string };
  async function place(u: FundedTestUser, order: Record<string, unknown>): Promise<Placed> {
    const res = await fx.api.call('POST', '/api/v1/orders', {
      token: u.token,
      body: { order: { order_type: 'limit', time_in_force: 'GTC', ...order } },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as Placed;
  }
  const replace = (u: FundedTestUser, id: string, order: Record<string, unknown>) =>
    fx.api.call('POST', `/api/v1/orders/${id}/replace`, { token: u.token, body: { order } });
  const cancel = (u: FundedTestUser, id: string) =>
    fx.api.call('DELETE', `/api/v1/orders/${id}`, { token: u.token });

  it("a replace answered after a later trade's fill keeps its version: the next replace goes through", async () => {
    const buyer = await createFundedUser(fx.api, '10000.00');
    const seller = await createFundedUser(fx.api, '0.00', { MSFT: 4n });
    const buy = await place(buyer, {
      symbol: 'MSFT',
      direction: 'buy',
      quantity: 10,
      price: 420,
      client_order_id: 'replace-then-fill',
    });
    beforeAnswer.set('replaceOrder', async () => {
      // The order trades at its new price, and the relay tells the saga before the replace's answer comes.
      await place(seller, { symbol: 'MSFT', direction: 'sell', quantity: 4, price: 421 });
      await eventually(async () =>
        expect(await fx.saga(buyer.accountId, 'replace-then-fill')).toMatchObject({ filledQuantity: '4' }),
      );
    });
    const replaced = await replace(buyer, buy.order_id, { client_version: 0, price: 421 });
    expect(replaced.status, await replaced.clone().text()).toBe(200);
    expect(await replaced.json()).toMatchObject({ lock_version: 1, filled_quantity: 4, price: 421 });
    const next = await replace(buyer, buy.order_id, { client_version: 1, quantity: 8 });
    expect(next.status, await next.clone().text()).toBe(200);
    expect(await next.json()).toMatchObject({ lock_version: 2, quantity: 8, filled_quantity: 4 });
    expect((await cancel(buyer, buy.order_id)).status).toBe(200);
    const handle = fx.handle(buyer.accountId, 'replace-then-fill');
    expect(await handle.result()).toMatchObject({ status: 'cancelled', filledQuantity: '4', lockVersion: 3 });
    expect(await patchesTaken(handle)).toContain('version-apart-from-fills');
    expect(await fx.balance(buyer.accountId)).toEqual({ available: 1_000_000n - 168_400n, reserved: 0n });
    keepHistory('replace-then-fill', handle);
  });

  it("a submit answered after the order's close does not reopen it", async () => {
    const u = await createFundedUser(fx.api, '10000.00', { TSLA: 4n });
    beforeAnswer.set('submitOrder', async () => {
      // Before the answer reaches the saga, the account's own sell cancels the resting buy (self-trade
      // prevention, the oldest order) and the relay says so.
      const sell = await place(u, {
        symbol: 'TSLA',
        direction: 'sell',
        quantity: 4,
        price: 250,
        self_trade_prevention: 'cancel_oldest',
      });
      expect(sell.status).toBe('working');
      await eventually(async () =>
        expect(await fx.saga(u.accountId, 'closed-before-answer')).toMatchObject({ status: 'cancelled' }),
      );
    });
    const buy = await place(u, {
      symbol: 'TSLA',
      direction: 'buy',
      quantity: 10,
      price: 250,
      client_order_id: 'closed-before-answer',
    });
    expect(buy.status).toBe('cancelled');
    const handle = fx.handle(u.accountId, 'closed-before-answer');
    expect(await handle.result()).toMatchObject({ status: 'cancelled', reservedAmount: '0', phase: 'done' });
    expect(await patchesTaken(handle)).toContain('closed-stays-closed');
    expect((await fx.api.call('DELETE', '/api/v1/orders', { token: u.token })).status).toBe(200);
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
    expect(await fx.balance(u.accountId, 'TSLA')).toEqual({ available: 4n, reserved: 0n });
    keepHistory('closed-before-answer', handle);
  });

  it('two cancels waiting behind a replace run after it, one after the other', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    const o = await place(u, {
      symbol: 'AMZN',
      direction: 'buy',
      quantity: 10,
      price: 185,
      client_order_id: 'modify-queue',
    });
    const handle = fx.handle(u.accountId, 'modify-queue');
    const acceptedCancels = async () =>
      ((await handle.fetchHistory()).events ?? []).filter(
        (e) =>
          e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'cancelOrder',
      ).length;
    let entered!: () => void;
    const replacing = new Promise<void>((resolve) => (entered = resolve));
    // The replace holds its answer until both cancels wait in the saga behind it.
    beforeAnswer.set('replaceOrder', async () => {
      entered();
      await eventually(async () => expect(await acceptedCancels()).toBe(2));
    });
    const replaced = replace(u, o.order_id, { client_version: 0, quantity: 9 });
    await replacing;
    const cancels = await Promise.all([cancel(u, o.order_id), cancel(u, o.order_id)]);
    expect((await replaced).status).toBe(200);
    // The first cancel closes the order; the second finds it closed, without asking the shard.
    expect(cancels.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(await handle.result()).toMatchObject({ status: 'cancelled', lockVersion: 2 });
    expect(calls.get('cancelOrder')).toBe(1);
    expect(await patchesTaken(handle)).toContain('one-modify-at-a-time');
    keepHistory('modify-queue', handle);
  });
});

describe('a step that commits and then crashes before reporting', () => {
  for (const step of ['reserveFunds', 'persistOrder'] as const) {
    it(`${step} is retried with no second effect`, async () => {
      const u = await createFundedUser(fx.api, '10000.00');
      faults.set(step, (n) => (n === 1 ? 'commit-then-crash' : 'ok'));
      const res = await placeBuy(u.token, `crash-${step}`);
      expect(res.status).toBe(201);
      expect(calls.get(step)).toBeGreaterThanOrEqual(2);
      expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n - 160_000n, reserved: 160_000n });
      const entries = await fx.database.db.execute<{ n: number }>(sql`
        SELECT count(*)::int AS n FROM journal_entries e JOIN postings p ON p.entry_id = e.id
        WHERE e.kind = 'reserve' AND p.account_id = ${u.accountId}::uuid AND p.bucket = 'reserved'`);
      expect(entries[0]!.n).toBe(1);
      const outbox = await fx.database.db.execute<{ n: number }>(sql`
        SELECT count(*)::int AS n FROM outbox WHERE account_id = ${u.accountId}::uuid AND event_type = 'order.accepted'`);
      expect(outbox[0]!.n).toBe(1);
    });
  }
});

describe('a compensation that keeps failing', () => {
  it('parks the saga in needs_attention with an alert metric, and an operator retry finishes it', async () => {
    const u = await createFundedUser(fx.api, '10000.00');
    let brokenRelease = true;
    faults.set('submitOrder', () => 'fail');
    faults.set('releaseReservation', () => (brokenRelease ? 'fail' : 'ok'));
    // withdrawFromBook is the first compensation and must succeed: it marks the order rejected.
    const res = await placeBuy(u.token, 'stuck');
    expect(res.status).toBe(503);
    const handle = fx.handle(u.accountId, 'stuck');
    const parked = await eventually(async () => {
      const d = await handle.describe();
      expect(d.typedSearchAttributes.get({ name: 'OrderStatus', type: 'KEYWORD' } as never)).toBe(
        'needs_attention',
      );
      return d;
    });
    expect(parked.status.name).toBe('RUNNING');
    const metrics = await fx.stack.registry.metrics();
    expect(metrics).toMatch(
      /saga_compensations_total\{[^}]*step="releaseReservation"[^}]*outcome="failed"[^}]*\} [1-9]/,
    );

    brokenRelease = false;
    await handle.signal(retryCompensationsSignal);
    const state = await handle.result();
    expect(state).toMatchObject({
      status: 'rejected',
      compensations: ['withdrawFromBook', 'releaseReservation'],
    });
    expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
    keepHistory('needs-attention', handle);
  });
});

describe('a Postgres error during settlement', () => {
  it('leaves no half-applied match; the retried submit settles it exactly once', async () => {
    const db = fx.database.db;
    const seller = await createFundedUser(fx.api, '0.00', { GOOG: 7n });
    const buyer = await createFundedUser(fx.api, '5000.00');
    const sell = fx.api.call('POST', '/api/v1/orders', {
      token: seller.token,
      body: {
        order: {
          symbol: 'GOOG',
          order_type: 'limit',
          direction: 'sell',
          quantity: 7,
          price: 170,
          time_in_force: 'GTC',
        },
      },
    });
    expect((await sell).status).toBe(201);
    // Every trade insert fails until the trigger is dropped: the match's transaction rolls back.
    await db.execute(
      sql`CREATE FUNCTION fail_trades() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected settlement failure'; END $$`,
    );
    await db.execute(
      sql`CREATE TRIGGER fail_trades BEFORE INSERT ON trades FOR EACH ROW EXECUTE FUNCTION fail_trades()`,
    );
    const buy = fx.api.call('POST', '/api/v1/orders', {
      token: buyer.token,
      body: {
        order: {
          symbol: 'GOOG',
          order_type: 'limit',
          direction: 'buy',
          quantity: 7,
          price: 170,
          time_in_force: 'GTC',
          client_order_id: 'settle-retry',
        },
      },
    });
    const failures = () => fx.stack.registry.getSingleMetric('matching_operations_total')?.get();
    await eventually(async () => {
      const m = await failures();
      expect(m?.values.some((v) => v.labels.outcome === 'rolled_back' && v.value > 0)).toBe(true);
    });
    // Nothing half-applied: no trade, the maker untouched in Postgres and in the book, balances as reserved.
    const [t] = await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM trades`);
    const [maker] = await db.execute<{ status: string; filled_quantity: string }>(sql`
      SELECT status, filled_quantity::text FROM orders WHERE account_id = ${seller.accountId}::uuid`);
    expect(maker).toEqual({ status: 'working', filled_quantity: '0' });
    expect(await fx.balance(seller.accountId, 'GOOG')).toEqual({ available: 0n, reserved: 7n });
    expect(await fx.balance(seller.accountId)).toEqual({ available: 0n, reserved: 0n });
    expect(fx.stack.engines[0]!.book('GOOG')?.quote().ask).toMatchObject({ qty: 7 });
    const tradesBefore = t!.n;

    await db.execute(sql`DROP TRIGGER fail_trades ON trades`);
    await db.execute(sql`DROP FUNCTION fail_trades()`);
    const res = await buy;
    expect([201, 504]).toContain(res.status);
    await eventually(async () => {
      const [after] = await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM trades`);
      expect(after!.n).toBe(tradesBefore + 1);
    }, 30_000);
    expect(await fx.balance(seller.accountId)).toEqual({ available: 119_000n, reserved: 0n });
    expect(await fx.balance(buyer.accountId, 'GOOG')).toEqual({ available: 7n, reserved: 0n });
  });
});

describe('a long-lived order', () => {
  it(
    'continues as new before its history grows past a few thousand events, keeping its state',
    { timeout: 180_000 },
    async () => {
      const u = await createFundedUser(fx.api, '10000.00');
      const res = await placeBuy(u.token, 'long-lived');
      expect(res.status).toBe(201);
      const handle = fx.handle(u.accountId, 'long-lived');
      const first = (await handle.describe()).runId;
      // Harmless signals (no compensation is pending) grow the history past the saga's limit (2,000 events).
      for (let round = 0; round < 22; round++)
        await Promise.all(Array.from({ length: 100 }, () => handle.signal(retryCompensationsSignal)));
      await eventually(
        async () =>
          expect((await fx.temporal.workflow.getHandle(handle.workflowId).describe()).runId).not.toBe(first),
        30_000,
      );
      const latest = fx.temporal.workflow.getHandle(handle.workflowId);
      expect((await latest.describe()).historyLength).toBeLessThan(2500);
      const state = await fx.saga(u.accountId, 'long-lived');
      expect(state).toMatchObject({
        status: 'working',
        phase: 'live',
        reservedAmount: '160000',
        lockVersion: 0,
      });
      // The new run still serves the order: cancel it through the api.
      const order = (await res.json()) as { order_id: string };
      const cancel = await fx.api.call('DELETE', `/api/v1/orders/${order.order_id}`, { token: u.token });
      expect(cancel.status).toBe(200);
      expect(await fx.balance(u.accountId)).toEqual({ available: 1_000_000n, reserved: 0n });
    },
  );
});
