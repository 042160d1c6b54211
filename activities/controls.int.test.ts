/**
 * The control workflow's cancellation pass (`cancelOpenOrders`) as Temporal runs it again after an
 * attempt that stopped part-way (timed out, its worker gone): the real activity in a mock activity
 * context, against real sagas and Postgres. The retry resumes from the stopped attempt's heartbeats:
 * the operator's answer and the audit row count the cancels of both attempts, each once.
 */
import { randomUUID } from 'node:crypto';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { insertAudit } from '../db/queries/controls.js';
import { getOrderById, listOpenOrders } from '../db/queries/orders.js';
import { adminAudit } from '../db/schema.js';
import type { ControlActivities } from '../temporal/activities.js';
import type { SagaCancelOutcome } from '../temporal/saga-cancel.js';
import { auditedTradingFixture, type TradingFixture } from '../test/trading.js';
import { createFundedUser, type FundedTestUser } from '../test/users.js';
import { createControlActivities } from './controls.js';

let fx: TradingFixture;
auditedTradingFixture('controls', (f) => (fx = f));

async function restingBuys(u: FundedTestUser, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fx.api.call('POST', '/api/v1/orders', {
      token: u.token,
      body: {
        order: {
          symbol: 'AAPL',
          direction: 'buy',
          order_type: 'limit',
          time_in_force: 'GTC',
          quantity: 1,
          price: '170.00',
        },
      },
    });
    const body = await res.text();
    expect(res.status, body).toBe(201);
    ids.push((JSON.parse(body) as { order_id: string }).order_id);
  }
  return ids;
}

/** The action's audit row, as `applyControl` would have written it before the cancellation pass. */
async function audited(u: FundedTestUser): Promise<string> {
  const actionId = randomUUID();
  await insertAudit(fx.database.db, {
    actionId,
    at: new Date(),
    operatorId: u.userId,
    operatorEmail: u.email,
    action: 'freeze',
    target: u.accountId,
    reason: 'cancellation pass test',
    params: { kind: 'freeze', accountId: u.accountId },
    workflowId: 'market-controls-test',
    runId: randomUUID(),
  });
  return actionId;
}

type CancelArgs = Parameters<ControlActivities['cancelOpenOrders']>[0];
type Outcome = Awaited<ReturnType<ControlActivities['cancelOpenOrders']>>;

/** One attempt of the real activity, in `env`'s activity context. */
function attempt(env: MockActivityEnvironment, args: CancelArgs): Promise<Outcome> {
  const steps = createControlActivities({ db: fx.database.db });
  return env.run<[CancelArgs], Outcome, (a: CancelArgs) => Promise<Outcome>>(
    (a) => steps.cancelOpenOrders(a),
    args,
  );
}

const outcomeOf = async (actionId: string) =>
  (await fx.database.db.select().from(adminAudit).where(eq(adminAudit.actionId, actionId)))[0]?.outcome;

it('a retry after an attempt stopped part-way answers and records every attempt’s cancels, each once', async () => {
  const u = await createFundedUser(fx.api, '10000.00');
  const orders = await restingBuys(u, 10);
  const actionId = await audited(u);
  const args = { actionId, scope: { accountId: u.accountId } };

  // The first attempt: after its first heartbeat the server has timed it out (its worker stalled).
  const first = new MockActivityEnvironment({ attempt: 1 }, { client: fx.temporal });
  const beats: SagaCancelOutcome[] = [];
  first.on('heartbeat', (details: SagaCancelOutcome) => {
    beats.push(details);
    first.cancel('TIMED_OUT');
  });
  const stopped = await attempt(first, args).then(
    () => undefined,
    (err: unknown) => err,
  );
  const openAfterFirst = await listOpenOrders(fx.database.db, { accountId: u.accountId });

  // The retry, given the last heartbeat of the attempt before it, as the server gives it.
  const retry = new MockActivityEnvironment(
    { attempt: 2, heartbeatDetails: beats.at(-1) },
    { client: fx.temporal },
  );
  const outcome = await attempt(retry, args);

  expect([...outcome.cancelled].sort()).toEqual([...orders].sort());
  expect(outcome.failed).toEqual([]);
  expect(await outcomeOf(actionId)).toEqual({ cancelled: 10, failed: 0 });
  for (const id of orders) expect((await getOrderById(fx.database.db, id))?.status, id).toBe('cancelled');
  expect((await fx.balance(u.accountId)).reserved).toBe(0n);
  // The first attempt stopped after one batch, wrote no outcome, and left the rest to its retry.
  expect(stopped).toBeInstanceOf(CancelledFailure);
  expect(beats).toHaveLength(1);
  expect(beats[0]!.cancelled).toEqual(orders.slice(0, 8));
  expect(openAfterFirst.map((o) => o.id)).toEqual(orders.slice(8));
});

it('an earlier attempt’s failure whose order is still open is tried again and counted once', async () => {
  const u = await createFundedUser(fx.api, '10000.00');
  const [done, failedBefore, notReached] = await restingBuys(u, 3);
  const actionId = await audited(u);
  // An earlier attempt cancelled one order and could not cancel another, which is still open.
  const cancelled = await fx.api.call('DELETE', `/api/v1/orders/${done}`, { token: u.token });
  expect(cancelled.status, await cancelled.text()).toBe(200);
  const earlier: SagaCancelOutcome = {
    cancelled: [done!],
    failed: [{ orderId: failedBefore!, message: 'the saga did not answer' }],
  };
  const retry = new MockActivityEnvironment(
    { attempt: 2, heartbeatDetails: earlier },
    { client: fx.temporal },
  );
  const outcome = await attempt(retry, { actionId, scope: { accountId: u.accountId } });
  expect(outcome).toEqual({ cancelled: [done, failedBefore, notReached], failed: [] });
  expect(await outcomeOf(actionId)).toEqual({ cancelled: 3, failed: 0 });
});
