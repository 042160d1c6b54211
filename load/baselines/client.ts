/**
 * The client side of the baselines of `npm run bench`: requests that start them on the baseline worker
 * (./worker.ts, whose task queues all begin with `queue`), shaped as load drivers' requests.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import {
  fillSignal,
  placeOrderUpdate,
  TRADING_TASK_QUEUE,
  type OrderRequest,
} from '../../temporal/contracts.js';
import { tradingSagaStart } from '../../temporal/saga-start.js';
import { TAKER } from './activities.js';
import { NoopActivity } from './workflows.js';

export interface Baselines {
  /**
   * The same-shape no-op saga: the TradingSaga, started as the api starts it, on the trading worker with
   * empty steps. Alternately a maker (rests until a fill signal) and a taker (filled on arrival) whose
   * ACK triggers the fill signal to the oldest resting maker, as the relay does after a settlement.
   * `seen` is told the saga's workflow id.
   */
  noopSaga: (seen?: (workflowId: string) => void) => Promise<number>;
  /** A workflow that runs one no-op activity. */
  noopActivity: () => Promise<number>;
  /** Fill every maker still resting, so that they do not compete for the worker cache. */
  closeResting: () => Promise<void>;
}

export function baselines(client: Client, queue: string): Baselines {
  let sagas = 0;
  const resting: string[] = [];
  const fillMaker = (workflowId: string) => {
    const orderId = workflowId.slice('noop-'.length);
    return client.workflow.getHandle(workflowId).signal(fillSignal, {
      fillId: `fill-${orderId}`,
      orderId,
      quantity: '1',
      price: '16500',
      filledQuantity: '1',
      status: 'filled',
      reservedAmount: '0',
    });
  };
  return {
    noopSaga: async (seen) => {
      const maker = sagas++ % 2 === 0;
      const orderId = `${maker ? 'maker-' : TAKER}${randomUUID()}`;
      const workflowId = `noop-${orderId}`;
      seen?.(workflowId);
      const order: OrderRequest = {
        orderId,
        accountId: 'bench-noop',
        clientOrderId: orderId,
        symbol: 'AAPL',
        side: maker ? 'sell' : 'buy',
        orderType: 'limit',
        timeInForce: 'GTC',
        quantity: '1',
        price: '16500',
      };
      const start = tradingSagaStart(workflowId, `${queue}-${TRADING_TASK_QUEUE}`, {
        order,
        matchingTaskQueue: `${queue}-matching`,
      });
      await client.workflow.executeUpdateWithStart(placeOrderUpdate, { startWorkflowOperation: start });
      if (maker) resting.push(workflowId);
      else {
        const filled = resting.shift();
        if (filled) void fillMaker(filled).catch(() => undefined);
      }
      return 200;
    },
    noopActivity: async () => {
      await client.workflow.execute(NoopActivity, {
        workflowId: `noop-act-${randomUUID()}`,
        taskQueue: `${queue}-activity`,
      });
      return 200;
    },
    closeResting: async () => {
      for (const workflowId of resting.splice(0)) await fillMaker(workflowId).catch(() => undefined);
    },
  };
}
