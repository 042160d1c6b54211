/**
 * How a TradingSaga is started: the update-with-start operation the api sends for every placement
 * (and the benchmark's same-shape baseline, so both start the saga the same way).
 */
import { WithStartWorkflowOperation } from '@temporalio/client';
import type { TradingSagaInput } from './contracts.js';
import { AccountIdKey, OrderIdKey, OrderStatusKey, SymbolKey } from './search-attributes.js';
import { TRADING_SAGA, type TradingSagaWorkflow } from './trading-saga.js';

/** The search attributes a saga starts with (temporal/search-attributes.ts): its order's, and `status`. */
export function sagaSearchAttributes(input: TradingSagaInput, status: string) {
  const { order } = input;
  return [
    { key: OrderIdKey, value: order.orderId },
    { key: AccountIdKey, value: order.accountId },
    { key: SymbolKey, value: order.symbol },
    { key: OrderStatusKey, value: status },
  ];
}

export function tradingSagaStart(workflowId: string, taskQueue: string, input: TradingSagaInput) {
  return new WithStartWorkflowOperation<TradingSagaWorkflow>(TRADING_SAGA, {
    workflowId,
    taskQueue,
    // A retried request attaches to the running saga; a finished one is answered from its result.
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    args: [input],
    typedSearchAttributes: sagaSearchAttributes(input, 'pending'),
  });
}
