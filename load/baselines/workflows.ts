/**
 * Temporal baselines for `npm run bench` (never deployed): workflows with the TradingSaga's shape and
 * empty steps, so the benchmark can say what share of the bare Temporal cost the real saga reaches.
 *
 * - NoopSaga: three local activities in the first workflow task, one activity on another task queue,
 *   the ACK returned by an update (update-with-start), then it stays open like a resting order.
 * - NoopOrderSaga: NoopSaga plus the Temporal work of an order's lifecycle, still with empty steps: the
 *   OrderStatus search attribute upserted after the submit; a taker (filled on arrival) completes in the
 *   ACK's workflow task; a maker rests until a fill signal (sent, like the relay's, after a taker's ACK),
 *   upserts its status again and completes.
 * - NoopActivity: a single no-op activity, then it completes.
 */
import {
  condition,
  defineSignal,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { OrderStatusKey } from '../../temporal/search-attributes.js';
import type { BaselineActivities } from './activities.js';

export const ackUpdate = defineUpdate<{ ok: true }>('placeOrder');
export const closeSignal = defineSignal('close');
export const fillSignal = defineSignal('fill');

const local = proxyLocalActivities<BaselineActivities>({ startToCloseTimeout: '5 seconds' });

/** The ACK: the `placeOrder` update answers once the returned function is called. Set before any await. */
function ackHandler(): () => void {
  let acked = false;
  setHandler(ackUpdate, async () => {
    await condition(() => acked);
    return { ok: true as const };
  });
  return () => void (acked = true);
}

/** The placement steps both sagas share: three local steps in the first workflow task, one remote step. */
async function placementSteps(remoteQueue: string): Promise<void> {
  const remote = proxyActivities<BaselineActivities>({ taskQueue: remoteQueue, startToCloseTimeout: '10 seconds' });
  await local.noop();
  await local.noop();
  await local.noop();
  await remote.noop();
}

export async function NoopSaga(input: { remoteQueue: string }): Promise<void> {
  const ack = ackHandler();
  let closed = false;
  setHandler(closeSignal, () => void (closed = true));
  await placementSteps(input.remoteQueue);
  ack();
  await condition(() => closed);
}

export async function NoopOrderSaga(input: { remoteQueue: string; fillsOnArrival: boolean }): Promise<void> {
  const ack = ackHandler();
  let filled = input.fillsOnArrival;
  setHandler(fillSignal, () => void (filled = true));
  await placementSteps(input.remoteQueue);
  upsertSearchAttributes({ [OrderStatusKey.name]: [filled ? 'filled' : 'working'] });
  ack();
  if (input.fillsOnArrival) return;
  await condition(() => filled);
  upsertSearchAttributes({ [OrderStatusKey.name]: ['filled'] });
}

export async function NoopActivity(): Promise<void> {
  await proxyActivities<BaselineActivities>({ startToCloseTimeout: '10 seconds' }).noop();
}
