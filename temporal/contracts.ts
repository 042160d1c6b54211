/**
 * What the api and the workers share about Temporal: task queues, workflow ids, message definitions
 * and JSON-safe payload types. The order vocabulary is in orders.ts, business failures in failures.ts,
 * outbox events in events.ts. Quantities and prices travel as decimal strings
 * of integers (shares and cents), never as floats or bigints.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FailureTypeName } from './failures.js';
import type { OrderStatus, OrderType, Side, TimeInForce } from './orders.js';

// ---- task queues and ids ------------------------------------------------------------------------

export const TRADING_TASK_QUEUE = 'trading';
export const matchingTaskQueue = (shard: number): string => `matching-${shard}`;
/** Tests and parallel stacks isolate themselves with a prefix (config TASK_QUEUE_PREFIX). */
export const withPrefix = (prefix: string, queue: string): string => (prefix ? `${prefix}${queue}` : queue);

/** One saga per (account, client order id): a retried POST attaches to the same workflow. */
export const orderWorkflowId = (accountId: string, clientOrderId: string): string =>
  `order-${accountId}-${clientOrderId}`;

// ---- payloads -------------------------------------------------------------------------------------

export interface OrderRequest {
  orderId: string;
  accountId: string;
  clientOrderId: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  timeInForce: TimeInForce;
  /** Integer shares, as a decimal string. */
  quantity: string;
  /** Integer cents, as a decimal string; absent for market orders. */
  price?: string;
}

export interface TradingSagaInput {
  order: OrderRequest;
  /** Where the matching shard of this order's symbol listens. */
  matchingTaskQueue: string;
  /** ISO time at which a DAY order expires (the session close), computed by the api. */
  expiresAt?: string;
  /** Carried across continue-as-new. */
  state?: SagaState;
}

/** What the saga knows about its order; returned by the `state` query. */
export interface SagaState {
  orderId: string;
  status: OrderStatus;
  /** pending → validated → reserved → persisted → submitted → live → done | compensating | needs_attention */
  phase: SagaPhase;
  lockVersion: number;
  quantity: string;
  price?: string;
  filledQuantity: string;
  reservedAmount: string;
  rejectReason?: string;
  rejectCode?: FailureTypeName;
  fillIds: string[];
  compensations: string[];
}

export type SagaPhase =
  | 'validating'
  | 'reserving'
  | 'persisting'
  | 'submitting'
  | 'live'
  | 'done'
  | 'compensating'
  | 'needs_attention';

export interface OrderAck {
  orderId: string;
  clientOrderId: string;
  status: OrderStatus;
  lockVersion: number;
  filledQuantity: string;
  reservedAmount: string;
  rejectReason?: string;
  rejectCode?: FailureTypeName;
}

/** The ACK a saga answers with, from its state. */
export const ackOf = (state: SagaState, clientOrderId: string): OrderAck => ({
  orderId: state.orderId,
  clientOrderId,
  status: state.status,
  lockVersion: state.lockVersion,
  filledQuantity: state.filledQuantity,
  reservedAmount: state.reservedAmount,
  rejectReason: state.rejectReason,
  rejectCode: state.rejectCode,
});

export interface FillSignal {
  fillId: string;
  orderId: string;
  quantity: string;
  price: string;
  /** The order's state after the fill, as committed by the matching worker. */
  filledQuantity: string;
  status: OrderStatus;
  reservedAmount: string;
}

/** The order closed outside the saga's own updates (IOC remainder, self-trade cancel, expiry by the book). */
export interface OrderClosedSignal {
  orderId: string;
  status: OrderStatus;
  reservedAmount: string;
}

export interface ReplaceRequest {
  /** Set by the saga (deterministic uuid4): the matching worker applies each request once. */
  requestId?: string;
  clientVersion: number;
  quantity?: string;
  price?: string;
  timeInForce?: TimeInForce;
}

export interface CancelRequest {
  requestId?: string;
  clientVersion?: number;
}

// ---- messages -----------------------------------------------------------------------------------

export const placeOrderUpdate = defineUpdate<OrderAck, []>('placeOrder');
export const replaceOrderUpdate = defineUpdate<OrderAck, [ReplaceRequest]>('replaceOrder');
export const cancelOrderUpdate = defineUpdate<OrderAck, [CancelRequest]>('cancelOrder');
export const fillSignal = defineSignal<[FillSignal]>('fill');
export const orderClosedSignal = defineSignal<[OrderClosedSignal]>('orderClosed');
export const stateQuery = defineQuery<SagaState>('state');
