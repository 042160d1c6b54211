/**
 * Cancelling many orders, each through its own saga's `cancelOrder` update (never behind a saga's back):
 * the one piece of code behind a client's cancel-all (DELETE /api/v1/orders) and the operators' freeze,
 * halt-with-cancel and kill switch (the control workflow's activities).
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowClient } from '@temporalio/client';
import { ActivityFailure } from '@temporalio/common';
import { cancelOrderUpdate, placeOrderUpdate } from './contracts.js';
import { FAILURE_MESSAGES, FailureType, readBusinessFailure, type FailureTypeName } from './failures.js';

export interface SagaCancelTarget {
  orderId: string;
  workflowId: string;
}

export interface SagaCancelFailure {
  orderId: string;
  /** The business failure's type; absent when the saga failed the update with something else. */
  type?: FailureTypeName;
  message: string;
}

export interface SagaCancelOutcome {
  /** Orders whose saga answered the cancel, in the order of `targets`. */
  cancelled: string[];
  failed: SagaCancelFailure[];
}

/** How many cancel updates are in flight at once. */
const CONCURRENCY = 8;

/**
 * Cancel every target through its saga. An order whose saga has not answered its placement yet (the
 * book has it, the saga is about to learn so) is cancelled once the saga has: the `placeOrder` update
 * answers when the saga is live. An order that closed meanwhile (filled, say) is a failure, never an error.
 * Without a saga (none, or ended): `OrderTerminal` when the order is closed, `SagaMissing` while its
 * row is open (`isOpen`: the caller reads the row; the saga was lost or terminated, and operators
 * re-adopt it). Errors that are not refusals (Temporal unreachable) propagate.
 */
export async function cancelThroughSagas(
  client: WorkflowClient,
  targets: readonly SagaCancelTarget[],
  isOpen: (orderId: string) => Promise<boolean>,
): Promise<SagaCancelOutcome> {
  const failures: (SagaCancelFailure | undefined)[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < targets.length; i = next++)
      failures[i] = await cancelOne(client, targets[i]!, isOpen);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, targets.length) }, worker));
  const outcome: SagaCancelOutcome = { cancelled: [], failed: [] };
  targets.forEach((t, i) => {
    const failure = failures[i];
    if (failure) outcome.failed.push(failure);
    else outcome.cancelled.push(t.orderId);
  });
  return outcome;
}

async function cancelOne(
  client: WorkflowClient,
  target: SagaCancelTarget,
  isOpen: (orderId: string) => Promise<boolean>,
): Promise<SagaCancelFailure | undefined> {
  const handle = client.getHandle(target.workflowId);
  const attempt = async (): Promise<{ failure: SagaCancelFailure; pending: boolean } | undefined> => {
    try {
      await handle.executeUpdate(cancelOrderUpdate, { args: [{}] });
      return undefined;
    } catch (err) {
      const { orderId } = target;
      if (err instanceof WorkflowNotFoundError) {
        const type = (await isOpen(orderId)) ? FailureType.SagaMissing : FailureType.OrderTerminal;
        return { failure: { orderId, type, message: FAILURE_MESSAGES[type] }, pending: false };
      }
      if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      // Its matching step found no shard owner in time: nothing changed, a retry may succeed.
      if (err.cause instanceof ActivityFailure)
        return {
          failure: { orderId, type: FailureType.ProcessingFailed, message: err.cause.message },
          pending: false,
        };
      const f = readBusinessFailure(err);
      if (!f) return { failure: { orderId, message: err.cause?.message ?? err.message }, pending: false };
      const pending =
        f.type === FailureType.OrderTerminal &&
        (f.details as { status?: string } | undefined)?.status === 'pending';
      return { failure: { orderId, type: f.type, message: f.message }, pending };
    }
  };
  const first = await attempt();
  if (!first?.pending) return first?.failure;
  // The placement's update answers once the saga is live (or rejected: the second attempt says so).
  await handle.executeUpdate(placeOrderUpdate).catch((err: unknown) => {
    if (!(err instanceof WorkflowNotFoundError || err instanceof WorkflowUpdateFailedError)) throw err;
  });
  return (await attempt())?.failure;
}
