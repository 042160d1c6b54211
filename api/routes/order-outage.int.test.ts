/**
 * Replace, cancel and cancel-all through a matching outage (every shard stopped, test/stack.ts): the
 * api answers within ORDER_ACK_TIMEOUT_MS with 504 `timeout` while the saga goes on, and with 503 and
 * Retry-After once the update's matching step gave up (its schedule-to-close), never a hang or a 500.
 * Neither changes the order nor stores an answer for its Idempotency-Key: once the shards serve again,
 * the same keyed request gets the real outcome.
 */
import { and, eq, like } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { idempotencyKeys } from '../../db/schema.js';
import { createTestApi, type TestApi } from '../../test/helpers.js';
import { expectProblem } from '../../test/http.js';
import { auditedTradingFixture, restingBuy, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';

let fx: TradingFixture;

auditedTradingFixture('order-outage', (f) => (fx = f));

/** An api on the fixture's stack with `env` over the fixture's config, closed after `run`. */
async function withApi<T>(env: Record<string, string>, run: (api: TestApi) => Promise<T>): Promise<T> {
  const api = await createTestApi({ ...fx.env, ...env });
  try {
    return await run(api);
  } finally {
    await api.close();
  }
}

/** A resting buy placed through `api` (its sagas take its matching timeouts). */
const restingOrder = (api: TestApi, u: FundedTestUser) => restingBuy(api, u.token, 'outage');

const replace = (api: TestApi, u: FundedTestUser, id: string, key: string) =>
  api.call('POST', `/api/v1/orders/${id}/replace`, {
    token: u.token,
    body: { order: { client_version: 0, price: '186.00' } },
    headers: { 'idempotency-key': key },
  });
const cancel = (api: TestApi, u: FundedTestUser, id: string, key: string) =>
  api.call('DELETE', `/api/v1/orders/${id}`, { token: u.token, headers: { 'idempotency-key': key } });

/** The order as the api shows it, and what its account has reserved: unchanged by a refused update. */
async function untouched(u: FundedTestUser, id: string): Promise<void> {
  const row = await fx.api.call('GET', `/api/v1/orders/${id}`, { token: u.token });
  expect(await row.json()).toMatchObject({ status: 'working', price: 185, lock_version: 0 });
  expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n - 37_000n, reserved: 37_000n });
  // No answer stored for a key of the order: a retry runs (or joins) the request again.
  const keys = await fx.database.db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.accountId, u.accountId), like(idempotencyKeys.key, `order:${id}:%`)));
  expect(keys).toEqual([]);
}

describe('replace and cancel in a matching outage', () => {
  it('are 504 once ORDER_ACK_TIMEOUT_MS passed; the saga goes on and a keyed retry gets the outcome', async () => {
    const u = await createFundedUser(fx.api, '1000.00');
    const other = await createFundedUser(fx.api, '1000.00');
    // The sagas give up a matching step after 30 s without a shard owner (the outage here is shorter).
    const steps = { MATCHING_SCHEDULE_TO_CLOSE_MS: '30000' };
    const { id, cid } = await withApi(steps, (api) => restingOrder(api, u));
    const second = await withApi(steps, (api) => restingOrder(api, other));

    await fx.stack.stopShards();
    try {
      await withApi({ ORDER_ACK_TIMEOUT_MS: '1000' }, async (api) => {
        await expectProblem(await replace(api, u, id, 'outage-r'), 504, 'timeout');
        await expectProblem(await cancel(api, u, id, 'outage-c'), 504, 'timeout');
        const all = await api.call('DELETE', '/api/v1/orders', { token: other.token });
        await expectProblem(all, 504, 'timeout');
      });
      await untouched(u, id);
    } finally {
      await fx.stack.startShards();
    }

    // The shards serve again: the saga carries out the replace, then the cancel.
    expect(await fx.handle(u.accountId, cid).result()).toMatchObject({ status: 'cancelled' });
    expect(await fx.handle(other.accountId, second.cid).result()).toMatchObject({ status: 'cancelled' });
    const retried = await replace(fx.api, u, id, 'outage-r');
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ price: 186 });
    const cancelled = await cancel(fx.api, u, id, 'outage-c');
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: 'cancelled' });
    const row = await fx.api.call('GET', `/api/v1/orders/${id}`, { token: u.token });
    expect(await row.json()).toMatchObject({ status: 'cancelled', price: 186, reserved_amount: 0 });
    for (const a of [u, other])
      expect(await fx.balance(a.accountId)).toEqual({ available: 100_000n, reserved: 0n });
  });

  it('are 503 with Retry-After once the matching step gave up; a keyed retry then runs them', async () => {
    const u = await createFundedUser(fx.api, '1000.00');
    // The order's saga gives up a matching step after 3 s without a shard owner; the api waits longer.
    const steps = { MATCHING_START_TO_CLOSE_MS: '1000', MATCHING_SCHEDULE_TO_CLOSE_MS: '3000' };
    const { id, cid } = await withApi(steps, (api) => restingOrder(api, u));

    await fx.stack.stopShards();
    try {
      await withApi({ ORDER_ACK_TIMEOUT_MS: '30000' }, async (api) => {
        for (const res of [await replace(api, u, id, 'failed-r'), await cancel(api, u, id, 'failed-c')]) {
          const problem = await expectProblem(res, 503, 'service_unavailable');
          expect(res.headers.get('retry-after')).toBe('2');
          expect(problem).toMatchObject({ retry_after: 2 });
        }
        // Cancel-all lists the order under `failed` with the code a single cancel answered.
        const all = await api.call('DELETE', '/api/v1/orders', { token: u.token });
        expect(all.status).toBe(200);
        expect(await all.json()).toMatchObject({
          cancelled: [],
          failed: [{ order_id: id, code: 'service_unavailable' }],
        });
      });
      await untouched(u, id);
    } finally {
      await fx.stack.startShards();
    }

    // The same keyed requests run again (not the failure Temporal keeps for their first update id).
    const replaced = await replace(fx.api, u, id, 'failed-r');
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ status: 'working', price: 186, lock_version: 1 });
    const again = await replace(fx.api, u, id, 'failed-r');
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    const cancelled = await cancel(fx.api, u, id, 'failed-c');
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: 'cancelled', order: { price: 186 } });
    expect(await fx.handle(u.accountId, cid).result()).toMatchObject({ status: 'cancelled' });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
  });
});
