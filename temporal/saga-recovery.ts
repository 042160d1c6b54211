/**
 * Orders whose saga is gone: the Temporal database was lost (the dev server's SQLite file moved aside,
 * docs/runbooks/temporal-outage.md) or an operator terminated the saga, while the order row stays open
 * in Postgres. `sagaRunning` is what the auditor and the api ask; `readoptSaga` starts such an order's
 * TradingSaga again, live, under its own workflow id (`npm run sagas:readopt`,
 * docs/runbooks/stuck-saga.md).
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowClient } from '@temporalio/client';
import type { TradingSagaInput } from './contracts.js';
import { sagaSearchAttributes } from './saga-start.js';
import { TRADING_SAGA, type TradingSagaWorkflow } from './trading-saga.js';

/**
 * Whether the workflow runs: false when Temporal has no such workflow or its last run ended (completed,
 * terminated, failed, timed out). Errors that are not an answer (Temporal unreachable) propagate.
 */
export async function sagaRunning(client: WorkflowClient, workflowId: string): Promise<boolean> {
  try {
    return (await client.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * What re-adopting one order did: `started` its saga again; `running` a saga already runs under the id
 * (nothing done); `completed` the id's last run completed, which a saga does only once its order is
 * closed (nothing done: the row and the saga disagree, an operator looks).
 */
export type ReadoptOutcome = 'started' | 'running' | 'completed';

/**
 * Start the order's saga again with `input` (its `state` resumes it live), under its workflow id: never
 * beside a running saga (conflict policy FAIL), and over an earlier run only if that one did not complete
 * (terminated, failed, timed out: ALLOW_DUPLICATE_FAILED_ONLY), so running it twice starts one saga.
 */
export async function readoptSaga(
  client: WorkflowClient,
  args: { workflowId: string; taskQueue: string; input: TradingSagaInput },
): Promise<ReadoptOutcome> {
  const { workflowId, taskQueue, input } = args;
  try {
    await client.start<TradingSagaWorkflow>(TRADING_SAGA, {
      workflowId,
      taskQueue,
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      args: [input],
      typedSearchAttributes: sagaSearchAttributes(input, input.state?.status ?? 'pending'),
    });
    return 'started';
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return (await sagaRunning(client, workflowId)) ? 'running' : 'completed';
  }
}
