/**
 * Retry-safe replace and cancel: an `Idempotency-Key` on POST /orders/{id}/replace, POST
 * /orders/{id}/cancel and DELETE /orders/{id} replays the first answer, refuses another body and a
 * request still running, is scoped to the order, and survives a lost answer: the key travels into
 * Temporal as the update id, so a retry after the saga answered (the api never completed the key) gets
 * that answer, not a version conflict, also once the saga has ended. The saga of a keyed replace joins
 * the replay corpus (`npm run histories:record`).
 */
import { describe, expect, it } from 'vitest';
import { claimIdempotencyKey } from '../../db/queries/idempotency.js';
import {
  cancelOrderUpdate,
  idempotentUpdateId,
  replaceOrderUpdate,
  type CancelRequest,
  type ReplaceRequest,
} from '../../temporal/contracts.js';
import type { TestApi } from '../../test/helpers.js';
import { keepHistory } from '../../test/histories.js';
import { auditedTradingFixture, restingBuy, type TradingFixture } from '../../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../../test/users.js';
import { modifyRequestHash } from './orders.js';

let fx: TradingFixture;
let api: TestApi;

auditedTradingFixture('order-idempotency', (f) => {
  fx = f;
  api = f.api;
});

type Json = Record<string, unknown>;

const restingOrder = (u: FundedTestUser) => restingBuy(api, u.token, 'idem');

const call = async (
  u: FundedTestUser,
  method: 'POST' | 'DELETE',
  path: string,
  key: string | undefined,
  body?: unknown,
) => {
  const res = await api.call(method, path, {
    token: u.token,
    body,
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });
  return {
    status: res.status,
    replayed: res.headers.get('idempotent-replayed'),
    json: (await res.json()) as Json,
  };
};
const replace = (u: FundedTestUser, id: string, key: string | undefined, order: Json) =>
  call(u, 'POST', `/api/v1/orders/${id}/replace`, key, { order });

/** The api claimed `key` a while ago and never finished (it crashed after sending the update). */
async function abandonedClaim(
  u: FundedTestUser,
  orderId: string,
  key: string,
  op: 'replace' | 'cancel',
  request: ReplaceRequest | CancelRequest,
) {
  await claimIdempotencyKey(fx.database.db, {
    accountId: u.accountId,
    key: `order:${orderId}:${key}`,
    scope: `order_${op}`,
    requestHash: modifyRequestHash(op, request),
    now: new Date(Date.now() - 120_000),
    ttlSeconds: 86_400,
  });
}

describe('replace with an Idempotency-Key', () => {
  it('replays the first answer, refuses another body, and changes the order once', async () => {
    const u = await createFundedUser(api, '1000.00');
    const { id } = await restingOrder(u);
    const first = await replace(u, id, 'r-1', { client_version: 0, price: '186.00' });
    expect(first).toMatchObject({ status: 200, replayed: null, json: { price: 186, lock_version: 1 } });
    const again = await replace(u, id, 'r-1', { client_version: 0, price: '186.00' });
    expect(again).toMatchObject({ status: 200, replayed: 'true' });
    expect(again.json).toEqual(first.json);
    const other = await replace(u, id, 'r-1', { client_version: 0, price: '187.00' });
    expect(other).toMatchObject({ status: 422, json: { code: 'idempotency_mismatch' } });
    // The order was replaced once: version 1, and 2 x 186.00 reserved.
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n - 37_200n, reserved: 37_200n });
    // Without a key, the retry is what it always was: a version conflict.
    const unkeyed = await replace(u, id, undefined, { client_version: 0, price: '186.00' });
    expect(unkeyed).toMatchObject({ status: 409, json: { code: 'version_conflict' } });
    // A malformed key is a 400 and changes nothing.
    expect(await replace(u, id, 'bad key', { client_version: 1, price: '188.00' })).toMatchObject({
      status: 400,
    });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n - 37_200n, reserved: 37_200n });
    const order = await api.call('GET', `/api/v1/orders/${id}`, { token: u.token });
    expect(await order.json()).toMatchObject({ price: 186, lock_version: 1 });
    // The key is scoped to the order: the same key on another order is a new request.
    const { id: second } = await restingOrder(u);
    expect(await replace(u, second, 'r-1', { client_version: 0, price: '186.00' })).toMatchObject({
      status: 200,
      replayed: null,
    });
    await call(u, 'DELETE', `/api/v1/orders/${id}`, undefined);
    await call(u, 'DELETE', `/api/v1/orders/${second}`, undefined);
  });

  it('answers 409 idempotency_in_progress while the first request with the key runs', async () => {
    const u = await createFundedUser(api, '1000.00');
    const { id } = await restingOrder(u);
    const request: ReplaceRequest = { clientVersion: 0, price: '18600' };
    await claimIdempotencyKey(fx.database.db, {
      accountId: u.accountId,
      key: `order:${id}:busy`,
      scope: 'order_replace',
      requestHash: modifyRequestHash('replace', request),
      now: new Date(),
      ttlSeconds: 86_400,
    });
    const res = await replace(u, id, 'busy', { client_version: 0, price: '186.00' });
    expect(res).toMatchObject({ status: 409, json: { code: 'idempotency_in_progress' } });
    await call(u, 'DELETE', `/api/v1/orders/${id}`, undefined);
  });

  it('a replace whose answer was lost is retried with its key and gets the saga first answer', async () => {
    const u = await createFundedUser(api, '1000.00');
    const { id, cid } = await restingOrder(u);
    const request: ReplaceRequest = { clientVersion: 0, price: '18600' };
    const hash = modifyRequestHash('replace', request);
    // The api claimed the key, the saga replaced the order and answered, the api died before replying.
    await abandonedClaim(u, id, 'lost-1', 'replace', request);
    const answer = await fx.handle(u.accountId, cid).executeUpdate(replaceOrderUpdate, {
      args: [request],
      updateId: idempotentUpdateId('replace', 'lost-1', hash),
    });
    expect(answer).toMatchObject({ lockVersion: 1 });
    // The client retries with its key: the first answer, not 409 version_conflict.
    const retry = await replace(u, id, 'lost-1', { client_version: 0, price: '186.00' });
    expect(retry).toMatchObject({ status: 200, json: { price: 186, lock_version: 1 } });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n - 37_200n, reserved: 37_200n });
    // From now on the key replays from the api's own record.
    expect(await replace(u, id, 'lost-1', { client_version: 0, price: '186.00' })).toMatchObject({
      status: 200,
      replayed: 'true',
    });
    await call(u, 'DELETE', `/api/v1/orders/${id}`, undefined);
    const handle = fx.handle(u.accountId, cid);
    expect(await handle.result()).toMatchObject({ status: 'cancelled' });
    keepHistory('replace-idempotent', handle);
  });
});

describe('cancel with an Idempotency-Key', () => {
  it('POST cancel and DELETE share one key space', async () => {
    const u = await createFundedUser(api, '1000.00');
    const { id } = await restingOrder(u);
    const first = await call(u, 'POST', `/api/v1/orders/${id}/cancel`, 'c-1');
    expect(first).toMatchObject({ status: 200, replayed: null, json: { status: 'cancelled' } });
    const viaDelete = await call(u, 'DELETE', `/api/v1/orders/${id}`, 'c-1');
    expect(viaDelete).toMatchObject({ status: 200, replayed: 'true' });
    expect(viaDelete.json).toEqual(first.json);
    // Another body with the key (a client_version) is another request.
    const other = await call(u, 'POST', `/api/v1/orders/${id}/cancel`, 'c-1', { client_version: 0 });
    expect(other).toMatchObject({ status: 422, json: { code: 'idempotency_mismatch' } });
    // Without a key a repeat cancel is what it always was.
    expect(await call(u, 'DELETE', `/api/v1/orders/${id}`, undefined)).toMatchObject({
      status: 409,
      json: { code: 'order_closed' },
    });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
  });

  it('a cancel whose answer was lost is retried with its key after the saga ended', async () => {
    const u = await createFundedUser(api, '1000.00');
    const { id, cid } = await restingOrder(u);
    const request: CancelRequest = {};
    await abandonedClaim(u, id, 'lost-c', 'cancel', request);
    await fx.handle(u.accountId, cid).executeUpdate(cancelOrderUpdate, {
      args: [request],
      updateId: idempotentUpdateId('cancel', 'lost-c', modifyRequestHash('cancel', request)),
    });
    await fx.handle(u.accountId, cid).result(); // the saga ended with the order cancelled
    const retry = await call(u, 'DELETE', `/api/v1/orders/${id}`, 'lost-c');
    expect(retry).toMatchObject({
      status: 200,
      json: { status: 'cancelled', order: { status: 'cancelled' } },
    });
    expect(await fx.balance(u.accountId)).toEqual({ available: 100_000n, reserved: 0n });
  });
});
